/**
 * Leases across restarts and leader changes (etcdts only): a restart keeps leases with
 * their checkpointed remaining TTL; in a 3-member cluster keep-alives sent to a follower
 * reach the leader, and an expiry deletes the same keys at the same revision everywhere.
 */
import { afterAll, expect, test } from "bun:test";
import { KV, Lease } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { Client } from "../../client/mod.ts";
import { cleanup, startCluster, startServer, waitFor } from "../harness.ts";

const enc = (s: string) => new TextEncoder().encode(s);
afterAll(() => cleanup());

test("a restart keeps leases, their keys and their checkpointed remaining TTL", async () => {
  const args = ["--experimental-lease-checkpoint-interval", "1s"];
  let server = await startServer("etcdts", { extraArgs: args });
  let client = new Client({ endpoints: [server.endpoint], callTimeoutMs: 10_000 });
  const g = await client.service(Lease).leaseGrant({ TTL: 30n });
  await client.service(KV).put({ key: enc("dur/k"), value: enc("v"), lease: g.ID });
  await Bun.sleep(3500); // a few checkpoints (every 1 s) record the remaining TTL
  client.close();
  const dataDir = server.dataDir;
  await server.stop();
  server = await startServer("etcdts", { dataDir, extraArgs: args });
  client = new Client({ endpoints: [server.endpoint], callTimeoutMs: 10_000 });
  const t = await client.service(Lease).leaseTimeToLive({ ID: g.ID, keys: true });
  expect(t.grantedTTL).toBe(30n);
  // The remaining TTL plus one election timeout, not the full 30 s again.
  expect(t.TTL > 0n && t.TTL < 30n).toBe(true);
  expect(t.keys.length).toBe(1);
  const renewed = client.service(Lease).leaseKeepAlive();
  await renewed.send({ ID: g.ID });
  expect((await renewed.read())!.TTL).toBe(30n);
  renewed.cancel();
  client.close();
  await server.stop();
}, 60_000);

test("a 3-member cluster: grant and keep-alive through followers, expiry applied identically", async () => {
  const cluster = await startCluster(3);
  const clients = cluster.endpoints.map((ep) => new Client({ endpoints: [ep], callTimeoutMs: 10_000 }));
  try {
    await waitFor("a leader", async () => {
      await clients[0].service(KV).put({ key: enc("probe"), value: enc("1") });
      return true;
    });
    const kept = await clients[1].service(Lease).leaseGrant({ TTL: 2n });
    const dying = await clients[2].service(Lease).leaseGrant({ TTL: 2n });
    await clients[1].service(KV).put({ key: enc("c/kept"), value: enc("v"), lease: kept.ID });
    await clients[2].service(KV).put({ key: enc("c/dying"), value: enc("v"), lease: dying.ID });
    // Keep one lease alive through each member in turn (two of them forward to the leader).
    const deadline = Date.now() + 6000;
    let round = 0;
    let dyingGone = false;
    while (Date.now() < deadline || !dyingGone) {
      const s = clients[round++ % 3].service(Lease).leaseKeepAlive();
      await s.send({ ID: kept.ID });
      expect((await s.read())!.TTL).toBe(2n);
      s.cancel();
      dyingGone = (await clients[0].service(KV).range({ key: enc("c/dying") })).count === 0n;
      await Bun.sleep(500);
      if (Date.now() > deadline + 10_000) throw new Error("the unrenewed lease never expired");
    }
    for (const c of clients) {
      const t = await c.service(Lease).leaseTimeToLive({ ID: kept.ID });
      expect(t.grantedTTL).toBe(2n);
      expect((await c.service(Lease).leaseTimeToLive({ ID: dying.ID })).TTL).toBe(-1n);
    }
    // Every member holds the same history: the expiry deleted the key at the same revision.
    const revs = await Promise.all(clients.map(async (c) => {
      const r = await c.service(KV).range({ key: enc("c/kept"), serializable: false });
      return [r.header!.revision, r.count];
    }));
    expect(new Set(revs.map((r) => `${r[0]}/${r[1]}`)).size).toBe(1);
  } finally {
    for (const c of clients) c.close();
    for (const m of cluster.members) await m.stop();
  }
}, 90_000);
