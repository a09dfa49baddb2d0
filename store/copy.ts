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
        const incoming = columnsOf(db, name, "incoming").map((c) => c.name);
        // By name: a copy from an older version may lack columns added since (the schema
        // migration fills them in afterwards, see schema.ts `upgradeSchema`). A history of
        // the layout before version 6, without the KeyValue column, is taken as it is, and
        // the migration converts it; no other table has a converter.
        const required = mine.has(name) && name === "history"
          ? columnsOf(db, name, "main").filter((c) => c.required)
          : [];
        if (required.some((c) => !incoming.includes(c.name))) {
          db.run(`DROP TABLE main."${name.replaceAll('"', '""')}"`);
          mine.delete(name);
        }
        if (!mine.has(name)) db.run(sql);
        const columns = incoming.map((c) => `"${c.replaceAll('"', '""')}"`).join(", ");
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

/** The columns of table `name` in the attached database `schema`; `required`: NOT NULL without a default. */
function columnsOf(db: Database, name: string, schema: string): { name: string; required: boolean }[] {
  const rows = db.query(`SELECT name, "notnull" AND dflt_value IS NULL FROM pragma_table_info(?1, ?2)`)
    .values(name, schema) as [string, bigint | number][];
  return rows.map(([c, required]) => ({ name: c, required: Number(required) === 1 }));
}
