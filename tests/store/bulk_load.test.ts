/**
 * A store filled in one transaction (a restore's import) keeps its rollback journal in
 * memory until the load ends (store/schema.ts, `openForBulkLoad`): only on a new file, with
 * ROLLBACK still working, and ending in WAL mode like every store.
 */
import { afterAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { endBulkLoad, openDatabase, openForBulkLoad } from "../../store/schema.ts";
import { cleanup, tempDir } from "../harness.ts";

afterAll(cleanup);

const mode = (db: ReturnType<typeof openDatabase>) =>
  (db.query("PRAGMA journal_mode").values()[0] as string[])[0];
const rows = (db: ReturnType<typeof openDatabase>) =>
  Number((db.query("SELECT count(*) FROM history").values()[0] as bigint[])[0]);

function insert(db: ReturnType<typeof openDatabase>, from: number, n: number): void {
  const q = db.prepare(
    "INSERT INTO history (mod_rev, sub, key, create_rev, version, lease, kv) VALUES (?1, 0, ?2, ?1, 1, 0, ?3)",
  );
  for (let i = from; i < from + n; i++) q.run(BigInt(i), Buffer.from(`k${i}`), Buffer.alloc(300, i));
}

test("a bulk load writes no WAL, can roll back, and leaves a store in WAL mode", () => {
  const file = path.join(tempDir("bulk-load-"), "db");
  const db = openForBulkLoad(file);
  expect(mode(db)).toBe("memory");
  // More than the page cache holds, so pages spill to the file before the ROLLBACK.
  db.run("BEGIN IMMEDIATE");
  insert(db, 1, 80_000);
  expect(fs.statSync(file).size).toBeGreaterThan(16 << 20);
  db.run("ROLLBACK");
  expect(rows(db)).toBe(0);
  db.run("BEGIN IMMEDIATE");
  insert(db, 1, 2_000);
  db.run("COMMIT");
  expect(fs.existsSync(`${file}-wal`)).toBe(false);
  endBulkLoad(db);
  expect(mode(db)).toBe("wal");
  db.close();

  const again = openDatabase(file);
  expect(mode(again)).toBe("wal");
  expect(rows(again)).toBe(2_000);
  expect(again.query("PRAGMA integrity_check").values()).toEqual([["ok"]]);
  again.close();
});

test("a bulk load refuses a file that exists", () => {
  const file = path.join(tempDir("bulk-load-"), "db");
  openDatabase(file).close();
  expect(() => openForBulkLoad(file)).toThrow(
    `store: a bulk load needs a new file, ${file} exists`,
  );
});
