/**
 * Partitions on real processes: a 5-member cluster behind fault-injecting peer proxies.
 * Clients on every member run puts and linearizable gets on a few keys while the leader
 * and one follower are cut off from the other three; the minority refuses writes and
 * linearizable reads, the majority elects a leader and goes on, and after the heal every
 * member converges. The recorded history must be linearizable.
 */
import { afterAll, expect, test } from "bun:test";
import { KV, Maintenance } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { Client } from "../../client/mod.ts";
import { checkLinearizable, type Operation } from "../raft/linearizability.ts";
import { cleanup, startCluster, waitFor } from "../harness.ts";
import { leaderIndex } from "./status.ts";

afterAll(cleanup);

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const KEYS = ["a", "b", "c", "d"];

/** A client bound to one member, recording every operation it makes. */
function startClient(
  id: number,
  endpoint: string,
  history: Operation[],
  running: () => boolean,
): Promise<void> {
  const c = new Client({ endpoints: [endpoint], callTimeoutMs: 2000 });
  const kv = c.service(KV);
  let seq = 0;
  return (async () => {
    while (running()) {
      const key = KEYS[Math.floor(Math.random() * KEYS.length)];
      const call = performance.now();
      if (Math.random() < 0.5) {
        const value = `${id}-${seq++}`;
        const op: Operation = { clientId: id, kind: "put", key, value, call, return: Infinity };
        history.push(op);
        try {
          await kv.put({ key: enc(key), value: enc(value) });
          op.return = performance.now();
        } catch {
          await Bun.sleep(50); // outcome unknown: the op stays open forever
        }
      } else {
        try {
          const r = await kv.range({ key: enc(key) });
          const ret = performance.now();
          history.push({
            clientId: id,
            kind: "get",
            key,
            output: r.kvs.length === 0 ? null : dec(r.kvs[0].value),
            call,
            return: ret,
          });
        } catch {
          await Bun.sleep(50);
        }
      }
    }
    c.close();
  })();
}

test(
  "5 members: a partitioned minority refuses, the majority goes on, the history is linearizable",
  async () => {
    const cluster = await startCluster(5, { proxy: true });
    const { endpoints } = cluster;
    await waitFor("a leader", async () => (await leaderIndex(endpoints)) >= 0);
    await cluster.memberIds();

    const history: Operation[] = [];
    /** How many of client `id`'s calls made since `since` were answered. */
    const answered = (id: number, since: number) =>
      history.filter((o) => o.clientId === id && o.call >= since && o.return !== Infinity).length;
    const everyClientAnswered = (since: number, n: number) =>
      endpoints.every((_, i) => answered(i, since) >= n);
    let running = true;
    const clients = endpoints.map((ep, i) => startClient(i, ep, history, () => running));
    // Every client answered a few times before the cut, so the history spans it.
    await waitFor("every client's first answers", () => everyClientAnswered(0, 5));

    const oldLeader = await leaderIndex(endpoints);
    const buddy = (oldLeader + 1) % 5;
    const minority = [oldLeader, buddy];
    const majority = [0, 1, 2, 3, 4].filter((i) => !minority.includes(i));
    cluster.partition([minority, majority]);
    const cutAt = performance.now();

    // The majority elects a leader of its own and keeps accepting writes.
    await waitFor(
      "a leader in the majority",
      async () => (await leaderIndex(majority.map((i) => endpoints[i]))) >= 0,
    );
    const mc = new Client({
      endpoints: majority.map((i) => endpoints[i]),
      callTimeoutMs: 3000,
    });
    await waitFor("a write in the majority", async () => {
      await mc.service(KV).put({ key: enc("majority"), value: enc("yes") });
      return true;
    });
    mc.close();

    // The minority refuses writes and linearizable reads once its leader steps down.
    const minorityClient = new Client({ endpoints: [endpoints[buddy]], callTimeoutMs: 1500 });
    await expect(minorityClient.service(KV).put({ key: enc("minority"), value: enc("no") })).rejects
      .toThrow();
    await expect(minorityClient.service(KV).range({ key: enc("a") })).rejects.toThrow();
    minorityClient.close();
    await waitFor(
      "the majority's clients to go on while cut off",
      () => majority.every((i) => answered(i, cutAt) >= 5),
    );

    cluster.heal();
    const healedAt = performance.now();
    // The minority's clients too, once their members rejoin.
    await waitFor("every client to be answered after the heal", () => everyClientAnswered(healedAt, 5));
    running = false;
    await Promise.all(clients);

    // Every member converges on one history and has the majority's write, not the minority's.
    await waitFor("every member to agree", async () => {
      const hashes = new Set<string>();
      for (const ep of endpoints) {
        const c = new Client({ endpoints: [ep], callTimeoutMs: 2000 });
        try {
          const r = await c.service(KV).range({ key: enc("majority") });
          if (r.kvs.length !== 1) return false;
          const h = await c.service(Maintenance).hashKV({ revision: r.header!.revision });
          hashes.add(`${r.header!.revision}:${h.hash}`);
        } finally {
          c.close();
        }
      }
      return hashes.size === 1;
    });
    const check = new Client({ endpoints: [...endpoints], callTimeoutMs: 2000 });
    expect((await check.service(KV).range({ key: enc("minority") })).kvs).toHaveLength(0);
    check.close();

    const acked = history.filter((o) => o.kind === "put" && o.return !== Infinity).length;
    console.log(`history: ${history.length} operations, ${acked} acknowledged puts`);
    expect(acked).toBeGreaterThan(20);
    const result = checkLinearizable(history);
    if (result.ok !== true) console.error("not linearizable:", JSON.stringify(result).slice(0, 2000));
    expect(result.ok).toBe(true);
  },
  120_000,
);
