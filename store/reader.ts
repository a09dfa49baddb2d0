/**
 * Reads of keys as they stood at a revision: the head (from `live`) or any retained
 * historical revision (the key index says which revision of each key, `history` has the
 * rows). Everything above this module deals in KvRows.
 */
import type { Database, Statement } from "bun:sqlite";
import type { KeyIndex, RevisionKey } from "./key_index.ts";
import { type KeyRange, rangeArgs, rangeCondition } from "./keys.ts";
import type { KvRow } from "./kv.ts";

/** Options of `KvReader.rows`. */
export interface RowsOptions {
  /** At most this many rows; 0 = all. */
  limit?: number;
  /** Select values (false for keys_only reads: saves copying them). */
  values?: boolean;
}

/** Reads existing keys at the head or at a historical revision. */
export class KvReader {
  readonly #db: Database;
  readonly #index: KeyIndex;
  readonly #getLive: Statement;
  readonly #getRevision: Statement;
  readonly #getRevisionNoValue: Statement;

  constructor(db: Database, index: KeyIndex) {
    this.#db = db;
    this.#index = index;
    this.#getLive = db.prepare(
      "SELECT key, create_rev, mod_rev, version, lease, value FROM live WHERE key = ?1",
    );
    this.#getRevision = db.prepare(
      "SELECT key, create_rev, mod_rev, version, lease, value FROM history WHERE mod_rev = ?1 AND sub = ?2",
    );
    this.#getRevisionNoValue = db.prepare(
      "SELECT key, create_rev, mod_rev, version, lease, x'' FROM history WHERE mod_rev = ?1 AND sub = ?2",
    );
  }

  /** The history row of one revision (the key index named it, so it exists). */
  revision(rev: RevisionKey, values = true): KvRow {
    const stmt = values ? this.#getRevision : this.#getRevisionNoValue;
    const row = stmt.values(rev[0], rev[1])[0] as unknown as KvRow | undefined;
    if (row === undefined) throw new Error(`store: key index names revision ${rev} that history lacks`);
    return row;
  }

  /** The current version of one key, or null if it does not exist. */
  get(key: Uint8Array): KvRow | null {
    const rows = this.#getLive.values(key) as unknown as KvRow[];
    return rows.length === 0 ? null : rows[0];
  }

  /**
   * Keys existing in `range` at revision `atRev` (`null` = the head, including the open
   * write's own changes), ascending by key.
   */
  rows(range: KeyRange, atRev: bigint | null, opts: RowsOptions = {}): KvRow[] {
    const limit = opts.limit ?? 0;
    const value = opts.values === false ? "x''" : "value";
    if (atRev === null) {
      if (range.kind === "single") return this.#pointRows(range.key, opts.values !== false);
      const sql = `SELECT key, create_rev, mod_rev, version, lease, ${value} FROM live WHERE ${
        rangeCondition(range, 2)
      } ORDER BY key LIMIT ?1`;
      return this.#db.query(sql).values(limit > 0 ? limit : -1, ...rangeArgs(range)) as unknown as KvRow[];
    }
    const values = opts.values !== false;
    return this.#index.existingAt(range, atRev, limit).map((rev) => this.revision(rev, values));
  }

  /** The version `key` had just before main revision `rev`, or null if it did not exist then. */
  before(key: Uint8Array, rev: bigint): KvRow | null {
    const at = this.#index.existingBefore(key, rev);
    return at === null ? null : this.revision(at);
  }

  /** How many keys exist in `range` at `atRev` (`null` = head). */
  count(range: KeyRange, atRev: bigint | null): number {
    if (atRev === null) {
      const sql = `SELECT count(*) FROM live WHERE ${rangeCondition(range)}`;
      return Number((this.#db.query(sql).values(...rangeArgs(range)) as bigint[][])[0][0]);
    }
    return this.#index.countAt(range, atRev);
  }

  #pointRows(key: Uint8Array, values: boolean): KvRow[] {
    const row = this.get(key);
    if (row === null) return [];
    if (!values) row[5] = new Uint8Array(0);
    return [row];
  }
}
