/**
 * `snapshot restore`: a fresh member data dir from a snapshot file: an etcd backend (saved
 * from etcd or etcdts, or a data dir's `member/snap/db`) is imported into a new store; a
 * SQLite store (etcdts's older snapshots) is copied.
 *
 * The contract with the server: restore writes `<data-dir>/member/snap/db` holding the
 * snapshot's keys, revisions, leases and alarms with the applied index and term reset to
 * 0 and membership state cleared. The CLI then writes the new member's first log beside it
 * (server/bootstrap_log.ts: the conf changes of the cluster named at restore, at indexes
 * 1..n), so `etcdts serve` restarts from that log as etcd does from its restored WAL; the
 * store keeps its content, and applying those entries writes the membership afresh.
 */
import type { Database } from "bun:sqlite";
import * as fs from "node:fs";
import * as path from "node:path";
import { BboltReader } from "./bbolt/reader.ts";
import { importEtcdBackend } from "./etcd_import.ts";
import { WORKER_FROM_BYTES } from "./key_bucket_import.ts";
import { endBulkLoad, openDatabase, openForBulkLoad } from "./schema.ts";
import { checkStoreFile, damageSummary } from "./integrity.ts";
import {
  type CheckedSnapshot,
  checksumProblem,
  databaseFormat,
  extractDatabase,
  type SnapshotLayout,
  snapshotLayout,
  verifyChecksum,
} from "./snapshot_file.ts";
import { fileSha256OnWorker } from "./file_sha256.ts";
import { fsyncDir } from "../lib/fsync_dir.ts";

/** Where and how to restore. */
export interface RestoreOptions {
  readonly snapshotPath: string;
  /** The new member's data dir; must not exist. */
  readonly dataDir: string;
  /** A WAL dir outside the data dir (etcd's --wal-dir); must not exist. */
  readonly walDir?: string;
  readonly skipHashCheck: boolean;
}

/** The files restore made. */
export interface Restored {
  readonly dbPath: string;
  readonly snapDir: string;
  readonly walDir: string;
}

/**
 * Resets what ties a store to the cluster it was copied from, so that it can seed a new
 * one: the applied index and term (the new cluster's log starts at 1) and any membership
 * state. The one place that knows which state is per-cluster: extend it with new tables.
 */
export function resetForNewCluster(db: Database): void {
  db.transaction(() => {
    db.run("UPDATE meta SET applied_index = 0, applied_term = 0 WHERE id = 0");
    // The new cluster's bootstrap conf changes write its roster afresh (store/members.ts).
    db.run("DELETE FROM members");
    db.run("DELETE FROM members_removed");
  })();
}

/** Restores a snapshot into a new data dir; errors are values with etcd's wording. */
export async function restoreSnapshot(opts: RestoreOptions): Promise<Restored | Error> {
  if (fs.existsSync(opts.dataDir)) return new Error(`data-dir "${opts.dataDir}" exists`);
  const walDir = opts.walDir ?? path.join(opts.dataDir, "member", "wal");
  if (opts.walDir !== undefined && fs.existsSync(opts.walDir)) {
    return new Error(`wal-dir "${opts.walDir}" exists`);
  }
  const snap = snapshotLayout(opts.snapshotPath, { skipHashCheck: opts.skipHashCheck });
  if (snap instanceof Error) return snap;
  const checked = startChecksum(snap);
  if (checked instanceof Error) return checked;
  const snapDir = path.join(opts.dataDir, "member", "snap");
  const dbPath = path.join(snapDir, "db");
  fs.mkdirSync(snapDir, { recursive: true, mode: 0o700 });
  // Filled under another name, renamed once done and its checksum verified: a restore cut
  // short (a crash, a kill) leaves no `db` for a server to open (a bulk load's may be broken).
  const loading = `${dbPath}.restoring`;
  let failed: Error | null = null;
  try {
    const format = databaseFormat(snap);
    if (format instanceof Error) throw format;
    if (format === "bbolt") await importBackend(snap, loading);
    else copySqlite(snap, loading);
  } catch (e) {
    failed = new Error(`snapshot ${opts.snapshotPath} cannot be restored: ${(e as Error).message}`);
  }
  // A checksum that does not match explains whatever else went wrong: it is the error.
  const problem = (await checked) ?? failed;
  if (problem !== null) {
    fs.rmSync(opts.dataDir, { recursive: true, force: true });
    return problem;
  }
  renameStore(loading, dbPath);
  return { dbPath, snapDir, walDir };
}

/** Renames a closed store file, durably. Its WAL was checkpointed and is gone or empty. */
function renameStore(from: string, to: string): void {
  for (const side of ["-wal", "-shm"]) {
    const file = `${from}${side}`;
    if (!fs.existsSync(file)) continue;
    if (side === "-wal" && fs.statSync(file).size > 0) {
      throw new Error(`restore: ${file} was left with content`);
    }
    fs.rmSync(file);
  }
  fs.renameSync(from, to);
  fsyncDir(path.dirname(to));
}

/** A file this big has its checksum verified on a worker thread while it is imported. */
export const HASH_ON_WORKER_FROM_BYTES = 32 << 20;

/**
 * Verifies the snapshot's checksum: a small file's here, at once (its error returned
 * before anything is written); a large one's on a worker thread, resolving with the
 * problem found or null (never rejecting), while the caller imports the file.
 */
function startChecksum(snap: SnapshotLayout): Error | Promise<Error | null> {
  if (!snap.hashed) return Promise.resolve(null);
  if (snap.dbBytes < HASH_ON_WORKER_FROM_BYTES) return verifyChecksum(snap) ?? Promise.resolve(null);
  return fileSha256OnWorker({ path: snap.path, bytes: snap.dbBytes })
    .then((digest) => checksumProblem(snap, digest))
    .catch((e: Error) => e);
}

/** A new store at `dbPath` holding the etcd backend's content, reset for a new cluster. */
async function importBackend(snap: CheckedSnapshot, dbPath: string): Promise<void> {
  const r = BboltReader.open(snap.path, { limit: snap.dbBytes });
  if (r instanceof Error) throw r;
  try {
    const db = openForBulkLoad(dbPath);
    try {
      const onWorker = snap.dbBytes >= WORKER_FROM_BYTES;
      const err = await importEtcdBackend(r, db, onWorker ? { path: snap.path, limit: snap.dbBytes } : null);
      if (err !== null) throw err;
      endBulkLoad(db);
      resetForNewCluster(db);
      db.run("PRAGMA wal_checkpoint(TRUNCATE)");
    } finally {
      db.close();
    }
  } finally {
    r.close();
  }
}

/** The SQLite store in the snapshot, checked, at `dbPath`, reset for a new cluster. */
function copySqlite(snap: CheckedSnapshot, dbPath: string): void {
  extractDatabase(snap, dbPath);
  const problem = checkDatabase(dbPath);
  if (problem !== null) throw new Error(problem);
  const db = openDatabase(dbPath);
  try {
    resetForNewCluster(db);
    db.run("PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
}

/** What is wrong with the store file at `file` (SQLite's check, then the checksums), or null. */
function checkDatabase(file: string): string | null {
  const found = checkStoreFile(file);
  if (typeof found === "string") return found;
  return found.damagedCount === 0 ? null : `checksum check failed: ${damageSummary(found)}`;
}
