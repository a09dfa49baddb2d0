/**
 * The snapshot file format, as etcd's: the database file followed by the sha256 of its
 * bytes. The database is a whole number of pages (a multiple of 512 bytes), so, as in
 * etcd, a file whose size is 32 more than a multiple of 512 carries the checksum.
 *
 * The database is an etcd backend (bbolt), as Maintenance.Snapshot sends and etcd saves,
 * or a SQLite store as etcdts's snapshots were before; its first bytes say which.
 */
import { Database } from "bun:sqlite";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { hashStore } from "./hash.ts";
import { isV5Layout } from "./layout_v5.ts";
import { upgradeSchema } from "./schema.ts";
import { ChecksumMismatch } from "./checksum.ts";
import { integrityProblem } from "./integrity.ts";
import { BboltReader } from "./bbolt/reader.ts";
import { MAGIC, PAGE_HEADER_BYTES } from "./bbolt/layout.ts";
import { etcdBackendStatus } from "./etcd_status.ts";
import { fileSha256 } from "./file_sha256.ts";

/** Bytes of the trailing checksum. */
export const SHA256_BYTES = 32;

/** Whether a snapshot of `size` bytes ends with a checksum (etcd's hasChecksum). */
export function hasChecksum(size: number): boolean {
  return size % 512 === SHA256_BYTES;
}

/** A checked snapshot file: how many leading bytes are the database. */
export interface CheckedSnapshot {
  readonly path: string;
  readonly dbBytes: number;
}

/** What `snapshot status` shows (etcd's snapshot.Status). */
export interface SnapshotStatus {
  /** CRC-32C over the store's content (Maintenance.Hash's algorithm). */
  readonly hash: number;
  /** The newest revision in the snapshot. */
  readonly revision: bigint;
  /** Rows in all tables (`live` excluded: stores before schema 4 repeated each key's newest revision there). */
  readonly totalKey: number;
  /** Bytes of the database, checksum excluded. */
  readonly totalSize: number;
}

/** A snapshot file whose checksum is not read yet. */
export interface SnapshotLayout extends CheckedSnapshot {
  /** A checksum follows the database and is to be verified (`verifyChecksum`); false with `skipHashCheck`. */
  readonly hashed: boolean;
}

/**
 * A snapshot file's layout: its size says whether a checksum follows the database. Errors
 * are etcd's texts where etcd has one.
 */
export function snapshotLayout(file: string, opts: { skipHashCheck?: boolean } = {}): SnapshotLayout | Error {
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch (e) {
    return new Error(
      `stat ${file}: ${
        (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (e as Error).message
      }`,
    );
  }
  if (!hasChecksum(size)) {
    if (opts.skipHashCheck) return { path: file, dbBytes: size, hashed: false };
    // etcdctl's words exactly (a truncated file or a bare db gets this too).
    return new Error("snapshot missing hash but --skip-hash-check=false");
  }
  return { path: file, dbBytes: size - SHA256_BYTES, hashed: !opts.skipHashCheck };
}

/** Whether `digest` is the checksum stored after the snapshot's database; etcd's error if not. */
export function checksumProblem(snap: CheckedSnapshot, digest: Uint8Array): Error | null {
  const want = Buffer.alloc(SHA256_BYTES);
  const fd = fs.openSync(snap.path, "r");
  try {
    fs.readSync(fd, want, 0, SHA256_BYTES, snap.dbBytes);
  } finally {
    fs.closeSync(fd);
  }
  const got = Buffer.from(digest);
  if (got.equals(want)) return null;
  return new Error(
    `snapshot file is corrupted: expected sha256 ${want.toString("hex")}, got ${got.toString("hex")}`,
  );
}

/**
 * Hashes the snapshot's database and compares the result with its checksum; the problem
 * found (a mismatch, or the file cut short or unreadable since its size was read), or null.
 */
export function verifyChecksum(snap: CheckedSnapshot): Error | null {
  try {
    return checksumProblem(snap, fileSha256(snap.path, snap.dbBytes));
  } catch (e) {
    return e as Error;
  }
}

/** Checks a snapshot file's checksum (unless `skipHashCheck`), reading it in chunks. */
export function checkSnapshot(file: string, opts: { skipHashCheck?: boolean } = {}): CheckedSnapshot | Error {
  const snap = snapshotLayout(file, opts);
  if (snap instanceof Error || !snap.hashed) return snap;
  return verifyChecksum(snap) ?? snap;
}

