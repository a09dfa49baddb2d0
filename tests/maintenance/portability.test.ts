/**
 * Data portability with the real etcd 3.4: a store with overwrites, deletes, a compaction
 * at a delete, leases with keys, users, roles, permissions, auth enabled and binary keys
 * goes etcd → (etcdctl snapshot save) → etcdts restore → etcdts → (etcdctl snapshot save)
 * → etcdctl restore → etcd, and a bare `member/snap/db` of etcd's into etcdts; at every
 * step the real etcdctl sees the same keys, values, revisions, reads at old revisions,
 * leases with their keys, users, roles and HashKV, and both CLIs agree on each file's
 * `snapshot status`. etcdts's older snapshots (a SQLite store) still restore.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { Client } from "../../client/mod.ts";
import { KV } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import {
  cleanup,
  etcdctl,
  ETCDCTL_BIN,
  etcdts,
  ETCDTS_BIN,
  freePort,
  haveRealEtcd,
  run,
  type RunResult,
  type ServerProcess,
  startCluster,
  startServer,
  tempDir,
  waitFor,
} from "../harness.ts";

afterAll(cleanup);

const AUTH = ["--user", "root:pw"];

/** etcdctl against `ep` as root; the command must succeed. */
async function ctl(ep: string, args: readonly string[]): Promise<string> {
  const r = await etcdctl(ep, [...AUTH, ...args]);
  if (r.code !== 0) throw new Error(`etcdctl ${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** What a range shows, without the parts that name the member or term. */
function range(json: string): unknown {
  const j = JSON.parse(json);
  return { revision: j.header.revision, kvs: j.kvs ?? [], count: j.count ?? 0 };
}

/** Everything a client can see of the store, read through the real etcdctl. */
async function fingerprint(ep: string): Promise<Record<string, unknown>> {
  const head = JSON.parse(await ctl(ep, ["get", "", "--from-key", "-w", "json"]));
  const current = Number(head.header.revision);
  const hashkv = JSON.parse(await ctl(ep, ["endpoint", "hashkv", "-w", "json"]))[0].HashKV;
  const compacted = Number(hashkv.compact_revision);
  const history: Record<number, unknown> = {};
  for (let rev = compacted; rev <= current; rev++) {
    history[rev] = range(await ctl(ep, ["get", "", "--from-key", `--rev=${rev}`, "-w", "json"]));
  }
  const old = await etcdctl(ep, [...AUTH, "get", "a", `--rev=${compacted - 1}`]);
  const leases: Record<string, unknown> = {};
  // The simple output: JSON's IDs are beyond a double's precision.
  for (const id of (await ctl(ep, ["lease", "list"])).trim().split("\n").slice(1)) {
    const t = JSON.parse(await ctl(ep, ["lease", "timetolive", id, "--keys", "-w", "json"]));
    // etcd lists a lease's keys in map order.
    leases[id] = { granted: t["granted-ttl"], keys: (t.keys ?? []).sort() };
  }
  const users: Record<string, string> = {};
  for (const u of (await ctl(ep, ["user", "list"])).trim().split("\n")) {
    users[u] = await ctl(ep, ["user", "get", u, "--detail"]);
  }
  const roles: Record<string, string> = {};
  for (const r of (await ctl(ep, ["role", "list"])).trim().split("\n")) {
    roles[r] = await ctl(ep, ["role", "get", r]);
  }
  const anonymous = await etcdctl(ep, ["get", "a"]);
  return {
    head: range(JSON.stringify(head)),
    history,
    compactedRead: lastLine(old.stderr),
    leases,
    users,
    roles,
    authRequired: lastLine(anonymous.stderr),
    hashkv: { hash: hashkv.hash, compact: hashkv.compact_revision },
  };
}

/** etcdctl's error line, without the client's log lines before it. */
function lastLine(s: string): string {
  return s.trim().split("\n").at(-1) ?? "";
}

/** Both CLIs' `snapshot status` of a file, which must agree byte for byte. */
async function statusBoth(file: string): Promise<{ hash: number; revision: number; totalKey: number }> {
  const ours = await run([ETCDTS_BIN, "snapshot", "status", file, "-w", "json"]);
  const theirs = await run([ETCDCTL_BIN, "snapshot", "status", file, "-w", "json"], {
    env: { ETCDCTL_API: "3" },
  });
  expect(ours.stderr).toBe("");
  expect({ out: ours.stdout, code: ours.code }).toEqual({ out: theirs.stdout, code: theirs.code });
  for (const w of ["table", "simple"]) {
    const a = await run([ETCDTS_BIN, "snapshot", "status", file, "-w", w]);
    const b = await run([ETCDCTL_BIN, "snapshot", "status", file, "-w", w], { env: { ETCDCTL_API: "3" } });
    expect(a.stdout).toBe(b.stdout);
  }
  return JSON.parse(ours.stdout);
}

/** A restore's member flags for a single member on `peerPort`. */
function member(peerPort: number): string[] {
  const peer = `http://127.0.0.1:${peerPort}`;
  return ["--name", "n1", "--initial-cluster", `n1=${peer}`, "--initial-advertise-peer-urls", peer];
}

/**
 * `snapshot restore` of `file` by etcdts or the real etcdctl into `dataDir`, for a single
 * member on a new peer port; then, if it worked, `serve` starts that server on it.
 */
async function restore(
  cli: "etcdts" | "etcdctl",
  file: string,
  dataDir: string,
  extra: readonly string[] = [],
): Promise<{ result: RunResult; serve: (kind: "etcd" | "etcdts") => Promise<ServerProcess> }> {
  const peerPort = await freePort();
  const bin = cli === "etcdts" ? ETCDTS_BIN : ETCDCTL_BIN;
  const result = await run(
    [bin, "snapshot", "restore", file, ...extra, "--data-dir", dataDir, ...member(peerPort)],
    { env: { ETCDCTL_API: "3" } },
  );
  return { result, serve: (kind) => startServer(kind, { dataDir, peerPort }) };
}

/** A restore that must succeed, and `kind` serving what it made. */
async function restored(
  cli: "etcdts" | "etcdctl",
  kind: "etcd" | "etcdts",
  file: string,
  dataDir: string,
  extra: readonly string[] = [],
): Promise<ServerProcess> {
  const { result, serve } = await restore(cli, file, dataDir, extra);
  expect(failures(result)).toEqual([]);
  expect(result.code).toBe(0);
  return await serve(kind);
}

/** A restore's error lines (etcdctl logs JSON lines on stderr, and panics without "Error"). */
function failures(r: RunResult): string[] {
  return r.stderr.split("\n").filter((l) => l.startsWith("Error") || l.startsWith("panic"));
}

describe.skipIf(!haveRealEtcd())("snapshots move between etcd and etcdts", () => {
  const dir = tempDir("etcdts-portability-");
  let source: ServerProcess;
  let expected: Record<string, unknown>;
  const fromEtcd = path.join(dir, "from-etcd.db");
  const fromEtcdts = path.join(dir, "from-etcdts.db");

  test("the real etcd's store, saved by the real etcdctl", async () => {
    source = await startServer("etcd");
    const ep = source.endpoint;
    const put = (k: string, v: string, ...more: string[]) => etcdctl(ep, ["put", k, v, ...more]);
    await put("a", "1");
    await put("b", "1");
    await put("a", "2");
    await put("c", "1");
    await etcdctl(ep, ["del", "b"]);
    const compactAt = JSON.parse((await etcdctl(ep, ["get", "a", "-w", "json"])).stdout).header.revision;
    const client = new Client({ endpoints: [ep], callTimeoutMs: 10_000 });
    await client.service(KV).put({
      key: new Uint8Array([0, 0xff, 0x10]),
      value: new Uint8Array([0xfe, 0, 1]),
    });
    await client.service(KV).put({ key: new Uint8Array([0xff, 0xff]), value: new Uint8Array(300).fill(7) });
    client.close();
    const lease = (await etcdctl(ep, ["lease", "grant", "1000"])).stdout.split(" ")[1];
    await etcdctl(ep, ["lease", "grant", "2000"]);
    await put("leased/1", "x", `--lease=${lease}`);
    await put("leased/2", "y", `--lease=${lease}`);
    await put("a", "3");
    expect((await etcdctl(ep, ["compact", String(compactAt), "--physical"])).code).toBe(0);
    await put("c", "2");
    await put("big", "v".repeat(10_000));
    await etcdctl(ep, ["del", "c"]);
    await put("c", "3");
    for (
      const args of [
        ["user", "add", "root:pw"],
        ["user", "add", "alice:secret"],
        ["role", "add", "root"],
        ["role", "add", "reader"],
        ["role", "grant-permission", "reader", "read", "a", "b"],
        ["role", "grant-permission", "reader", "readwrite", "leased/", "--prefix"],
        ["user", "grant-role", "root", "root"],
        ["user", "grant-role", "alice", "reader"],
        ["auth", "enable"],
      ]
    ) {
      const r = await etcdctl(ep, args);
      expect(r.stderr).toBe("");
    }
    expected = await fingerprint(ep);
    expect(Object.keys(expected.history as object).length).toBeGreaterThan(8);
    expect(Object.keys(expected.leases as object).length).toBe(2);
    const saved = await etcdctl(ep, [...AUTH, "snapshot", "save", fromEtcd]);
    expect(saved.code).toBe(0);
    const st = await statusBoth(fromEtcd);
    expect(st.revision).toBe((expected.head as { revision: number }).revision);
  }, 60_000);

  test("etcdts restores the real etcd's snapshot and serves the same store", async () => {
    const server = await restored("etcdts", "etcdts", fromEtcd, path.join(dir, "etcdts-from-etcd"));
    expect(await fingerprint(server.endpoint)).toEqual(expected);

    const saved = await etcdctl(server.endpoint, [...AUTH, "snapshot", "save", fromEtcdts]);
    expect(saved.stdout).toBe(`Snapshot saved at ${fromEtcdts}\n`);
    expect(saved.code).toBe(0);
    await statusBoth(fromEtcdts);
    await server.stop();
  }, 60_000);

  test("the real etcdctl restores etcdts's snapshot and the real etcd serves the same store", async () => {
    const server = await restored("etcdctl", "etcd", fromEtcdts, path.join(dir, "etcd-from-etcdts"));
    expect(await fingerprint(server.endpoint)).toEqual(expected);
    await server.stop();
  }, 60_000);

  test(
    "etcdts restores the real etcd's snapshot into a 3-member cluster that serves it on every member",
    async () => {
      const { members } = await startCluster(3, { restoreFrom: fromEtcd });
      for (const m of members) {
        await waitFor(
          `${m.endpoint} to serve a linearizable read`,
          async () => (await etcdctl(m.endpoint, [...AUTH, "get", "a"])).code === 0,
          { timeoutMs: 30_000 },
        );
        expect(await fingerprint(m.endpoint)).toEqual(expected);
      }
      for (const m of members) await m.stop();
    },
    90_000,
  );

  test("etcdts restores a bare member/snap/db of the real etcd with --skip-hash-check", async () => {
    await source.stop();
    const db = path.join(source.dataDir, "member", "snap", "db");
    const copy = path.join(dir, "bare.db");
    fs.copyFileSync(db, copy);
    const refused = (await restore("etcdts", copy, path.join(dir, "refused"))).result;
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("snapshot missing hash but --skip-hash-check=false");
    const server = await restored("etcdts", "etcdts", copy, path.join(dir, "etcdts-from-bare"), [
      "--skip-hash-check",
    ]);
    expect(await fingerprint(server.endpoint)).toEqual(expected);
    await server.stop();
  }, 60_000);
});

test("etcdts's older SQLite snapshots still restore, with and without their checksum", async () => {
  const dir = tempDir("etcdts-legacy-");
  const server = await startServer("etcdts");
  for (let i = 0; i < 20; i++) {
    expect((await etcdts(server.endpoint, ["put", `old/${i}`, `v${i}`])).code).toBe(0);
  }
  await server.stop();
  // A stopped member's store file is such a snapshot's database (the WAL checkpointed on close).
  const db = fs.readFileSync(path.join(server.dataDir, "member", "snap", "db"));
  expect(db.subarray(0, 15).toString()).toBe("SQLite format 3");
  const bare = path.join(dir, "bare.db");
  fs.writeFileSync(bare, db);
  const hashed = path.join(dir, "hashed.db");
  fs.writeFileSync(hashed, Buffer.concat([db, createHash("sha256").update(db).digest()]));
  for (const [file, extra] of [[bare, ["--skip-hash-check"]], [hashed, []]] as const) {
    const again = await restored("etcdts", "etcdts", file, path.join(dir, path.basename(file, ".db")), extra);
    const got = await etcdts(again.endpoint, ["get", "old/", "--prefix", "--keys-only"]);
    expect(got.stdout.split("\n").filter((l) => l !== "").length).toBe(20);
    await again.stop();
  }
}, 60_000);
