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

/** The columns of a read with values without checksums: a KvRow. */
const KV_COLUMNS = "key, create_rev, mod_rev, version, lease, value";
/** The columns of a keys-only read: a KvRow with an empty value. */
const KEY_COLUMNS = "key, create_rev, mod_rev, version, lease, x''";

/** Selects rows by revision on one connection. */
export class RevisionRows {
  readonly #db: Database;
  /** Rows read with values come with their sub-revision and checksum (StoredRow). */
  readonly verified: boolean;
  /** The statements, by size and whether they read values: built once each. */
  readonly #statements = new Map<number, Statement>();

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
