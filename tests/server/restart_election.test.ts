/**
 * A restarted single member elects itself at once instead of waiting out an election
 * timeout (etcd fast-forwards a single member's election ticks; we skip the randomized
 * remainder too, which is safe: a sole voter can neither win nor lose against anyone).
 * The election timeout here is 40 s, so a member that waited it out would miss the
 * harness's 20 s health deadline by far.
 */
import { afterAll, expect, test } from "bun:test";
import { cleanup, startServer, waitFor } from "../harness.ts";

afterAll(cleanup);

const slowElection = ["--election-timeout", "40000", "--heartbeat-interval", "100"];

test("a single member restarting is the leader without waiting an election timeout", async () => {
  const first = await startServer("etcdts", { extraArgs: slowElection });
  expect(await first.stop()).toBe(0);
  const second = await startServer("etcdts", { dataDir: first.dataDir, extraArgs: slowElection });
  const line = () => second.stderr().split("\n").find((l) => l.includes("started as single-node"));
  await waitFor("the fast-forward's log line", () => line() !== undefined);
  const started = JSON.parse(line()!);
  expect(started).toMatchObject({
    level: "info",
    msg: "started as single-node; fast-forwarding election ticks",
    "forward-ticks": 399,
    "forward-duration": "39.9s",
    "election-ticks": 400,
    "election-timeout": "40s",
  });
  expect(await second.stop()).toBe(0);
});
