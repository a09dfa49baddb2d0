/**
 * Reads of keys as they stood at a revision, the head or any retained one: the key index
 * says which revision of each key, `history` has the rows. Everything above this module
 * deals in KvRows.
 */
import type { Database, Statement } from "bun:sqlite";
import type { KeyIndex, RevisionKey } from "./key_index.ts";
import type { KeyRange } from "./keys.ts";
import { type KvRow, kvRowOf } from "./kv.ts";
import { type ChecksumMismatch, mismatchOf, STORED_COLUMNS, type StoredRow } from "./checksum.ts";
import type { RowCache } from "./row_cache.ts";
import { HistoryChanged, RevisionRows, ROWS_PER_STATEMENT, STATEMENT_SIZES } from "./revision_rows.ts";

export { HistoryChanged };

/** Options of `KvReader.rows`. */
export interface RowsOptions {
  /** At most this many rows; 0 = all. */
  limit?: number;
  /** Select values (false for keys_only reads: saves copying them). */
  values?: boolean;
}

/** Reads of at most this many rows put them in the row cache (see #chunk). */
const FILL_MAX_ROWS = 128;
/** Key and value bytes `revisionsInSteps` reads per step at most, where rows allow (one row may be more). */
const STEP_BYTES = 1 << 20;
/**
 * Rows `revisionsInSteps` reads per step at most, with one scan of their span where they lie close
 * (RevisionRows.selectSpan), or statements of ROWS_PER_STATEMENT where not; in ranges of
 * this many rows or more only (100-key ranges, their rows mostly in the row cache, ran at
 * 0.86x with it, CPU per range 1.11x).
 */
const SPAN_ROWS = 256;
/** A step's sizes: statements of these many rows, or a span of SPAN_ROWS. */
const STEP_SIZES = [...STATEMENT_SIZES, SPAN_ROWS];

/** Options of a KvReader. */
export interface ReaderOptions {
  /**
   * Compare every row read with its value against its checksum, throwing ChecksumMismatch
   * (checksum.ts) instead of returning a damaged one. Keys-only reads are not checked: the
   * checksum covers the value, which they do not read.
   */
  verify?: boolean;
  /**
   * With `verify`: hand each mismatch here and return the row as stored, instead of
   * throwing. For the apply loop, which must make the same write as every other member
   * whatever it read, and so can only report what it found (see MvccStore.applyBatch).
   */
  onMismatch?: (m: ChecksumMismatch) => void;
  /**
   * Rows read with values are kept here and looked for here first (keys-only reads do not
   * use it). Only rows that passed their check go in, so `verify` must be on.
   */
  cache?: RowCache;
  /**
   * With `cache`: whether rows read go in (default true). The apply loop's reads are mostly
   * of rows it is about to supersede (a put's or a delete's previous version): they would
   * only push out rows that reads still want.
   */
  fillCache?: boolean;
}

/** Reads existing keys at the head or at a historical revision. */
export class KvReader {
  readonly #db: Database;
  readonly #index: KeyIndex;
  readonly #verify: boolean;
  readonly #onMismatch: ((m: ChecksumMismatch) => void) | undefined;
  readonly #cache: RowCache | undefined;
  /** Where rows read go: the cache, or nowhere. */
  readonly #fill: RowCache | undefined;
  readonly #getRevision: Statement;
  readonly #getRevisionNoValue: Statement;
  readonly #rows: RevisionRows;

  constructor(db: Database, index: KeyIndex, opts: ReaderOptions = {}) {
    this.#db = db;
    this.#index = index;
    this.#verify = opts.verify === true;
    this.#onMismatch = opts.onMismatch;
    if (opts.cache !== undefined && !this.#verify) throw new Error("store: a row cache needs verified reads");
    this.#cache = opts.cache;
    this.#fill = opts.fillCache === false ? undefined : opts.cache;
    this.#getRevision = db.prepare(`SELECT ${STORED_COLUMNS} FROM history WHERE mod_rev = ?1 AND sub = ?2`);
    this.#getRevisionNoValue = db.prepare(
      "SELECT key, create_rev, mod_rev, version, lease, x'' FROM history WHERE mod_rev = ?1 AND sub = ?2",
    );
    this.#rows = new RevisionRows(db);
  }

  /** The history row of one revision (the key index named it, so it exists). */
  revision(rev: RevisionKey, values = true): KvRow {
    const cached = values ? this.#cache?.get(rev) : undefined;
    if (cached !== undefined) return cached;
    const stmt = values ? this.#getRevision : this.#getRevisionNoValue;
    const found = stmt.values(rev[0], rev[1])[0] as unknown as StoredRow | KvRow | undefined;
    if (found === undefined) throw new Error(`store: key index names revision ${rev} that history lacks`);
    if (!values) return found as KvRow;
    const stored = found as StoredRow;
    const checked = this.#check(stored);
    const row = this.#decode(stored, rev, checked);
    if (checked) this.#fill?.add(rev, row);
    return row;
  }

  /** The current version of one key, or null if it does not exist. */
  get(key: Uint8Array): KvRow | null {
    const at = this.#index.latest(key);
    return at === null ? null : this.revision(at);
  }

  /**
   * Keys existing in `range` at revision `atRev` (`null` = the head, including the open
   * write's own changes), ascending by key.
   */
  rows(range: KeyRange, atRev: bigint | null, opts: RowsOptions = {}): KvRow[] {
    const values = opts.values !== false;
    const revs = this.revisions(range, atRev, opts.limit);
    if (revs.length <= 1) return revs.map((rev) => this.revision(rev, values));
    const rows: KvRow[] = [];
    for (let i = 0; i < revs.length; i += ROWS_PER_STATEMENT) this.#chunk(revs, i, values, rows);
    return rows;
  }

