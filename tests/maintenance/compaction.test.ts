/**
 * Auto compaction (the policy with a fake clock, and a live server keeping a window of
 * history) and defrag (shrinks the file; --cluster; --data-dir offline).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { Errors, type EtcdError } from "../../api/errors.ts";
import { CompactionPolicy, parseRetention, REVISION_CHECK_MS } from "../../server/compactor.ts";
import { cleanup, etcdts, startCluster, startServer, waitFor } from "../harness.ts";

afterAll(cleanup);

describe("parseRetention (etcd's rules)", () => {
  test("periodic: a bare number is hours, else a Go duration; 0 disables", () => {
    expect(parseRetention("periodic", "1")).toEqual({ mode: "periodic", periodMs: 3_600_000 });
    expect(parseRetention("periodic", "30m")).toEqual({ mode: "periodic", periodMs: 1_800_000 });
    expect(parseRetention("periodic", "1.5s")).toEqual({ mode: "periodic", periodMs: 1500 });
    expect(parseRetention("periodic", "0")).toBeNull();
    expect(parseRetention("periodic", "soon")).toBeInstanceOf(Error);
  });
  test("revision: a count", () => {
    expect(parseRetention("revision", "1000")).toEqual({ mode: "revision", revisions: 1000n });
    expect(parseRetention("revision", "0")).toBeNull();
    expect(parseRetention("revision", "1h")).toBeInstanceOf(Error);
  });
});

/** A fake world: a clock, a revision that grows, and the compactions asked for. */
function world(opts: { leader?: boolean; fail?: EtcdError } = {}) {
  const w = {
    now: 0,
    rev: 1n,
    leader: opts.leader ?? true,
    compacted: [] as bigint[],
  };
  const deps = {
    now: () => w.now,
    rev: () => w.rev,
    isLeader: () => w.leader,
    compact: (rev: bigint) => {
      w.compacted.push(rev);
      return Promise.resolve(opts.fail ?? null);
    },
  };
  return { w, deps };
}

describe("CompactionPolicy", () => {
  test("periodic 10s: samples every 1s, first compacts after 10s to the revision of 10s ago, then every 10s", async () => {
    const { w, deps } = world();
    const p = new CompactionPolicy({ mode: "periodic", periodMs: 10_000 }, deps);
    expect(p.intervalMs).toBe(1000);
    const revAt = new Map<number, bigint>();
    revAt.set(0, w.rev);
    for (let s = 1; s <= 30; s++) {
      w.now = s * 1000;
      w.rev += 10n; // ten writes a second
      revAt.set(s, w.rev);
      await p.tick();
    }
    // Revisions at t=0, t=10, t=20: each compaction keeps the last 10 s of history.
    expect(w.compacted).toEqual([revAt.get(0)!, revAt.get(9)!, revAt.get(19)!]);
  });

  test("periodic: followers do not compact; failures retry at the next sample", async () => {
    const follower = world({ leader: false });
    const p = new CompactionPolicy({ mode: "periodic", periodMs: 1000 }, follower.deps);
    for (let s = 1; s <= 30; s++) {
      follower.w.now = s * 100;
      await p.tick();
    }
    expect(follower.w.compacted).toEqual([]);

    const failing = world({ fail: Errors.NoLeader });
    const q = new CompactionPolicy({ mode: "periodic", periodMs: 1000 }, failing.deps);
    for (let s = 1; s <= 13; s++) {
      failing.w.now = s * 100;
      await q.tick();
    }
    expect(failing.w.compacted.length).toBe(4); // at 1.0, 1.1, 1.2, 1.3 s
  });

  test("revision mode: every 5 minutes, to current − retention, once per target", async () => {
    const { w, deps } = world();
    const p = new CompactionPolicy({ mode: "revision", revisions: 100n }, deps);
    expect(p.intervalMs).toBe(REVISION_CHECK_MS);
    await p.tick(); // rev 1: nothing to keep yet
    w.rev = 350n;
    await p.tick();
    await p.tick(); // no new writes: not again
    w.rev = 500n;
    await p.tick();
    expect(w.compacted).toEqual([250n, 400n]);
  });
});

