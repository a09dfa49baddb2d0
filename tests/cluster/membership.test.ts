/**
 * Membership changes on real processes: add a member to a loaded cluster and see it catch
 * up, promote a learner, remove a follower and the leader; a removed member stops itself.
 */
import { afterAll, expect, test } from "bun:test";
import { cleanup, etcdts, freePort, isListening, startCluster, startServer, waitFor } from "../harness.ts";

afterAll(cleanup);

async function ok(endpoints: string, args: string[]): Promise<string> {
  const r = await etcdts(endpoints, args);
  if (r.code !== 0) throw new Error(`etcdts ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

async function leaderIndex(endpoints: string[]): Promise<number> {
  const out = await ok(endpoints.join(","), ["endpoint", "status", "-w", "json"]);
  const st = JSON.parse(out) as { Status: { header: { member_id: number }; leader: number } }[];
  return st.findIndex((s) => s.Status.leader === s.Status.header.member_id);
}

test("add a member to a loaded cluster, promote a learner, remove a follower and the leader", async () => {
  const cluster = await startCluster(3);
  const all = () => cluster.endpoints.join(",");
  await waitFor("a leader", async () => (await etcdts(all(), ["put", "k0", "v0"])).code === 0);
  for (let i = 0; i < 60; i++) await ok(cluster.endpoints[i % 3], ["put", `k${i}`, `v${i}`]);

  // A voter joins and catches up with everything written before it existed.
  const added = await cluster.addMember();
  await waitFor("the new member to serve k59", async () => {
    const out = await ok(added.member.endpoint, ["get", "k59", "--consistency=s"]);
    return out === "k59\nv59\n";
  });
  await waitFor(
    "the new member to publish its name",
    async () => (await ok(all(), ["member", "list"])).includes(`${added.id}, started, m3, `),
  );
  const list = await ok(all(), ["member", "list"]);
  expect(list.trim().split("\n")).toHaveLength(4);
  // It published its client URL through the log, so every member lists it.
  expect(list).toContain(added.member.clientUrl);

  // A learner joins, cannot vote, then is promoted once in sync.
  const learner = await cluster.addMember({ learner: true });
  await waitFor("the learner to catch up", async () => {
    const out = await ok(learner.member.endpoint, ["get", "k0", "--consistency=s"]);
    return out === "k0\nv0\n";
  });
  await waitFor(
    "the learner to publish its name",
    async () => (await ok(all(), ["member", "list"])).includes(`${learner.id}, started, m4, `),
  );
  expect(await ok(all(), ["member", "list"])).toMatch(new RegExp(`${learner.id}, .*, true\\n`));
  await waitFor("the learner's promotion", async () => {
    const r = await etcdts(all(), ["member", "promote", learner.id]);
    return r.code === 0;
  });
  expect(await ok(all(), ["member", "list"])).toMatch(new RegExp(`${learner.id}, .*, false\\n`));

  // Remove a follower: it stops itself; the other four keep serving writes.
  const leader = await leaderIndex(cluster.endpoints);
  const follower = [0, 1, 2].find((i) => i !== leader)!;
  const ids = await cluster.memberIds();
  const removedOut = await ok(all(), ["member", "remove", ids[follower]]);
  expect(removedOut).toMatch(/^Member +[0-9a-f]+ removed from cluster +[0-9a-f]+\n$/);
  await waitFor("the removed member to exit", () => cluster.members[follower].proc.exitCode !== null);
  const live = () => cluster.endpoints.filter((_, i) => i !== follower && i !== leader);

  // Remove the leader: a new one is elected among the rest, writes go on.
  await ok(live().join(","), ["member", "remove", ids[leader]]);
  await waitFor("the removed leader to exit", () => cluster.members[leader].proc.exitCode !== null);
  await waitFor("a write after the leader left", async () => {
    const r = await etcdts(live().join(","), ["put", "after", "leader-removed"]);
    return r.code === 0;
  });
  const final = await ok(live().join(","), ["member", "list"]);
  expect(final.trim().split("\n")).toHaveLength(3);
  for (const ep of live()) {
    await waitFor(
      `${ep} to see the last write`,
      async () =>
        (await ok(ep, ["get", "after", "--print-value-only", "--consistency=s"])) === "leader-removed\n",
    );
  }
}, 120_000);

test("move-leader hands leadership to the named member, refuses a stranger", async () => {
  const cluster = await startCluster(3);
  const all = cluster.endpoints.join(",");
  await waitFor("a leader", async () => (await etcdts(all, ["put", "k", "v"])).code === 0);
  const ids = await cluster.memberIds();
  const leader = await leaderIndex(cluster.endpoints);
  const target = (leader + 1) % 3;
  const out = await ok(all, ["move-leader", ids[target]]);
  expect(out).toBe(`Leadership transferred from ${ids[leader]} to ${ids[target]}\n`);
  expect(await leaderIndex(cluster.endpoints)).toBe(target);
  const bad = await etcdts(all, ["move-leader", "1234"]);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toBe("Error: etcdserver: bad leader transferee\n");
  const badArg = await etcdts(all, ["move-leader", "xyz"]);
  expect(badArg.code).toBe(128);
  expect(badArg.stderr).toBe('Error: strconv.ParseUint: parsing "xyz": invalid syntax\n');
}, 60_000);

// A lone member started with no peer flags serves no peer port (nothing could join it) until
// `member add` gives it a second member; then it listens on the default --listen-peer-urls,
// localhost:2380, as etcd does from the start, and the new member joins through it. The
// default port is shared with anything else on the machine: skipped when it is taken.
test.skipIf(await isListening(2380))(
  "a lone member with default peer flags starts serving its peer port when a member is added",
  async () => {
    const first = await startServer("etcdts", {
      extraArgs: ["--initial-cluster", "default=http://localhost:2380"],
    });
    await ok(first.endpoint, ["put", "grown", "yes"]);
    expect(await isListening(2380)).toBe(false);
    const peerPort = await freePort();
    const peer = `http://127.0.0.1:${peerPort}`;
    await ok(first.endpoint, ["member", "add", "m2", `--peer-urls=${peer}`]);
    await waitFor("the first member to serve the default peer port", () => isListening(2380));
    const second = await startServer("etcdts", {
      peerPort,
      extraArgs: [
        "--name",
        "m2",
        "--listen-peer-urls",
        peer,
        "--initial-advertise-peer-urls",
        peer,
        "--initial-cluster",
        `default=http://localhost:2380,m2=${peer}`,
        "--initial-cluster-state",
        "existing",
      ],
    });
    await waitFor("the new member to serve the key", async () => {
      return (await etcdts(second.endpoint, ["get", "grown", "--print-value-only"])).stdout === "yes\n";
    });
    const list = await ok(first.endpoint, ["member", "list"]);
    expect(list.trim().split("\n").map((l) => l.split(", ")[2]).sort()).toEqual(["default", "m2"]);
    await second.stop();
    await first.stop();
  },
  60_000,
);
