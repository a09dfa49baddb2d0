/**
 * Installing a leader's copy of the store (a Raft snapshot; made by snapshot.ts's
 * `copyStore`) in place of a member's contents.
 */
import type { Database } from "bun:sqlite";

/**
 * Replaces every table's rows in `db` with those of the database file at `src`, in one
 * transaction. `db` must have no transaction open. Tables only `src` has are created.
 */
export function replaceContents(db: Database, src: string): void {
  db.run("ATTACH DATABASE ?1 AS incoming", [src]);
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
        // By name: a copy from an older version may lack columns added since (the schema
        // migration fills them in afterwards, see schema.ts `upgradeSchema`).
        const columns =
          (db.query(`SELECT name FROM pragma_table_info(?1, 'incoming')`).values(name) as string[][])
            .map(([c]) => `"${c.replaceAll('"', '""')}"`).join(", ");
        db.run(`DELETE FROM main."${name}"`);
        db.run(`INSERT INTO main."${name}" (${columns}) SELECT ${columns} FROM incoming."${name}"`);
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
