/**
 * A consistent copy of the live store while writes go on (Maintenance.Snapshot).
 *
 * The store's own connection holds an open write transaction between group commits, so
 * the copy is read through a connection of its own: in WAL mode one read transaction sees
 * the last committed state for as long as it stays open, applied index included, so the
 * copy's content and applied index agree. Rows are copied table by table in primary-key
 * order, a slice at a time between event-loop turns, so a large store does not stall the
 * server (a single `VACUUM INTO` would block it for the whole copy).
 */
import { Database } from "bun:sqlite";
import * as fs from "node:fs";

/** Options of `copyStore`. */
export interface CopyOptions {
  /** Work at most this long before yielding to the event loop (default 8 ms). */
  sliceMs?: number;
  /** Stops the copy (the caller removes the partial file). */
  signal?: AbortSignal;
}

interface TableInfo {
  readonly name: string;
  /** Primary-key columns in key order; ["rowid"] for a rowid table without one. */
  readonly key: readonly string[];
  /** The columns to copy (with rowid first for a table keyed by it). */
  readonly columns: readonly string[];
}

const quote = (id: string) => `"${id.replaceAll('"', '""')}"`;

/**
 * Copies the committed state of the store at `srcPath` into a new SQLite file at
 * `destPath` (which must not exist), fsynced. The source may be written meanwhile.
 */
export async function copyStore(srcPath: string, destPath: string, opts: CopyOptions = {}): Promise<void> {
  const sliceMs = opts.sliceMs ?? 8;
  const dest = new Database(destPath, { create: true, safeIntegers: true, strict: true });
  try {
    // The copy is fsynced once at the end; a crash midway leaves a file nobody uses.
    dest.run("PRAGMA auto_vacuum = INCREMENTAL");
    dest.run("PRAGMA journal_mode = OFF");
    dest.run("PRAGMA synchronous = OFF");
    dest.run("ATTACH DATABASE ?1 AS src", [srcPath]);
    const schema = dest.query(
      `SELECT type, name, sql FROM src.sqlite_master
       WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY type = 'index', rowid`,
    ).all() as { type: string; name: string; sql: string }[];
    // The read transaction starts here and pins the source's committed state until COMMIT.
    dest.run("BEGIN");
    const tables = schema.filter((s) => s.type === "table").map((s) => tableInfo(dest, s.name));
    for (const s of schema) dest.run(s.sql);
    let sliceStart = performance.now();
    for (const t of tables) {
      for (const step of copyTable(dest, t)) {
        void step;
        if (performance.now() - sliceStart < sliceMs) continue;
        await new Promise((r) => setImmediate(r));
        if (opts.signal?.aborted) throw new Error("snapshot: canceled");
        sliceStart = performance.now();
      }
    }
    dest.run("COMMIT");
    dest.run("DETACH DATABASE src");
  } catch (err) {
    if (dest.inTransaction) dest.run("ROLLBACK");
    throw err;
  } finally {
    dest.close();
  }
  const fd = fs.openSync(destPath, "r+");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function tableInfo(db: Database, name: string): TableInfo {
  const cols = db.query(`PRAGMA src.table_info(${quote(name)})`).all() as { name: string; pk: bigint }[];
  const key = cols.filter((c) => c.pk > 0n).sort((a, b) => Number(a.pk - b.pk)).map((c) => c.name);
  const names = cols.map((c) => c.name);
  return key.length > 0
    ? { name, key, columns: names }
    : { name, key: ["rowid"], columns: ["rowid", ...names] };
}

/**
 * Copies one table in primary-key order, a batch per iteration (keyset pagination, so
 * each batch costs the same however far in); the batch size adapts to row sizes.
 */
function* copyTable(db: Database, t: TableInfo): Generator<void> {
  const keys = t.key.map(quote).join(", ");
  const cols = t.columns.map(quote).join(", ");
  const table = quote(t.name);
  const n = t.key.length;
  const after = t.key.map((_, i) => `?${i + 1}`).join(", ");
  const insert = `INSERT INTO main.${table} (${cols}) SELECT ${cols} FROM src.${table}`;
  const first = db.query(`${insert} ORDER BY ${keys} LIMIT ?1`);
  const next = db.query(`${insert} WHERE (${keys}) > (${after}) ORDER BY ${keys} LIMIT ?${n + 1}`);
  const descending = t.key.map((k) => `${quote(k)} DESC`).join(", ");
  const last = db.query(`SELECT ${keys} FROM main.${table} ORDER BY ${descending} LIMIT 1`);
  let batch = 8;
  let lastKey: unknown[] | null = null;
  for (;;) {
    const started = performance.now();
    const changes = lastKey === null
      ? first.run(batch).changes
      : next.run(...(lastKey as never[]), batch as never).changes;
    if (changes < batch) return;
    lastKey = last.values()[0] as unknown[];
    const took = performance.now() - started;
    if (took < 1 && batch < 8192) batch *= 2;
    else if (took > 4 && batch > 1) batch = Math.max(1, batch >> 1);
    yield;
  }
}
