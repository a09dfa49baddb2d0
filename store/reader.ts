/**
 * Reads of keys as they stood at a revision: the head (from `live`) or any retained
 * historical revision (from `history`). Everything above this module deals in KvRows.
 */
import type { Database, Statement } from "bun:sqlite";
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
  readonly #getLive: Statement;

  constructor(db: Database) {
    this.#db = db;
    this.#getLive = db.prepare(
      "SELECT key, create_rev, mod_rev, version, lease, value FROM live WHERE key = ?1",
    );
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
    // One row per key: SQLite takes the bare columns from the row holding max(mod_rev).
    const sql = `SELECT key, create_rev, max(mod_rev), version, lease, ${value} FROM history WHERE ${
      rangeCondition(range, 2)
    } AND mod_rev <= ?1 GROUP BY key ORDER BY key`;
    const all = this.#db.query(sql).values(atRev, ...rangeArgs(range)) as unknown as KvRow[];
    const out: KvRow[] = [];
    for (const row of all) {
      if (row[3] === 0n) continue; // tombstone: the key did not exist at atRev
      out.push(row);
      if (out.length === limit) break;
    }
    return out;
  }

  /** How many keys exist in `range` at `atRev` (`null` = head). */
  count(range: KeyRange, atRev: bigint | null): number {
    if (atRev === null) {
      const sql = `SELECT count(*) FROM live WHERE ${rangeCondition(range)}`;
      return Number((this.#db.query(sql).values(...rangeArgs(range)) as bigint[][])[0][0]);
    }
    const sql = `SELECT max(mod_rev), version FROM history WHERE ${
      rangeCondition(range, 2)
    } AND mod_rev <= ?1 GROUP BY key`;
    let n = 0;
    for (const row of this.#db.query(sql).values(atRev, ...rangeArgs(range)) as bigint[][]) {
      if (row[1] !== 0n) n++;
    }
    return n;
  }

  #pointRows(key: Uint8Array, values: boolean): KvRow[] {
    const row = this.get(key);
    if (row === null) return [];
    if (!values) row[5] = new Uint8Array(0);
    return [row];
  }
}