  /**
   * The revisions of the keys existing in `range` at `atRev` (`null` = the head), in key
   * order: what `rows` reads, for a caller that reads them some other way.
   */
  revisions(range: KeyRange, atRev: bigint | null, limit = 0): RevisionKey[] {
    return this.#index.existingAt(range, atRev, limit);
  }

  /**
   * The rows of `revs` (from `revisions`, before any snapshot was installed since), as
   * `rows` reads them but a step at a time with `between()` after each, which may return a
   * promise to wait on (the caller lets other work run): a range of a hundred MB is one
   * step per few MB instead of one event-loop turn for all of it.
   */
  async revisionsInSteps(
    revs: RevisionKey[],
    values: boolean,
    between: () => Promise<void> | null,
  ): Promise<KvRow[]> {
    if (revs.length <= 1) return revs.map((rev) => this.revision(rev, values));
    const rows: KvRow[] = [];
    const reloads = this.#index.reloads;
    // A first statement of middle size, then sized by what its rows weighed.
    const sizes = revs.length >= SPAN_ROWS ? STEP_SIZES : STATEMENT_SIZES;
    let size = STATEMENT_SIZES[1];
    for (let i = 0; i < revs.length;) {
      // A snapshot installed between two statements: the revisions name another store's rows.
      if (this.#index.reloads !== reloads) {
        throw new HistoryChanged("store: a snapshot was installed: the store changed under the read");
      }
      const from = rows.length;
      this.#chunk(revs, i, values, rows, size);
      i += rows.length - from;
      let bytes = 0;
      for (let r = from; r < rows.length; r++) bytes += rows[r][0].length + rows[r][5].length;
      // The next step's size: the largest whose rows, like these, fit one step.
      const perRow = bytes / Math.max(1, rows.length - from);
      size = sizes.findLast((s) => s === sizes[0] || s * perRow <= STEP_BYTES)!;
      const wait = between();
      if (wait !== null) await wait;
    }
    return rows;
  }

  /**
   * Appends the rows of revs[from, from + most), in key order: with one statement
   * (RevisionRows.select) up to ROWS_PER_STATEMENT, with a scan of their span if more.
   */
  #chunk(revs: RevisionKey[], from: number, values: boolean, out: KvRow[], most = ROWS_PER_STATEMENT): void {
    const n = Math.min(most, revs.length - from);
    const cache = values ? this.#cache : undefined;
    // Rows of big ranges are not kept: a scan of thousands of keys would push out every
    // hot row for rows read once (1000-key ranges over 200k keys ran at 0.67x, measured).
    const fill = values && revs.length <= FILL_MAX_ROWS ? this.#fill : undefined;
    // The revisions to read: those the cache does not hold (all of them without one).
    let missing = revs.slice(from, from + n);
    const held: (KvRow | undefined)[] = [];
    if (cache !== undefined) {
      for (const rev of missing) held.push(cache.get(rev));
      missing = missing.filter((_, i) => held[i] === undefined);
    }
    let rows: KvRow[];
    if (missing.length === 0) rows = [];
    else if (!values) rows = this.#rows.keys(missing);
    else {
      const stored = this.#rows.stored(missing);
      rows = new Array(stored.length);
      for (let i = 0; i < stored.length; i++) {
        const checked = this.#check(stored[i]);
        rows[i] = this.#decode(stored[i], missing[i], checked);
        if (checked) fill?.add(missing[i], rows[i]);
      }
    }
    if (cache === undefined) {
      for (const row of rows) out.push(row);
      return;
    }
    // Both lists are in key order, as the revisions are: merge them back into it.
    let next = 0;
    for (const row of held) out.push(row ?? rows[next++]);
  }

  /**
   * The KvRow of a stored row (`sound`: it passed its check). One that failed it and was let
   * through (`onMismatch`: the apply loop, which must write what every other member writes)
   * reads as its columns say, with the value of its `kv` if that still parses: a damaged
   * `kv` may parse as another key or version.
   */
  #decode(stored: StoredRow, rev: RevisionKey, sound: boolean): KvRow {
    if (sound || !this.#verify) return kvRowOf(stored[4], stored[0]);
    const row = this.revision(rev, false);
    try {
      row[5] = kvRowOf(stored[4], stored[0])[5];
    } catch {
      // not a KeyValue any more: the value reads as empty
    }
    return row;
  }

  /**
   * Whether the row was checked and matches its checksum; if it does not, throws the
   * mismatch, or hands it to `onMismatch` if there is one.
   */
  #check(row: StoredRow): boolean {
    if (!this.#verify) return false;
    const m = mismatchOf(row);
    if (m === null) return true;
    if (this.#onMismatch === undefined) throw m;
    this.#onMismatch(m);
    return false;
  }

  /** The version `key` had just before main revision `rev`, or null if it did not exist then. */
  before(key: Uint8Array, rev: bigint): KvRow | null {
    const at = this.#index.existingBefore(key, rev);
    return at === null ? null : this.revision(at);
  }

  /** How many keys exist in `range` at `atRev` (`null` = head). */
  count(range: KeyRange, atRev: bigint | null): number {
    return this.#index.countAt(range, atRev);
  }
}