/** What a snapshot's database is: an etcd backend, or a store of ours in SQLite. */
export type DatabaseFormat = "bbolt" | "sqlite";

const SQLITE_HEADER = new TextEncoder().encode("SQLite format 3\0");

/** Tells the format by the first bytes: SQLite's header, or bbolt's meta magic in page 0. */
export function databaseFormat(snap: CheckedSnapshot): DatabaseFormat | Error {
  const head = new Uint8Array(PAGE_HEADER_BYTES + 4);
  const fd = fs.openSync(snap.path, "r");
  try {
    fs.readSync(fd, head, 0, Math.min(head.length, snap.dbBytes), 0);
  } finally {
    fs.closeSync(fd);
  }
  if (SQLITE_HEADER.every((b, i) => head[i] === b)) return "sqlite";
  if (new DataView(head.buffer).getUint32(PAGE_HEADER_BYTES, true) === MAGIC) return "bbolt";
  return new Error("invalid database");
}

/** Copies the database part of a checked snapshot to `dest` and fsyncs it. */
export function extractDatabase(snap: CheckedSnapshot, dest: string): void {
  const src = fs.openSync(snap.path, "r");
  const out = fs.openSync(dest, "wx", 0o600);
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let off = 0; off < snap.dbBytes;) {
      const n = fs.readSync(src, buf, 0, Math.min(buf.length, snap.dbBytes - off), off);
      if (n === 0) throw new Error(`snapshot ${snap.path} ended early`);
      fs.writeSync(out, buf, 0, n);
      off += n;
    }
    fs.fsyncSync(out);
  } finally {
    fs.closeSync(src);
    fs.closeSync(out);
  }
}

/** Reads a snapshot's status (`etcdctl snapshot status`), verifying checksum and structure. */
export function snapshotStatus(file: string): SnapshotStatus | Error {
  // A file without checksum may still be a store copied from a data dir, as etcd allows.
  const size = fs.existsSync(file) ? fs.statSync(file).size : 0;
  const checked = checkSnapshot(file, { skipHashCheck: !hasChecksum(size) });
  if (checked instanceof Error) return checked;
  const format = databaseFormat(checked);
  if (format instanceof Error) return format;
  if (format === "sqlite") return sqliteStatus(checked);
  const r = BboltReader.open(file, { limit: checked.dbBytes });
  if (r instanceof Error) return r;
  try {
    const status = etcdBackendStatus(r);
    return status instanceof Error
      ? new Error(`snapshot file integrity check failed: ${status.message}`)
      : status;
  } finally {
    r.close();
  }
}

function sqliteStatus(checked: CheckedSnapshot): SnapshotStatus | Error {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "etcdts-snapshot-"));
  try {
    const copy = path.join(dir, "db");
    extractDatabase(checked, copy);
    let db: Database;
    try {
      db = new Database(copy, { readwrite: true, create: false, safeIntegers: true, strict: true });
    } catch (e) {
      return new Error(`snapshot file integrity check failed: ${(e as Error).message}`);
    }
    try {
      const problem = integrityProblem(db);
      if (problem !== null) return new Error(`snapshot file integrity check failed: ${problem}`);
      // The hash reads the current layout: a snapshot of an older version's store is
      // converted first (this is a copy).
      if (isV5Layout(db)) upgradeSchema(db);
      return readStatus(db, checked.dbBytes);
    } catch (e) {
      if (e instanceof ChecksumMismatch) {
        return new Error(`snapshot file integrity check failed: ${e.message}`);
      }
      return new Error(`snapshot file is not an etcdts store: ${(e as Error).message}`);
    } finally {
      db.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function readStatus(db: Database, totalSize: number): SnapshotStatus {
  const tables = (db.query(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'live'",
  ).values() as string[][]).map((r) => r[0]);
  let totalKey = 0;
  for (const t of tables) {
    totalKey += Number(
      (db.query(`SELECT count(*) FROM "${t.replaceAll('"', '""')}"`).values()[0] as bigint[])[0],
    );
  }
  const revision = (db.query("SELECT coalesce(max(mod_rev), 0) FROM history").values()[0] as bigint[])[0];
  return { hash: hashStore(db), revision, totalKey, totalSize };
}