test("a server with --auto-compaction-retention=1s keeps about one second of history", async () => {
  const server = await startServer("etcdts", {
    extraArgs: ["--auto-compaction-mode", "periodic", "--auto-compaction-retention", "1s"],
  });
  const ep = server.endpoint;
  const seen: { t: number; rev: number }[] = [];
  let stop = false;
  const writer = (async () => {
    for (let i = 0; !stop; i++) {
      const r = await etcdts(ep, ["put", "k", String(i), "-w", "json"]);
      seen.push({ t: Date.now(), rev: Number(JSON.parse(r.stdout).header.revision) });
    }
  })();
  let compacted = 0;
  await waitFor("an automatic compaction", async () => {
    const r = await etcdts(ep, ["endpoint", "hashkv", "-w", "json"]);
    const checkedAt = Date.now();
    compacted = Number(JSON.parse(r.stdout)[0].HashKV.compact_revision ?? -1);
    if (compacted <= 1) return false;
    // Nothing newer than what was written a second before we looked is gone.
    const old = seen.filter((s) => s.t <= checkedAt - 900);
    expect(old.length).toBeGreaterThan(0);
    expect(compacted).toBeLessThanOrEqual(old[old.length - 1].rev);
    return true;
  }, { timeoutMs: 20_000, intervalMs: 200 });
  stop = true;
  await writer;
  const gone = await etcdts(ep, ["get", "k", `--rev=${compacted - 1}`]);
  expect(gone.stderr).toBe("Error: etcdserver: mvcc: required revision has been compacted\n");
  await server.stop();
}, 60_000);

describe("defrag", () => {
  test("shrinks the file after deletes and compaction; endpoint status shows it", async () => {
    const server = await startServer("etcdts");
    const ep = server.endpoint;
    const value = "v".repeat(10_000);
    for (let i = 0; i < 40; i++) await etcdts(ep, ["put", `d/${i}`, value]);
    await etcdts(ep, ["del", "d/", "--prefix"]);
    const rev = JSON.parse((await etcdts(ep, ["get", "x", "-w", "json"])).stdout).header.revision;
    await etcdts(ep, ["compaction", String(rev)]);
    const size = async () =>
      JSON.parse((await etcdts(ep, ["endpoint", "status", "-w", "json"])).stdout)[0].Status;
    const before = await size();
    expect(Number(before.dbSizeInUse)).toBeLessThan(Number(before.dbSize));
    const r = await etcdts(ep, ["defrag"]);
    expect(r.stdout).toBe(`Finished defragmenting etcd member[${ep}]\n`);
    expect(r.code).toBe(0);
    const after = await size();
    expect(Number(after.dbSize)).toBeLessThan(Number(before.dbSize) / 2);
    expect(after.dbSize).toBe(after.dbSizeInUse);
    await server.stop();

    // Offline, on the stopped member's data dir.
    const offline = await etcdts(ep, ["defrag", "--data-dir", server.dataDir]);
    expect(offline.stdout).toBe("");
    expect(offline.code).toBe(0);
    const missing = await etcdts(ep, ["defrag", "--data-dir", `${server.dataDir}-nope`]);
    expect(missing.stderr).toMatch(/^Failed to defragment etcd data\[.*-nope\] \(/);
    expect(missing.code).toBe(1);
  }, 60_000);

  test("every member of a cluster, one after the other, or --cluster from the member list", async () => {
    const cluster = await startCluster(3);
    const all = cluster.endpoints.join(",");
    await waitFor("a leader", async () => (await etcdts(all, ["put", "a", "b"])).code === 0);
    const r = await etcdts(all, ["defrag"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      cluster.endpoints.map((e) => `Finished defragmenting etcd member[${e}]\n`).join(""),
    );
    await waitFor("every member to publish its client URL", async () => {
      const r = await etcdts(all, ["member", "list"]);
      return cluster.endpoints.every((e) => r.stdout.includes(`http://${e}`));
    });
    const viaList = await etcdts(cluster.endpoints[0], ["defrag", "--cluster"]);
    expect(viaList.code).toBe(0);
    expect(viaList.stdout.trim().split("\n").sort()).toEqual(
      cluster.endpoints.map((e) => `Finished defragmenting etcd member[http://${e}]`).sort(),
    );
    for (const m of cluster.members) await m.stop();
  }, 60_000);
});
