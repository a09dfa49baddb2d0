/**
 * The CORRUPT alarm on real processes: a 3-member cluster where one member's store is
 * changed behind its back while it is stopped. With --experimental-initial-corrupt-check
 * it refuses to start again; with --experimental-corrupt-check-time the leader finds the
 * mismatch, raises CORRUPT naming that member, and the cluster refuses KV requests.
 */
import * as path from "node:path";
import { afterAll, expect, test } from "bun:test";
import { rewriteValue } from "../store/history_rows.ts";
import { cleanup, type ClusterProcess, etcdctl, etcdts, startCluster, waitFor } from "../harness.ts";

afterAll(cleanup);

async function ok(endpoints: string, args: string[]): Promise<string> {
  const r = await etcdts(endpoints, args);
  if (r.code !== 0) throw new Error(`etcdts ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** Writes some keys and waits until every member has applied them. */
async function writeKeys(cluster: ClusterProcess): Promise<void> {
  const all = cluster.endpoints.join(",");
  await waitFor("a leader", async () => (await etcdts(all, ["put", "k0", "v0"])).code === 0);
  for (let i = 1; i < 20; i++) await ok(all, ["put", `k${i}`, `v${i}`]);
  for (const ep of cluster.endpoints) {
    await waitFor(
      `${ep} to apply k19`,
      async () => (await ok(ep, ["get", "k19", "--consistency=s"])) === "k19\nv19\n",
    );
  }
}

/**
 * Changes k5's value in the stopped member's store (its one revision in the history), with
 * a checksum to match: a member whose data differs from the others' without being damaged
 * on disk (a bug, a bad copy), which only comparing hashes between members finds.
 * (tests/corrupt/integrity.test.ts damages a value without fixing its checksum.)
 */
function tamper(dataDir: string): void {
  const rotten = new TextEncoder().encode("rotten");
  rewriteValue(
    path.join(dataDir, "member", "snap", "db"),
    new TextEncoder().encode("k5"),
    null,
    () => rotten,
    true,
  );
}

test("--experimental-initial-corrupt-check: a clean member restarts, a tampered one refuses to", async () => {
  const cluster = await startCluster(3, { extraArgs: ["--experimental-initial-corrupt-check"] });
  await writeKeys(cluster);
  const ids = await cluster.memberIds();

  // An intact member passes the check and serves again.
  await cluster.members[1].stop();
  const m1 = await cluster.restart(1);
  await waitFor("m1 to serve", async () => (await ok(m1.endpoint, ["get", "k5"])) === "k5\nv5\n");
  expect(m1.stderr()).toContain("initial corruption checking passed; no corruption");

  await cluster.members[2].stop();
  tamper(cluster.members[2].dataDir);
  let refused = "";
  try {
    await cluster.restart(2);
  } catch (e) {
    refused = (e as Error).message;
  }
  expect(refused).toContain("found different hash values from remote peer");
  expect(refused).toContain(`etcdts: ${ids[2]} found data inconsistency with peers`);
  // The others never heard of it: no alarm, writes go on. m2 may have been their leader: a
  // write forwarded to it before they notice is lost and waits out its deadline, in etcd
  // too, so wait for the two to serve writes again (harness.ts now reports the refusal at
  // once instead of after its 20 s health wait, which used to give them all the time).
  const rest = cluster.endpoints.slice(0, 2).join(",");
  await waitFor(
    "the two others to take writes",
    async () => (await etcdts(rest, ["put", "after", "x", "--command-timeout=1s"])).code === 0,
  );
  expect(await ok(rest, ["alarm", "list"])).toBe("");
}, 120_000);

test("--experimental-corrupt-check-time: the leader raises CORRUPT for the tampered member", async () => {
  const cluster = await startCluster(3, { extraArgs: ["--experimental-corrupt-check-time", "1s"] });
  await writeKeys(cluster);
  const ids = await cluster.memberIds();
  await cluster.members[2].stop();
  tamper(cluster.members[2].dataDir);
  const m2 = await cluster.restart(2);
  expect(await ok(m2.endpoint, ["get", "k5", "--consistency=s"])).toBe("k5\nrotten\n");

  const all = cluster.endpoints.join(",");
  const alarm = `memberID:${BigInt(`0x${ids[2]}`)} alarm:CORRUPT \n`;
  await waitFor("the CORRUPT alarm", async () => (await ok(all, ["alarm", "list"])) === alarm, {
    timeoutMs: 30_000,
  });
  // Every member refuses KV requests that go through the log, with etcd's error, and
  // the real etcdctl sees the alarm the same way.
  for (const ep of cluster.endpoints) {
    const r = await etcdts(ep, ["put", "k", "v"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("Error: etcdserver: corrupt cluster\n");
  }
  expect((await etcdctl(all, ["alarm", "list"])).stdout).toBe(alarm);
  const health = await (await fetch(`${cluster.members[0].clientUrl}/health`)).json() as { health: string };
  expect(health.health).toBe("false");
  // The leader logged why.
  const leaderLog = cluster.members.map((m) => m.stderr()).join("");
  expect(leaderLog).toContain("raising the CORRUPT alarm");
}, 120_000);
