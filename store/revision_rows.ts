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
 * A span scan reads keys and KeyValues up to this size; bigger ones it leaves (SQLite
 * finds a blob's length without reading it) and `selectSpan` looks up the wanted ones: the
 * rows in the span that are not wanted may hold any amount (a large key updated often).
 */
const SPAN_FIELD_MAX = 4096;

/**
 * What a read selects, and where in its rows: `columns` for lookups, `span` for span scans
 * (the biggest field, at `big`, left NULL over SPAN_FIELD_MAX), the revision at `mod` and
 * `sub`.
 */
interface Shape {
  readonly columns: string;
  readonly span: string;
  readonly mod: number;
  readonly sub: number;
  readonly big: number;
}

/** Reads with values: the stored revision as it is (StoredRow), its checksum the caller's to check. */
const STORED: Shape = {
  columns: STORED_COLUMNS,
  // A KeyValue holds its key: under SPAN_FIELD_MAX, so is the key.
  span: `mod_rev, sub, crc, CASE WHEN length(kv) <= ${SPAN_FIELD_MAX} THEN key END,
    CASE WHEN length(kv) <= ${SPAN_FIELD_MAX} THEN kv END`,
  mod: 0,
  sub: 1,
  big: 4,
};

/**
 * Keys-only reads: a KvRow with an empty value and no stored KeyValue, then the
 * sub-revision (no value is read).
 */
const KEYS: Shape = {
  columns: "key, create_rev, mod_rev, version, lease, x'', NULL, sub",
  span:
    `CASE WHEN length(key) <= ${SPAN_FIELD_MAX} THEN key END, create_rev, mod_rev, version, lease, x'', NULL, sub`,
  mod: 2,
  sub: 7,
  big: 0,
};

type Row = unknown[];

/** Selects rows by revision on one connection. */
export class RevisionRows {
  readonly #db: Database;
  /** The statements, by shape and size: built once each. */
  readonly #statements = new Map<Shape, Map<number, Statement>>();
  /** The span scans, by shape. */
  readonly #spans = new Map<Shape, Statement>();

  constructor(db: Database) {
    this.#db = db;
  }

  /**
   * The stored rows of `revs` (in key order, any number) in their order: one scan of their
   * span where they lie close (`selectSpan`), else a statement per ROWS_PER_STATEMENT (a
   * statement per row cost ~3× as much in bun:sqlite's per-call overhead). Their checksums
   * are the caller's to check. Throws HistoryChanged where history lacks a revision or
   * answers another.
   */
  stored(revs: readonly RevisionKey[]): StoredRow[] {
    return this.#many(STORED, revs) as StoredRow[];
  }

  /** The rows of `revs` as `stored` reads them, without values: KvRows with empty values. */
  keys(revs: readonly RevisionKey[]): KvRow[] {
    return this.#many(KEYS, revs) as unknown as KvRow[];
  }

  #many(shape: Shape, revs: readonly RevisionKey[]): Row[] {
    if (revs.length <= ROWS_PER_STATEMENT) return this.#select(shape, revs);
    return this.#selectSpan(shape, revs) ?? this.#selectEach(shape, revs);
  }

  /** The rows of `revs` (at most ROWS_PER_STATEMENT, in key order), in their order, with one statement. */
  #select(shape: Shape, revs: readonly RevisionKey[]): Row[] {
    const size = STATEMENT_SIZES.find((s) => s >= revs.length)!;
    const args: (number | null)[] = [];
    for (const rev of revs) args.push(rev[0], rev[1]);
    // Padding to the statement's size: NULL matches nothing, and SQLite does not even look
    // it up (a revision that matches nothing did cost a lookup: 100-row reads, padded to
    // 128, ~15% of their statements' time).
    while (args.length < 2 * size) args.push(null);
    const rows = this.#statement(shape, size).values(...(args as number[])) as unknown as Row[];
    if (rows.length !== revs.length) {
      throw new HistoryChanged(`store: key index names ${revs.length} revisions, history has ${rows.length}`);
    }
    // Rows come in the revisions' order (the statement's join); a row of another revision
    // means the statement or the store is not what the read expects: fail it rather than
    // answer, or cache, a row under a revision not its own.
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      if (Number(row[shape.mod]) !== revs[i][0] || Number(row[shape.sub]) !== revs[i][1]) {
        throw new HistoryChanged(
          `store: revision ${revs[i]} read as ${row[shape.mod]},${
            row[shape.sub]
          }: the store changed under the read`,
        );
      }
    }
    return rows;
  }

  /** `#select` over any number of revisions, ROWS_PER_STATEMENT per statement. */
  #selectEach(shape: Shape, revs: readonly RevisionKey[]): Row[] {
    const rows: Row[] = [];
    for (let i = 0; i < revs.length; i += ROWS_PER_STATEMENT) {
      for (const row of this.#select(shape, revs.slice(i, i + ROWS_PER_STATEMENT))) rows.push(row);
    }
    return rows;
  }

  /**
   * The rows of `revs` (in key order, any number) in their order, with one scan of the
   * span of revisions they lie in, or null where that span holds too many other rows (the
   * revisions of keys written together lie close; of keys updated since, apart) or lacks
   * one of them: the caller then reads them with `#select`.
   */
  #selectSpan(shape: Shape, revs: readonly RevisionKey[]): Row[] | null {
    if (revs.length === 0) return [];
    let lo = revs[0][0];
    let hi = lo;
    for (const rev of revs) {
      if (rev[0] < lo) lo = rev[0];
      else if (rev[0] > hi) hi = rev[0];
    }
    const most = Math.ceil(revs.length * SPAN_ROWS_PER_WANTED);
    if (hi - lo + 1 > most) return null;
    const scanned = this.#span(shape).values(lo, hi, most + 1) as unknown as Row[];
    // Sub-revisions can make a span of few main revisions hold many rows.
    if (scanned.length > most) return null;
    // Both in revision order: the scan by its ORDER BY, the wanted ones sorted here.
    const order = Array.from(revs.keys()).sort((a, b) => revs[a][0] - revs[b][0] || revs[a][1] - revs[b][1]);
    const out: Row[] = new Array(revs.length);
    let next = 0;
    for (const row of scanned) {
      if (next === order.length) break;
      const want = revs[order[next]];
      if (Number(row[shape.mod]) === want[0] && Number(row[shape.sub]) === want[1]) out[order[next++]] = row;
    }
    if (next !== order.length) return null;
    // Fields too big for the scan: looked up, a statement per ROWS_PER_STATEMENT.
    const left: number[] = [];
    for (let i = 0; i < out.length; i++) if (out[i][shape.big] === null) left.push(i);
    const looked = this.#selectEach(shape, left.map((i) => revs[i]));
    for (let j = 0; j < left.length; j++) out[left[j]] = looked[j];
    return out;
  }

  #span(shape: Shape): Statement {
    let stmt = this.#spans.get(shape);
    if (stmt === undefined) {
      stmt = this.#db.prepare(
        `SELECT ${shape.span} FROM history WHERE mod_rev BETWEEN ?1 AND ?2 ORDER BY mod_rev, sub LIMIT ?3`,
      );
      this.#spans.set(shape, stmt);
    }
    return stmt;
  }

  #statement(shape: Shape, size: number): Statement {
    let bySize = this.#statements.get(shape);
    if (bySize === undefined) this.#statements.set(shape, bySize = new Map());
    let stmt = bySize.get(size);
    if (stmt === undefined) {
      const pairs = Array.from({ length: size }, (_, i) => `(?${2 * i + 1}, ?${2 * i + 2})`).join(", ");
      // The revisions come in key order, and CROSS JOIN makes them the outer loop: rows come
      // out in their order, with no sort (ORDER BY key cost a third of 1000-key ranges'
      // reads; `#select` checks each row's revision against its place).
      stmt = this.#db.prepare(
        `WITH wanted(m, s) AS (VALUES ${pairs})
         SELECT ${shape.columns} FROM wanted CROSS JOIN history ON mod_rev = m AND sub = s`,
      );
      bySize.set(size, stmt);
    }
    return stmt;
  }
}
