/**
 * Auth at the doors etcd 3.4.23 leaves open, on real processes with auth on, each run
 * against etcdts and the real etcd: where etcd 3.4.23 has a hole, the test records what
 * it does and asserts that etcdts closes it.
 *
 * - LeaseTimeToLive with keys=true needs read permission on every key of the lease (etcd
 *   3.4.26's fix of CVE-2023-32082; 3.4.23 lists the names of keys the caller may not read);
 * - raising or clearing an alarm is root's (3.4.23 lets any user raise NOSPACE and so
 *   block every write); listing alarms stays open;
 * - nested txns are checked at every level.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  AlarmRequest_AlarmAction as Action,
  AlarmType,
  KV,
  Lease,
  Maintenance,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { Client } from "../../client/mod.ts";
import {
  cleanup,
  CONFORMANCE_TARGETS,
  errorOf,
  etcdctl,
  type ServerProcess,
  startServer,
} from "../harness.ts";
import { callTxn, nestedTxn, putOp } from "../nested_txn.ts";

afterAll(cleanup);

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const DENIED = "etcdserver: permission denied";
const NO_USER = "etcdserver: user name is empty";

/** alice may read and write /pub/ only; root anything. */
const SETUP = [
  ["user", "add", "root:rootpw"],
  ["user", "add", "alice:apw"],
  ["role", "add", "pub"],
  ["role", "grant-permission", "pub", "readwrite", "--prefix", "/pub/"],
  ["user", "grant-role", "alice", "pub"],
  ["auth", "enable"],
];

for (const kind of CONFORMANCE_TARGETS) {
  describe(`${kind}: auth at every door`, () => {
    let server: ServerProcess;
    let root: Client;
    let alice: Client;
    let anonymous: Client;
    let memberID: bigint;
    let mixed: bigint; // a lease on /pub/a and /secret/b
    let open: bigint; // a lease on /pub/c only

    beforeAll(async () => {
      server = await startServer(kind);
      for (const args of SETUP) {
        const r = await etcdctl(server.endpoint, args);
        if (r.code !== 0) throw new Error(`etcdctl ${args.join(" ")}: ${r.stderr}`);
      }
      const client = (user?: { name: string; password: string }) =>
        new Client({ endpoints: [server.endpoint], callTimeoutMs: 10_000, user });
      root = client({ name: "root", password: "rootpw" });
      alice = client({ name: "alice", password: "apw" });
      anonymous = client();
      const lease = root.service(Lease);
      const kv = root.service(KV);
      mixed = (await lease.leaseGrant({ TTL: 600n })).ID;
      open = (await lease.leaseGrant({ TTL: 600n })).ID;
      await kv.put({ key: enc("/pub/a"), value: enc("1"), lease: mixed });
      await kv.put({ key: enc("/secret/b"), value: enc("2"), lease: mixed });
      await kv.put({ key: enc("/pub/c"), value: enc("3"), lease: open });
      memberID = (await root.service(Maintenance).status({})).header!.memberId;
    });
    afterAll(() => {
      for (const c of [root, alice, anonymous]) c?.close();
    });

    test("LeaseTimeToLive: the TTL is open, the key names need read permission on every key", async () => {
      const ttl = (c: Client, ID: bigint, keys: boolean) => c.service(Lease).leaseTimeToLive({ ID, keys });
      for (const c of [alice, anonymous]) {
        const t = await ttl(c, mixed, false);
        expect(t.grantedTTL).toBe(600n);
        expect(t.keys).toEqual([]);
      }
      expect((await ttl(alice, open, true)).keys.map(dec)).toEqual(["/pub/c"]);
      expect((await ttl(root, mixed, true)).keys.map(dec).sort()).toEqual(["/pub/a", "/secret/b"]);
      if (kind === "etcd") {
        // CVE-2023-32082: etcd 3.4.23 names a key alice may not read, and tells anyone.
        expect((await ttl(alice, mixed, true)).keys.map(dec)).toContain("/secret/b");
        expect((await ttl(anonymous, mixed, true)).keys.map(dec)).toContain("/secret/b");
        return;
      }
      expect((await errorOf(ttl(alice, mixed, true))).message).toBe(DENIED);
      expect((await errorOf(ttl(anonymous, mixed, true))).message).toBe(NO_USER);
      expect((await errorOf(ttl(anonymous, open, true))).message).toBe(NO_USER);
    });

    test("Alarm: anyone lists alarms, only root raises or clears one", async () => {
      const alarm = (c: Client, action: Action) =>
        c.service(Maintenance).alarm({ action, memberID, alarm: AlarmType.NOSPACE });
      const put = (c: Client) => c.service(KV).put({ key: enc("/pub/w"), value: enc("x") });
      expect((await alarm(alice, Action.GET)).alarms).toEqual([]);
      if (kind === "etcd") {
        // etcd 3.4.23: alice raises NOSPACE and every write stops until someone clears it.
        await alarm(alice, Action.ACTIVATE);
        expect((await errorOf(put(root))).message).toBe("etcdserver: mvcc: database space exceeded");
        await alarm(alice, Action.DEACTIVATE);
        return;
      }
      expect((await errorOf(alarm(alice, Action.ACTIVATE))).message).toBe(DENIED);
      expect((await errorOf(alarm(anonymous, Action.ACTIVATE))).message).toBe(NO_USER);
      await put(alice); // nothing was raised
      await alarm(root, Action.ACTIVATE);
      expect((await alarm(alice, Action.GET)).alarms.map((a) => a.alarm)).toEqual([AlarmType.NOSPACE]);
      expect((await errorOf(put(alice))).message).toBe("etcdserver: mvcc: database space exceeded");
      expect((await errorOf(alarm(alice, Action.DEACTIVATE))).message).toBe(DENIED);
      await alarm(root, Action.DEACTIVATE);
      await put(alice);
    });

    test.if(kind === "etcdts")("a txn nested 100 deep is checked at its innermost level", async () => {
      const r = await callTxn(alice, nestedTxn(100, putOp("/pub/deep")));
      expect(r.succeeded).toBe(true);
      expect((await errorOf(callTxn(alice, nestedTxn(100, putOp("/secret/deep"))))).message).toBe(DENIED);
      const range = nestedTxn(100, { case: "requestRange", value: { key: enc("/secret/b") } });
      expect((await errorOf(callTxn(alice, range))).message).toBe(DENIED);
      const got = await root.service(KV).range({ key: enc("/"), rangeEnd: enc("0") });
      expect(got.kvs.map((x) => dec(x.key))).toContain("/pub/deep");
      expect(got.kvs.map((x) => dec(x.key))).not.toContain("/secret/deep");
    });
  });
}
