/**
 * Whole-store copies for Raft snapshots: a consistent copy of the live database for a
 * lagging member, and installing such a copy in place of a member's contents.
 *
 * The copy is read through a second, read-only connection, which sees the last committed
 * state: the caller commits first (`MvccStore.flush`), so the copy's applied index (in its
 * `meta` row, consistent with its content) is at least the snapshot's index.
 */
import { Database } from "bun:sqlite";

function quoted(path: string): string {
  return `'${path.replaceAll("'", "''")}'`;
}

/** Writes a compact, self-contained copy of the committed database at `dbPath` to `dest`. */
export function copyDatabase(dbPath: string, dest: string): void {
  const ro = new Database(dbPath, { readonly: true });
  try {
    ro.run(`VACUUM INTO ${quoted(dest)}`);
  } finally {
    ro.close();
  }
}

/**
 * Replaces every table's rows in `db` with those of the database file at `src`, in one
 * transaction. `db` must have no transaction open. Tables only `src` has are created.
 */
export function replaceContents(db: Database, src: string): void {
  db.run(`ATTACH DATABASE ${quoted(src)} AS incoming`);
  try {
    db.run("BEGIN IMMEDIATE");
    try {
      const tables = db.query(
        "SELECT name, sql FROM incoming.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
      ).all() as { name: string; sql: string }[];
      const mine = new Set(
        (db.query("SELECT name FROM main.sqlite_master WHERE type = 'table'").all() as { name: string }[])
          .map((r) => r.name),
      );
      for (const { name, sql } of tables) {
        if (!mine.has(name)) db.run(sql);
        db.run(`DELETE FROM main."${name}"`);
        db.run(`INSERT INTO main."${name}" SELECT * FROM incoming."${name}"`);
      }
      db.run("COMMIT");
    } catch (e) {
      db.run("ROLLBACK");
      throw e;
    }
  } finally {
    db.run("DETACH DATABASE incoming");
  }
}
