/**
 * `--force-new-cluster`, disaster recovery as an operator does it: a 3-member cluster loses
 * two members for good (killed, their data deleted); the survivor restarts with
 * --force-new-cluster as a cluster of one that serves its data at the same revision, and
 * grows back to three with `member add` and members started with
 * `--initial-cluster-state existing`. The same steps against etcdts and etcd 3.4.
 */
import { afterAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import { confChangeFor } from "../../server/conf-change.ts";
import { standaloneEntries } from "../../server/force_new_cluster.ts";
import { ConfChangeType, decodeConfChange, encodeConfChange, EntryType } from "../../raft/mod.ts";
import {
  cleanup,
  type ClusterProcess,
  CONFORMANCE_TARGETS,
  etcdctl,
  type RunResult,
  startCluster,
  waitFor,
} from "../harness.ts";

afterAll(cleanup);

async function ok(endpoint: string, args: string[]): Promise<string> {
  const r: RunResult = await etcdctl(endpoint, args);
  if (r.code !== 0) throw new Error(`etcdctl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** Every key with its revisions, and the store's revision, as a member serves them. */
async function contents(endpoint: string, consistency = "l") {
  const got = JSON.parse(
    await ok(endpoint, ["get", "", "--prefix", `--consistency=${consistency}`, "-w", "json"]),
  );
  return { revision: got.header.revision as number, kvs: got.kvs as unknown[] };
}

/** Member names through `endpoint`, in ID order as member list gives them, sorted. */
async function names(endpoint: string): Promise<string[]> {
  const got = JSON.parse(await ok(endpoint, ["member", "list", "-w", "json"]));
  return (got.members as { name?: string }[]).map((m) => m.name ?? "").sort();
}

/**
 * `member add` through the given members and start the new one. A member added to a
 * cluster whose last new member has not connected yet is refused (etcd's
 * --strict-reconfig-check): ask again until it is not.
 */
async function grow(cluster: ClusterProcess, via: number[]) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await cluster.addMember({ via });
    } catch (e) {
      if (!String(e).includes("member add failed") || Date.now() > deadline) throw e;
      await Bun.sleep(300);
    }
  }
}

test("the entries that leave a member alone: itself added first if missing, the others removed in ID order", () => {
  const conf = (i: number, cc: Parameters<typeof confChangeFor>[0]) => ({
    index: i,
    term: 2,
    type: EntryType.EntryConfChange,
    data: encodeConfChange(confChangeFor(cc)),
  });
  const member = (id: bigint, isLearner = false) => ({
    id,
    name: "",
    peerUrls: [],
    clientUrls: [],
    isLearner,
  });
  const entries = [
    conf(11, { kind: "add", member: member(9n, true) }), // a learner goes too
    conf(12, { kind: "remove", id: 5n }),
    conf(13, { kind: "update", id: 3n, peerUrls: ["http://x:1"] }),
    { index: 14, term: 3, type: EntryType.EntryNormal, data: new Uint8Array() },
  ];
  const hardState = { term: 3, vote: 1n, commit: 14 };
  const made = (self: bigint) =>
    standaloneEntries({ atSnapshot: [1n, 3n, 5n], entries, hardState }, self).map((e) => {
      const cc = decodeConfChange(e.data);
      return [e.index, e.term, cc.type, cc.nodeId];
    });
  const { ConfChangeAddNode: add, ConfChangeRemoveNode: remove } = ConfChangeType;
  expect(made(3n)).toEqual([[15, 3, remove, 1n], [16, 3, remove, 9n]]);
  expect(made(7n)).toEqual([[15, 3, add, 7n], [16, 3, remove, 1n], [17, 3, remove, 3n], [18, 3, remove, 9n]]);
});

for (const kind of CONFORMANCE_TARGETS) {
  test(`${kind}: a survivor forced into a new cluster keeps its data and grows back to three`, async () => {
    // Snapshots every 10 entries: the membership must also be read from the log's snapshot.
    const cluster = await startCluster(3, { kind, extraArgs: ["--snapshot-count", "10"] });
    const all = cluster.endpoints.join(",");
    await waitFor("a leader", async () => (await etcdctl(all, ["put", "k00", "v0"])).code === 0);
    for (let i = 1; i < 30; i++) await ok(all, ["put", `k${String(i).padStart(2, "0")}`, `v${i}`]);
    await ok(all, ["del", "k05"]);
    const [survivorId] = await cluster.memberIds();
    await waitFor("the survivor to hold every write", async () => {
      return (await contents(cluster.endpoints[0], "s")).revision === (await contents(all)).revision;
    });
    const before = await contents(cluster.endpoints[0], "s");

    // Two members are lost for good.
    for (const i of [1, 2]) {
      await cluster.members[i].kill9();
      fs.rmSync(cluster.members[i].dataDir, { recursive: true, force: true });
    }
    // Alone, the survivor has no quorum: no write can succeed.
    expect((await etcdctl(cluster.endpoints[0], ["put", "lost", "x", "--command-timeout=2s"])).code).not.toBe(
      0,
    );

    await cluster.members[0].stop();
    const survivor = await cluster.restart(0, ["--force-new-cluster"]);
    await waitFor("the survivor to lead alone", async () => {
      return (await etcdctl(survivor.endpoint, ["get", "k00", "--command-timeout=1s"])).code === 0;
    });
    if (kind === "etcdts") expect(survivor.stderr()).toContain("forcing restart member");
    expect(await contents(survivor.endpoint)).toEqual(before);
    expect(await names(survivor.endpoint)).toEqual(["m0"]);
    expect((await cluster.memberIds())[0]).toBe(survivorId);
    expect(await ok(survivor.endpoint, ["put", "after", "recovery"])).toBe("OK\n");

    // The operator grows the cluster back, one member at a time.
    const third = await grow(cluster, [0]);
    await grow(cluster, [0, third.index]);
    const now = await contents(survivor.endpoint);
    expect(now.revision).toBe(before.revision + 1);
    for (const i of [0, 3, 4]) {
      const endpoint = cluster.endpoints[i];
      await waitFor(`member ${i} to serve the data`, async () => {
        return JSON.stringify(await contents(endpoint, "s")) === JSON.stringify(now);
      });
      expect(await contents(endpoint)).toEqual(now);
      // A new member's name shows once it has published it.
      await waitFor(`member ${i} to list three named members`, async () => {
        return (await names(endpoint)).join() === "m0,m3,m4";
      });
    }
  }, 120_000);
}
