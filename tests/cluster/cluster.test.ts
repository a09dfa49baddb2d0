/**
 * Real processes on loopback: a 3-member etcdts cluster replicates through Raft, survives
 * `kill -9` of its leader under concurrent writes without losing an acknowledged write,
 * and the killed member rejoins and catches up.
 */
import { afterAll, expect, test } from "bun:test";
import { KV } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { Client } from "../../client/mod.ts";
import { cleanup, startCluster, waitFor } from "../harness.ts";
import { leaderIndex } from "./status.ts";

afterAll(cleanup);

const enc = (s: string) => new TextEncoder().encode(s);

test("3 members: replicate, lose the leader under load, keep every acknowledged write, rejoin", async () => {
  const cluster = await startCluster(3);
  const { endpoints } = cluster;
  await waitFor("a leader", async () => (await leaderIndex(endpoints)) >= 0);

  // Writes through one member are readable (linearizably) through every other.
  const c0 = new Client({ endpoints: [endpoints[1]], callTimeoutMs: 5000 });
  await c0.service(KV).put({ key: enc("hello"), value: enc("world") });
  for (const e of endpoints) {
    const c = new Client({ endpoints: [e], callTimeoutMs: 5000 });
    const r = await c.service(KV).range({ key: enc("hello") });
    expect(new TextDecoder().decode(r.kvs[0].value)).toBe("world");
    c.close();
  }
  c0.close();

  const leader = await leaderIndex(endpoints);
  const survivors = endpoints.filter((_, i) => i !== leader);
  const acked = new Map<string, bigint>();
  let stop = false;
  const writers = Array.from({ length: 8 }, async (_, w) => {
    const c = new Client({ endpoints: survivors, callTimeoutMs: 3000 });
    const kv = c.service(KV);
    for (let i = 0; !stop; i++) {
      const key = `load/${w}/${i}`;
      try {
        const r = await kv.put({ key: enc(key), value: enc(String(i)) });
        acked.set(key, r.header!.revision);
      } catch {
        await Bun.sleep(50); // no leader for a moment: try the next key
      }
    }
    c.close();
  });
  await waitFor("some writes", () => acked.size >= 200, { timeoutMs: 30_000 });
  await cluster.members[leader].kill9();
  const before = acked.size;
  await waitFor("writes to continue under a new leader", () => acked.size >= before + 200, {
    timeoutMs: 30_000,
  });
  stop = true;
  await Promise.all(writers);

  // Nothing acknowledged is lost, on any survivor.
  for (const e of survivors) {
    const c = new Client({ endpoints: [e], callTimeoutMs: 10_000 });
    const r = await c.service(KV).range({ key: enc("load/"), rangeEnd: enc("load0") });
    const got = new Map(r.kvs.map((x) => [new TextDecoder().decode(x.key), x.modRevision]));
    const lost = [...acked].filter(([k, rev]) => got.get(k) !== rev);
    expect(lost).toEqual([]);
    c.close();
  }

  // The killed member rejoins and catches up.
  const back = await cluster.restart(leader);
  const total = acked.size;
  await waitFor("the restarted member to catch up", async () => {
    const c = new Client({ endpoints: [back.endpoint], callTimeoutMs: 2000 });
    try {
      const r = await c.service(KV).range({ key: enc("load/"), rangeEnd: enc("load0"), countOnly: true });
      return r.count >= BigInt(total);
    } finally {
      c.close();
    }
  }, { timeoutMs: 30_000 });
}, 120_000);
