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
    const sql = `SELECT h.key, h.create_rev, h.mod_rev, h.version, h.lease, ${
      value === "value" ? "h.value" : value
    }
      FROM ${latestAt(range, 3)} JOIN history AS h ON h.mod_rev = latest.rev AND h.sub = latest.sub
      WHERE h.version > 0 ORDER BY latest.key LIMIT ?2`;
    return this.#db.query(sql).values(
      atRev,
      limit > 0 ? limit : -1,
      ...rangeArgs(range),
    ) as unknown as KvRow[];
  }

  /** How many keys exist in `range` at `atRev` (`null` = head). */
  count(range: KeyRange, atRev: bigint | null): number {
    if (atRev === null) {
      const sql = `SELECT count(*) FROM live WHERE ${rangeCondition(range)}`;
      return Number((this.#db.query(sql).values(...rangeArgs(range)) as bigint[][])[0][0]);
    }
    const sql = `SELECT count(*) FROM ${latestAt(range, 2)}
      JOIN history AS h ON h.mod_rev = latest.rev AND h.sub = latest.sub WHERE h.version > 0`;
    return Number((this.#db.query(sql).values(atRev, ...rangeArgs(range)) as bigint[][])[0][0]);
  }

  #pointRows(key: Uint8Array, values: boolean): KvRow[] {
    const row = this.get(key);
    if (row === null) return [];
    if (!values) row[5] = new Uint8Array(0);
    return [row];
  }
}

/**
 * The latest revision of each key in range at or below `?1` (range parameters numbered
 * from `rangeFirst`), from the (key, mod_rev) index alone; callers join the rows they need
 * by primary key (SQLite takes the bare `sub` from the row holding the max).
 */
function latestAt(range: KeyRange, rangeFirst: number): string {
  return `(SELECT key, max(mod_rev) AS rev, sub FROM history WHERE ${
    rangeCondition(range, rangeFirst)
  } AND mod_rev <= ?1 GROUP BY key) AS latest`;
}
