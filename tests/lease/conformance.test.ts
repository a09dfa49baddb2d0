/**
 * Lease, Lock and Election conformance: the same assertions against etcdts and the real
 * etcd 3.4. Timing assertions wait on conditions (bounded), never on fixed sleeps.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  KV,
  Lease,
  Watch,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { Lock } from "../../proto/gen/v3lockpb/v3lock_pb.ts";
import { Election } from "../../proto/gen/v3electionpb/v3election_pb.ts";
import { Client, type ServiceClient } from "../../client/mod.ts";
import {
  cleanup,
  CONFORMANCE_TARGETS,
  errorOf,
  type ServerProcess,
  startServer,
  waitFor,
} from "../harness.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

const targets = CONFORMANCE_TARGETS;

for (const kind of targets) {
  describe(`lease conformance against ${kind}`, () => {
    let server: ServerProcess;
    let client: Client;
    let kv: ServiceClient<typeof KV>;
    let lease: ServiceClient<typeof Lease>;
    let lock: ServiceClient<typeof Lock>;
    let election: ServiceClient<typeof Election>;

    beforeAll(async () => {
      server = await startServer(kind);
      client = new Client({ endpoints: [server.endpoint], callTimeoutMs: 20_000 });
      kv = client.service(KV);
      lease = client.service(Lease);
      lock = client.service(Lock);
      election = client.service(Election);
    });
    afterAll(async () => {
      client?.close();
      await cleanup();
    });

    test("grant: server-chosen ID, minimum TTL, client-chosen ID, duplicates and limits", async () => {
      const g = await lease.leaseGrant({ TTL: 1n });
      expect(g.ID > 0n).toBe(true);
      expect(g.TTL).toBe(2n); // 1.5 election timeouts, rounded up
      const mine = await lease.leaseGrant({ ID: 0x1234n, TTL: 30n });
      expect(mine.ID).toBe(0x1234n);
      expect(mine.TTL).toBe(30n);
      expect(await errorOf(lease.leaseGrant({ ID: 0x1234n, TTL: 30n }))).toEqual({
        code: 9,
        message: "etcdserver: lease already exists",
      });
      expect(await errorOf(lease.leaseGrant({ TTL: 9_000_000_001n }))).toEqual({
        code: 11,
        message: "etcdserver: too large lease TTL",
      });
      await lease.leaseRevoke({ ID: 0x1234n });
      expect(await errorOf(lease.leaseRevoke({ ID: 0x1234n }))).toEqual({
        code: 5,
        message: "etcdserver: requested lease not found",
      });
    });

    test("put --lease attaches, a put without detaches, an unknown lease is refused", async () => {
      const g = await lease.leaseGrant({ TTL: 60n });
      await kv.put({ key: enc("att/a"), value: enc("1"), lease: g.ID });
      await kv.put({ key: enc("att/b"), value: enc("1"), lease: g.ID });
      let t = await lease.leaseTimeToLive({ ID: g.ID, keys: true });
      expect(t.grantedTTL).toBe(60n);
      expect(t.TTL > 50n && t.TTL <= 60n).toBe(true);
      expect(t.keys.map(dec).sort()).toEqual(["att/a", "att/b"]);
      await kv.put({ key: enc("att/b"), value: enc("2") });
      t = await lease.leaseTimeToLive({ ID: g.ID, keys: true });
      expect(t.keys.map(dec)).toEqual(["att/a"]);
      expect(await errorOf(kv.put({ key: enc("att/c"), value: enc("1"), lease: 0x7777n }))).toEqual({
        code: 5,
        message: "etcdserver: requested lease not found",
      });
      await lease.leaseRevoke({ ID: g.ID });
      expect((await kv.range({ key: enc("att/"), rangeEnd: enc("att0") })).kvs.map((k) => dec(k.key)))
        .toEqual([
          "att/b",
        ]);
      const gone = await lease.leaseTimeToLive({ ID: g.ID });
      expect({ TTL: gone.TTL, grantedTTL: gone.grantedTTL, ID: gone.ID }).toEqual({
        TTL: -1n,
        grantedTTL: 0n,
        ID: g.ID,
      });
    });

    test("revoke deletes every attached key in one revision, seen by a watcher", async () => {
      const g = await lease.leaseGrant({ TTL: 60n });
      for (const k of ["rv/3", "rv/1", "rv/2"]) await kv.put({ key: enc(k), value: enc("x"), lease: g.ID });
      const w = client.service(Watch).watch();
      await w.send({
        requestUnion: { case: "createRequest", value: { key: enc("rv/"), rangeEnd: enc("rv0") } },
      });
      expect((await w.read())!.created).toBe(true);
      const r = await lease.leaseRevoke({ ID: g.ID });
      const ev = (await w.read())!;
      w.cancel();
      expect(ev.events.map((e) => [e.type, dec(e.kv!.key), e.kv!.modRevision])).toEqual([
        [1, "rv/1", r.header!.revision],
        [1, "rv/2", r.header!.revision],
        [1, "rv/3", r.header!.revision],
      ]);
    });

    test("an unrenewed lease expires and its keys are deleted for watchers", async () => {
      const g = await lease.leaseGrant({ TTL: 2n });
      await kv.put({ key: enc("exp/k"), value: enc("v"), lease: g.ID });
      const w = client.service(Watch).watch();
      await w.send({ requestUnion: { case: "createRequest", value: { key: enc("exp/k") } } });
      expect((await w.read())!.created).toBe(true);
      const started = Date.now();
      const ev = (await w.read())!;
      w.cancel();
      expect(ev.events[0].type).toBe(1);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect((await lease.leaseTimeToLive({ ID: g.ID })).TTL).toBe(-1n);
    }, 20_000);

    test("keep-alive renews many leases on one stream; an unknown lease answers TTL 0", async () => {
      const ids: bigint[] = [];
      for (let i = 0; i < 20; i++) ids.push((await lease.leaseGrant({ TTL: 5n + BigInt(i) })).ID);
      const s = lease.leaseKeepAlive();
      for (const ID of ids) await s.send({ ID });
      await s.send({ ID: 0x4242n });
      const got = new Map<bigint, bigint>();
      for (let i = 0; i <= ids.length; i++) {
        const r = (await s.read())!;
        expect(r.header!.revision > 0n).toBe(true);
        got.set(r.ID, r.TTL);
      }
      s.cancel();
      ids.forEach((ID, i) => expect(got.get(ID)).toBe(5n + BigInt(i)));
      expect(got.get(0x4242n)).toBe(0n);
      const listed = new Set((await lease.leaseLeases({})).leases.map((l) => l.ID));
      for (const ID of ids) expect(listed.has(ID)).toBe(true);
      for (const ID of ids) await lease.leaseRevoke({ ID });
    });

    test("lock: exclusive, waiters in order, the key and revision fence writes", async () => {
      const l1 = (await lease.leaseGrant({ TTL: 60n })).ID;
      const l2 = (await lease.leaseGrant({ TTL: 60n })).ID;
      const a = await lock.lock({ name: enc("mtx"), lease: l1 });
      expect(dec(a.key)).toBe(`mtx/${l1.toString(16)}`);
      let bDone = false;
      const b = lock.lock({ name: enc("mtx"), lease: l2 }).then((r) => {
        bDone = true;
        return r;
      });
      await Bun.sleep(300);
      expect(bDone).toBe(false);
      // The holder's fencing token: its key's create revision is its lock revision.
      const owned = await kv.range({ key: a.key });
      const fenced = (rev: bigint) =>
        kv.txn({
          compare: [{
            key: a.key,
            target: Compare_CompareTarget.CREATE,
            result: Compare_CompareResult.EQUAL,
            targetUnion: { case: "createRevision", value: rev },
          }],
          success: [{ request: { case: "requestPut", value: { key: enc("fenced"), value: enc("a") } } }],
        });
      expect((await fenced(owned.kvs[0].createRevision)).succeeded).toBe(true);
      await lock.unlock({ key: a.key });
      const got = await b;
      expect(dec(got.key)).toBe(`mtx/${l2.toString(16)}`);
      expect((await fenced(owned.kvs[0].createRevision)).succeeded).toBe(false);
      await lock.unlock({ key: got.key });
      await lease.leaseRevoke({ ID: l1 });
      await lease.leaseRevoke({ ID: l2 });
    });

    test("lock: a holder whose lease expires releases the lock", async () => {
      const short = (await lease.leaseGrant({ TTL: 2n })).ID;
      const long = (await lease.leaseGrant({ TTL: 60n })).ID;
      await lock.lock({ name: enc("crash"), lease: short });
      const started = Date.now();
      const next = await lock.lock({ name: enc("crash"), lease: long });
      expect(dec(next.key)).toBe(`crash/${long.toString(16)}`);
      expect(Date.now() - started).toBeLessThan(10_000);
      await lease.leaseRevoke({ ID: long });
    }, 20_000);

    test("election: campaign, leader, proclaim, observe, hand-over on lease expiry, resign", async () => {
      const name = enc("elec");
      expect(await errorOf(election.leader({ name }))).toEqual({ code: 2, message: "election: no leader" });
      const short = (await lease.leaseGrant({ TTL: 2n })).ID;
      const long = (await lease.leaseGrant({ TTL: 60n })).ID;
      const first = await election.campaign({ name, lease: short, value: enc("one") });
      expect(dec(first.leader!.key)).toBe(`elec/${short.toString(16)}`);
      expect(dec((await election.leader({ name })).kv!.value)).toBe("one");
      const observed: string[] = [];
      const obs = election.observe({ name });
      const reading = (async () => {
        for await (const r of obs) observed.push(dec(r.kv!.value));
      })().catch(() => {});
      await waitFor("observer sees the leader", () => observed.includes("one"));
      await election.proclaim({ leader: first.leader, value: enc("uno") });
      const second = await election.campaign({ name, lease: long, value: enc("two") });
      expect(second.leader!.lease).toBe(long);
      await waitFor("observer sees the new leader", () => observed.includes("two"));
      expect(observed).toEqual(["one", "uno", "two"]);
      expect(await errorOf(election.proclaim({ leader: first.leader, value: enc("x") }))).toEqual({
        code: 2,
        message: "election: not leader",
      });
      await election.resign({ leader: second.leader });
      expect(await errorOf(election.leader({ name }))).toEqual({ code: 2, message: "election: no leader" });
      obs.cancel();
      await reading;
      await lease.leaseRevoke({ ID: long });
    }, 20_000);
  });
}
