/**
 * The snapshot export's child process (server/export_child.ts) does not outlive the member
 * that started it, and a file a killed member left beside its store is removed at the
 * next start (server/snapshot_stream.ts); the compiled executable's export writes the key
 * bucket on two threads as the source does on one, and its restore of a large file reads
 * the key bucket and verifies the checksum on workers, into the same store or not at all.
 */
import { afterAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { EXPORT_CHILD_COMMAND } from "../../server/export_child.ts";
import { removeStaleSnapshotFiles } from "../../server/snapshot_stream.ts";
import { MvccStore } from "../../store/mvcc.ts";
import { exportEtcdBackend } from "../../store/etcd_export.ts";
import { WORKER_FROM_BYTES } from "../../store/key_bucket_import.ts";
import { HASH_ON_WORKER_FROM_BYTES } from "../../store/restore.ts";
import { cleanup, ETCDTS_BIN, tempDir, waitFor } from "../harness.ts";
import { Driver } from "../store/helpers.ts";
import { backendStatusBesidesSize } from "../bbolt/dump.ts";

afterAll(cleanup);

test("an export whose parent is gone stops and removes its file", async () => {
  const dir = tempDir("snapshot-child-");
  const src = path.join(dir, "db");
  const store = MvccStore.open(src);
  const d = new Driver(store);
  for (let i = 0; i < 20; i++) d.put(`k${i}`, String(i % 10).repeat(1 << 20));
  store.flush();
  // With its member alive, the child writes the file and exits 0.
  const kept = path.join(dir, "kept.bolt");
  const child = Bun.spawn([ETCDTS_BIN, EXPORT_CHILD_COMMAND, src, kept, String(process.pid)], {
    stderr: "pipe",
  });
  expect(await child.exited).toBe(0);
  expect(fs.statSync(kept).size).toBeGreaterThan(20 << 20);
  // A shell starts the export in the background with itself as the member, and exits at once.
  const dest = path.join(dir, "out.bolt");
  const err = path.join(dir, "err.txt");
  const sh = Bun.spawnSync([
    "sh",
    "-c",
    `"$0" ${EXPORT_CHILD_COMMAND} "$1" "$2" $$ >/dev/null 2>"$3" & echo $!`,
    ETCDTS_BIN,
    src,
    dest,
    err,
  ]);
  const pid = Number(new TextDecoder().decode(sh.stdout).trim());
  expect(pid).toBeGreaterThan(0);
  // Gone, or a zombie where nobody reaps orphans.
  const alive = () => {
    try {
      return fs.readFileSync(`/proc/${pid}/stat`, "latin1").split(") ")[1]?.[0] !== "Z";
    } catch {
      return false;
    }
  };
  await waitFor("the orphaned export to stop", () => !alive(), { timeoutMs: 10_000 });
  expect(fs.existsSync(dest)).toBe(false);
  expect(fs.readFileSync(err, "utf8")).toBe("snapshot: canceled\n");
  store.close();
}, 60_000);

test("files a killed member was sending are removed at start, nothing else", () => {
  const dir = tempDir("snapshot-stale-");
  for (
    const n of [
      "snapshot-123-1796536637696-k2j4.tmp",
      "db",
      "db-wal",
      "snapshot-x.tmp",
      "0000000000000001.snap",
    ]
  ) {
    fs.writeFileSync(path.join(dir, n), "x");
  }
  expect(removeStaleSnapshotFiles(dir)).toEqual(["snapshot-123-1796536637696-k2j4.tmp"]);
  expect(fs.readdirSync(dir).sort()).toEqual(["0000000000000001.snap", "db", "db-wal", "snapshot-x.tmp"]);
  expect(removeStaleSnapshotFiles(path.join(dir, "missing"))).toEqual([]);
});

test("the executable's export in parts on two threads holds what one thread writes", async () => {
  const dir = tempDir("snapshot-parts-");
  const src = path.join(dir, "db");
  const store = MvccStore.open(src);
  const d = new Driver(store);
  for (let i = 0; i < 400; i++) d.put(`k${i % 90}`, "v".repeat(i % 300));
  store.flush();
  store.close();
  const one = path.join(dir, "one.bolt");
  await exportEtcdBackend(src, one, { parallelFrom: Infinity });
  // Parts of one revision: the worker, the executable's own entry point, starts and joins.
  const two = path.join(dir, "two.bolt");
  const child = Bun.spawn([ETCDTS_BIN, EXPORT_CHILD_COMMAND, src, two, String(process.pid)], {
    env: { ...process.env, ETCDTS_EXPORT_PART_REVISIONS: "1" },
    stderr: "pipe",
  });
  expect([await child.exited, await new Response(child.stderr).text()]).toEqual([0, ""]);
  expect(backendStatusBesidesSize(two)).toEqual(backendStatusBesidesSize(one));
});

test(
  "the executable restores a large file with its key bucket read and its checksum verified on workers",
  async () => {
    const dir = tempDir("snapshot-restore-");
    const src = path.join(dir, "db");
    const store = MvccStore.open(src);
    const d = new Driver(store);
    // Over WORKER_FROM_BYTES and HASH_ON_WORKER_FROM_BYTES: 40 values of 1 MiB among small ones.
    for (let i = 0; i < 800; i++) d.put(`k${i % 150}`, i % 20 === 0 ? "v".repeat(1 << 20) : `v${i}`);
    store.flush();
    const backend = path.join(dir, "backend.bolt");
    await exportEtcdBackend(src, backend);
    const db = fs.readFileSync(backend);
    expect(db.length).toBeGreaterThan(Math.max(WORKER_FROM_BYTES, HASH_ON_WORKER_FROM_BYTES));
    // A snapshot as `snapshot save` writes it: the database, then its sha256.
    const snapshot = (name: string, damage: (b: Buffer) => void = () => {}) => {
      const file = path.join(dir, name);
      const bytes = Buffer.concat([db, createHash("sha256").update(db).digest()]);
      damage(bytes);
      fs.writeFileSync(file, bytes);
      return file;
    };
    const restore = (file: string, dataDir: string, ...flags: string[]) =>
      // Run elsewhere than the source tree, whose worker modules the executable could load instead.
      Bun.spawnSync([ETCDTS_BIN, "snapshot", "restore", file, ...flags, "--data-dir", dataDir], {
        stderr: "pipe",
        cwd: dir,
      });
    for (const [file, flags] of [[backend, ["--skip-hash-check"]], [snapshot("good.db"), []]] as const) {
      const dataDir = path.join(dir, `restored-${path.basename(file)}`);
      const r = restore(file, dataDir, ...flags);
      expect(r.exitCode).toBe(0);
      expect(r.stderr.toString()).toContain('"msg":"restored snapshot"');
      const copy = MvccStore.open(path.join(dataDir, "member", "snap", "db"));
      expect(copy.currentRevision()).toBe(store.currentRevision());
      expect(copy.hashKV(0n)).toEqual(store.hashKV(0n));
      copy.close();
    }
    // A flipped byte in a value imports, a damaged meta page does not: either way the
    // checksum is the error, and nothing is left behind.
    const page = 4096;
    const damaged = [
      snapshot("value.db", (b) => (b[b.indexOf("vvvv", db.length / 2)] ^= 1)),
      snapshot("metas.db", (b) => (b[20] ^= 0xff, b[page + 20] ^= 0xff)),
    ];
    for (const file of damaged) {
      const dataDir = path.join(dir, `refused-${path.basename(file)}`);
      const r = restore(file, dataDir);
      expect(r.exitCode).toBe(1);
      expect(r.stderr.toString()).toContain("\nError: snapshot file is corrupted: expected sha256 ");
      expect(fs.existsSync(dataDir)).toBe(false);
    }
    store.close();
  },
  60_000,
);
