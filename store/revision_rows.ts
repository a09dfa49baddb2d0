/**
 * History rows by revision, up to 64 per statement: how every multi-key read selects the
 * rows the key index named, on the member's connection (reader.ts) and on a read worker's
 * (read_worker.ts).
 */
import type { Database, Statement } from "bun:sqlite";
import type { RevisionKey } from "./key_index.ts";
import type { KvRow } from "./kv.ts";
import { STORED_COLUMNS, type StoredRow } from "./checksum.ts";

/**
 * History no longer holds the rows the key index named for a read: a read taken in steps
 * outlived them (a compaction past its revision, or a snapshot replacing the store, ran
 * between its statements). The read's answer would be incomplete or mixed, so it fails.
 */
export class HistoryChanged extends Error {}

/** Revisions read per statement at most. */
export const ROWS_PER_STATEMENT = 64;
/** The statement sizes (fewer distinct statements); the last is ROWS_PER_STATEMENT. */
export const STATEMENT_SIZES = [4, 16, ROWS_PER_STATEMENT];

/**
 * `selectSpan` scans a span of revisions when it holds at most this many rows per row
 * wanted. A scan reads ~0.7 µs per row against ~1.1 µs per row looked up in key order
 * (1000-key ranges of a bulk-loaded prefix, 1.3% of the span not wanted: 0.70 vs 1.12 ms).
 */
const SPAN_ROWS_PER_WANTED = 1.5;

/**
 * A span scan reads keys and values up to this size; bigger ones it leaves (SQLite finds
 * a blob's length without reading it) and `selectSpan` looks up the wanted ones: the rows
 * in the span that are not wanted may hold any amount (a large key updated often).
 */
const SPAN_FIELD_MAX = 4096;

/** The columns of a read with values without checksums: a KvRow. */
const KV_COLUMNS = "key, create_rev, mod_rev, version, lease, value";
/** The columns of a keys-only read: a KvRow with an empty value. */
const KEY_COLUMNS = "key, create_rev, mod_rev, version, lease, x''";

/** A row of a span scan: a key or value over SPAN_FIELD_MAX is left NULL. */
type ScannedRow = [
  key: Uint8Array | null,
  createRev: bigint,
  modRev: bigint,
  version: bigint,
  lease: bigint,
  value: Uint8Array | null,
  sub: bigint,
];

/** Selects rows by revision on one connection. */
export class RevisionRows {
  readonly #db: Database;
  /** Rows read with values come with their sub-revision and checksum (StoredRow). */
  readonly verified: boolean;
  /** The statements, by size and whether they read values: built once each. */
  readonly #statements = new Map<number, Statement>();
  /** The span scans, with values and without. */
  readonly #spans = new Map<boolean, Statement>();

  constructor(db: Database, verified: boolean) {
    this.#db = db;
    this.verified = verified;
  }

