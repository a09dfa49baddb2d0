/**
 * A write made while its member knows no leader waits for one, as etcd's does (its raft
 * node takes no proposal until there is a leader), instead of failing at once with
 * "etcdserver: no leader"; if none comes in time, it fails with the error etcd's does.
 */
import { afterAll, expect, test } from "bun:test";
import { cleanup, etcdts, startCluster, waitFor } from "../harness.ts";

afterAll(cleanup);

async function leaderSeenBy(endpoint: string): Promise<string> {
  const r = await etcdts(endpoint, ["endpoint", "status", "-w", "json"]);
  return r.code === 0 ? String(JSON.parse(r.stdout)[0].Status.leader ?? 0) : "?";
}

/** etcd_server_proposals_pending on `endpoint`'s /metrics: callers waiting for their proposal. */
async function pendingProposals(endpoint: string): Promise<number> {
  const text = await (await fetch(`http://${endpoint}/metrics`)).text();
  return Number(/^etcd_server_proposals_pending (\d+)$/m.exec(text)?.[1] ?? NaN);
}

test("a put during an election is answered once a leader is elected", async () => {
  const cluster = await startCluster(3);
  const all = cluster.endpoints.join(",");
  await waitFor("a leader", async () => (await etcdts(all, ["put", "k", "v0"])).code === 0);
  // m0 alone: no quorum, so no leader once its election timeout passes.
  await cluster.members[1].stop();
  await cluster.members[2].stop();
  const m0 = cluster.endpoints[0];
  await waitFor("m0 to know no leader", async () => (await leaderSeenBy(m0)) === "0");

  const timedOut = await etcdts(m0, ["put", "k", "lost", "--command-timeout=20s"]);
  // etcd 3.4: raft's Propose waits for a leader until the request's deadline and returns
  // the context's error as it is.
  expect(timedOut.stderr).toBe("Error: rpc error: code = Unknown desc = context deadline exceeded\n");

  const put = etcdts(m0, ["put", "k", "v1", "--command-timeout=20s"]);
  await waitFor("m0 to hold the put", async () => (await pendingProposals(m0)) === 1);
  await cluster.restart(1);
  const r = await put;
  expect(r.stderr).toBe("");
  expect(r.stdout).toBe("OK\n");
  expect((await etcdts(m0, ["get", "k", "--print-value-only"])).stdout).toBe("v1\n");
}, 90_000);
