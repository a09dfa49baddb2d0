/**
 * Whole-store passes over the stored checksums (checksum.ts): the verification a scrub, a
 * defrag, a restore and `check integrity` run.
 */
import { Database } from "bun:sqlite";
import { ChecksumMismatch, mismatchOf, STORED_COLUMNS, type StoredRow } from "./checksum.ts";
import { compareBytes } from "./keys.ts";
import { decodeKeyValue } from "../wire/etcd.ts";
import { isV5Layout, V5_BY_REVISION, v5Columns, v5MismatchOf, type V5Row } from "./layout_v5.ts";
import { pager } from "./pages.ts";

/** Options of `verifyHistory`. */
export interface VerifyOptions {
  /**
   * Called after each page of rows; a promise it returns is awaited first. The caller's
   * time slicing: a scrub rests here, a defrag lets the event loop run.
   */
  between?: () => Promise<void> | null;
  /** Stop at the first damaged revision instead of listing up to MAX_LISTED of them. */
  firstOnly?: boolean;
}

/** What a verification found. */
export interface VerifyReport {
  /** Revisions (history rows) read. */
  revisions: number;
  /** Rows that have no checksum to compare (see StoredRow). */
  unverified: number;
  /** Damaged revisions, in revision order, at most MAX_LISTED. */
  damaged: ChecksumMismatch[];
  /** How many were damaged in all. */
  damagedCount: number;
}

/** Damaged revisions a report names at most (the count goes on). */
export const MAX_LISTED = 100;

/** A row as the verification reads it: STORED_COLUMNS, then the other columns that repeat fields of `kv`. */
type CheckedRow = [...StoredRow, createRev: bigint, version: bigint, lease: bigint];

const BY_REVISION = { columns: ["mod_rev", "sub"], of: (r: CheckedRow) => [r[0], r[1]] };

/**
 * The mismatch of a row with its checksum, or of its columns with its `kv` (which the key
 * index and watch filters read instead), or null.
 */
function checkedMismatchOf(row: CheckedRow): ChecksumMismatch | null {
  const damaged = mismatchOf(row);
  if (damaged !== null) return damaged;
  const [modRev, sub, , key, kv, createRev, version, lease] = row;
  let agrees: boolean;
  try {
    const m = decodeKeyValue(kv);
    agrees = compareBytes(m.key, key) === 0 && m.createRevision === createRev && m.version === version &&
      m.lease === lease && m.modRevision === (version === 0n ? 0n : modRev);
  } catch {
    agrees = false; // not a KeyValue: only a damaged row without a checksum gets here
  }
  return agrees ? null : new ChecksumMismatch({ key, revision: modRev, sub });
}

/**
 * Reads every revision of `db` in revision order and compares it with its checksum. Pages
 * are separate statements: on a connection of its own this holds no read transaction
 * between them (rows never change once written; compaction only deletes them).
 */
export async function verifyHistory(db: Database, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const report = emptyReport();
  for (const _ of verifying(db, report, opts.firstOnly === true)) {
    const wait = opts.between?.() ?? null;
    if (wait !== null) await wait;
  }
  return report;
}

/** `verifyHistory` in one go, for the offline checks (restore, `check integrity`). */
export function verifyHistorySync(db: Database, opts: Pick<VerifyOptions, "firstOnly"> = {}): VerifyReport {
  const report = emptyReport();
  for (const _ of verifying(db, report, opts.firstOnly === true));
  return report;
}

function emptyReport(): VerifyReport {
  return { revisions: 0, unverified: 0, damaged: [], damagedCount: 0 };
}

/**
 * The pass: one page of rows per step, what it finds added to `report`. A file of the
 * layout before version 6 (a snapshot or data dir not opened since) is checked as it is.
 */
function* verifying(db: Database, report: VerifyReport, firstOnly: boolean): Generator<void> {
  const pages: Generator<(CheckedRow | V5Row)[]> = isV5Layout(db)
    ? pager<V5Row>(db, `SELECT ${v5Columns(db)} FROM history`, V5_BY_REVISION)
    : pager<CheckedRow>(
      db,
      `SELECT ${STORED_COLUMNS}, create_rev, version, lease FROM history`,
      BY_REVISION,
    );
  const v5 = isV5Layout(db);
  for (const rows of pages) {
    for (const row of rows) {
      report.revisions++;
      if ((v5 ? row[7] : row[2]) === null) {
        report.unverified++;
        continue;
      }
      const m = v5 ? v5MismatchOf(row as V5Row) : checkedMismatchOf(row as CheckedRow);
      if (m === null) continue;
      report.damagedCount++;
      if (report.damaged.length < MAX_LISTED) report.damaged.push(m);
      if (firstOnly) return;
    }
    yield;
  }
}

/** The first damaged revision, and how many more there are. */
export function damageSummary(report: VerifyReport): string {
  const more = report.damagedCount - 1;
  return `${report.damaged[0].message}${more > 0 ? ` (and ${more} more)` : ""}`;
}

/** SQLite's own consistency check of a database file: null when sound, else what is wrong. */
export function integrityProblem(db: Database): string | null {
  let rows: { quick_check: string }[];
  try {
    rows = db.query("PRAGMA quick_check").all() as { quick_check: string }[];
  } catch (e) {
    return (e as Error).message;
  }
  if (rows.length === 1 && rows[0].quick_check === "ok") return null;
  return rows.map((r) => r.quick_check).join("\n");
}

/**
 * Checks a store file that no server has open (restore, `check integrity`): SQLite's own
 * check of its structure, then every revision against its checksum. A string says why the
 * file could not be checked or what SQLite found.
 */
export function checkStoreFile(file: string): VerifyReport | string {
  let db: Database;
  try {
    db = new Database(file, { readwrite: true, create: false, safeIntegers: true, strict: true });
  } catch (e) {
    return (e as Error).message;
  }
  try {
    const problem = integrityProblem(db);
    if (problem !== null) return `integrity check failed: ${problem}`;
    return verifyHistorySync(db);
  } catch (e) {
    return (e as Error).message;
  } finally {
    db.close();
  }
}