  /**
   * The rows of `revs` (at most ROWS_PER_STATEMENT, in key order), in their order, with one
   * statement (a statement per row cost ~3× as much in bun:sqlite's per-call overhead). With
   * values and `verified` each row is a StoredRow; their checksums are the caller's to check.
   * Throws HistoryChanged where history lacks a revision or answers another.
   */
  select(revs: readonly RevisionKey[], values: boolean): KvRow[] {
    const size = STATEMENT_SIZES.find((s) => s >= revs.length)!;
    const args: (number | null)[] = [];
    for (const rev of revs) args.push(rev[0], rev[1]);
    // Padding to the statement's size: NULL matches nothing, and SQLite does not even look
    // it up (a revision that matches nothing did cost a lookup: 100-row reads, padded to
    // 128, ~15% of their statements' time).
    while (args.length < 2 * size) args.push(null);
    const rows = this.#statement(size, values).values(...(args as number[])) as unknown as KvRow[];
    if (rows.length !== revs.length) {
      throw new HistoryChanged(`store: key index names ${revs.length} revisions, history has ${rows.length}`);
    }
    // Rows come in the revisions' order (the statement's join); a row of another revision
    // means the statement or the store is not what the read expects: fail it rather than
    // answer, or cache, a row under a revision not its own. Rows read without their
    // sub-revision (keys-only, or unverified) are checked by main revision.
    const withSub = values && this.verified;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i] as unknown as StoredRow;
      if (Number(row[2]) !== revs[i][0] || (withSub && Number(row[6]) !== revs[i][1])) {
        throw new HistoryChanged(
          `store: revision ${revs[i]} read as ${row[2]}${
            withSub ? `,${row[6]}` : ""
          }: the store changed under the read`,
        );
      }
    }
    return rows;
  }

  /**
   * The rows of `revs` (in key order, any number) in their order: one scan of their span
   * where they lie close (`selectSpan`), else a statement per ROWS_PER_STATEMENT.
   */
  selectMany(revs: readonly RevisionKey[], values: boolean): KvRow[] {
    if (revs.length <= ROWS_PER_STATEMENT) return this.select(revs, values);
    return this.selectSpan(revs, values) ?? this.#selectEach(revs, values);
  }

  /** `select` over any number of revisions, ROWS_PER_STATEMENT per statement. */
  #selectEach(revs: readonly RevisionKey[], values: boolean): KvRow[] {
    const rows: KvRow[] = [];
    for (let i = 0; i < revs.length; i += ROWS_PER_STATEMENT) {
      for (const row of this.select(revs.slice(i, i + ROWS_PER_STATEMENT), values)) rows.push(row);
    }
    return rows;
  }

  /**
   * The rows of `revs` (in key order, any number) in their order, with one scan of the
   * span of revisions they lie in, or null where that span holds too many other rows (the
   * revisions of keys written together lie close; of keys updated since, apart) or lacks
   * one of them: the caller then reads them with `select`.
   */
  selectSpan(revs: readonly RevisionKey[], values: boolean): KvRow[] | null {
    if (revs.length === 0) return [];
    let lo = revs[0][0];
    let hi = lo;
    for (const rev of revs) {
      if (rev[0] < lo) lo = rev[0];
      else if (rev[0] > hi) hi = rev[0];
    }
    const most = Math.ceil(revs.length * SPAN_ROWS_PER_WANTED);
    if (hi - lo + 1 > most) return null;
    const scanned = this.#span(values).values(lo, hi, most + 1) as unknown as (StoredRow | ScannedRow)[];
    // Sub-revisions can make a span of few main revisions hold many rows.
    if (scanned.length > most) return null;
    // Both in revision order: the scan by its ORDER BY, the wanted ones sorted here.
    const order = Array.from(revs.keys()).sort((a, b) => revs[a][0] - revs[b][0] || revs[a][1] - revs[b][1]);
    const out: KvRow[] = new Array(revs.length);
    let next = 0;
    for (const row of scanned) {
      if (next === order.length) break;
      const want = revs[order[next]];
      if (Number(row[2]) === want[0] && Number(row[6]) === want[1]) {
        out[order[next++]] = row as unknown as KvRow;
      }
    }
    if (next !== order.length) return null;
    // Keys and values too big for the scan: looked up, a statement per ROWS_PER_STATEMENT.
    const left: number[] = [];
    for (let i = 0; i < out.length; i++) {
      const row = out[i] as unknown as ScannedRow;
      if (row[0] === null || row[5] === null) left.push(i);
    }
    const looked = this.#selectEach(left.map((i) => revs[i]), values);
    for (let j = 0; j < left.length; j++) out[left[j]] = looked[j];
    return out;
  }

  #span(values: boolean): Statement {
    let stmt = this.#spans.get(values);
    if (stmt === undefined) {
      // A KvRow, keys and values over SPAN_FIELD_MAX left NULL, then the sub-revision (at
      // index 6) and, verified, the checksum (STORED_COLUMNS' order).
      const key = `CASE WHEN length(key) <= ${SPAN_FIELD_MAX} THEN key END`;
      const value = values ? `CASE WHEN length(value) <= ${SPAN_FIELD_MAX} THEN value END` : "x''";
      const columns = `${key}, create_rev, mod_rev, version, lease, ${value}, sub${
        values && this.verified ? ", crc" : ""
      }`;
      stmt = this.#db.prepare(
        `SELECT ${columns} FROM history WHERE mod_rev BETWEEN ?1 AND ?2 ORDER BY mod_rev, sub LIMIT ?3`,
      );
      this.#spans.set(values, stmt);
    }
    return stmt;
  }

  #statement(size: number, values: boolean): Statement {
    const id = values ? size : -size;
    let stmt = this.#statements.get(id);
    if (stmt === undefined) {
      const pairs = Array.from({ length: size }, (_, i) => `(?${2 * i + 1}, ?${2 * i + 2})`).join(", ");
      const columns = !values ? KEY_COLUMNS : this.verified ? STORED_COLUMNS : KV_COLUMNS;
      // The revisions come in key order, and CROSS JOIN makes them the outer loop: rows come
      // out in their order, with no sort (ORDER BY key cost a third of 1000-key ranges'
      // reads; `select` checks each row's revision against its place).
      stmt = this.#db.prepare(
        `WITH wanted(m, s) AS (VALUES ${pairs})
         SELECT ${columns} FROM wanted CROSS JOIN history ON mod_rev = m AND sub = s`,
      );
      this.#statements.set(id, stmt);
    }
    return stmt;
  }
}
