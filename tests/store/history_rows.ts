/**
 * Changing stored revisions by hand, through SQLite, in a store no server has open: what
 * a failing disk (a damaged value, its checksum left alone), a bug (another value, with a
 * checksum to match) or an older version (its layout) leaves behind, for the tests of what
 * the store and the server make of it.
 */
import { Database } from "bun:sqlite";
import { expect } from "bun:test";
import { checksumOf } from "../../store/checksum.ts";
import { type KvRow, kvRowOf, storedKv } from "../../store/kv.ts";
import { v5ChecksumOf } from "../../store/layout_v5.ts";

/**
 * Replaces the value of `key`'s revision at `revision` (or its one revision) in the store
 * file `file` by `change(value)`. With `matching`, the row's checksum is made to match the
 * new value; without, it stays as it was, as damage on disk would leave it.
 */
export function rewriteValue(
  file: string,
  key: Uint8Array,
  revision: bigint | null,
  change: (value: Uint8Array) => Uint8Array,
  matching = false,
): void {
  const db = new Database(file, { safeIntegers: true, strict: true });
  try {
    const where = revision === null ? "key = ?1" : "key = ?1 AND mod_rev = ?2";
    const args = revision === null ? [key] : [key, revision];
    const found = db.query(`SELECT mod_rev, sub, kv FROM history WHERE ${where}`).values(...args) as [
      bigint,
      bigint,
      Uint8Array,
    ][];
    expect(found).toHaveLength(1);
    const [modRev, sub, kv] = found[0];
    const row = kvRowOf(kv, modRev);
    const bad = storedKv([row[0], row[1], row[2], row[3], row[4], change(new Uint8Array(row[5]))]);
    db.query("UPDATE history SET kv = ?1 WHERE mod_rev = ?2 AND sub = ?3").run(bad, modRev, sub);
    if (matching) {
      db.query("UPDATE history SET crc = ?1 WHERE mod_rev = ?2 AND sub = ?3").run(
        checksumOf(modRev, sub, row[0], bad),
        modRev,
        sub,
      );
    }
  } finally {
    db.close();
  }
}

/** Flips bit `mask` of byte `at` of the value (see `rewriteValue`), its checksum left alone. */
export function flipValueBit(
  file: string,
  key: Uint8Array,
  revision: bigint | null,
  at: number,
  mask: number,
): void {
  rewriteValue(file, key, revision, (v) => {
    v[at] ^= mask;
    return v;
  });
}

/**
 * Lays out `history` in the store file `file` as schema version 4 (no checksums) or 5
 * (value apart, checksums of the fields) wrote it, and says so in `meta`.
 */
export function toOlderLayout(file: string, version: 4 | 5): void {
  const db = new Database(file, { safeIntegers: true, strict: true });
  try {
    const rows = db.query("SELECT mod_rev, sub, kv FROM history ORDER BY mod_rev, sub").values() as [
      bigint,
      bigint,
      Uint8Array,
    ][];
    db.run("DROP TABLE history");
    db.run(`CREATE TABLE history (
      mod_rev INTEGER NOT NULL, sub INTEGER NOT NULL, key BLOB NOT NULL, create_rev INTEGER NOT NULL,
      version INTEGER NOT NULL, lease INTEGER NOT NULL, value BLOB NOT NULL${
      version === 5 ? ", crc INTEGER" : ""
    },
      PRIMARY KEY (mod_rev, sub)) WITHOUT ROWID`);
    for (const [modRev, sub, kv] of rows) {
      const row: KvRow = kvRowOf(kv, modRev);
      const fields = [row[2], sub, row[0], row[1], row[3], row[4], row[5]];
      if (version === 4) {
        db.query("INSERT INTO history VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)").run(...fields);
      } else {
        const crc = v5ChecksumOf([row[0], row[1], row[2], row[3], row[4], row[5], sub, null]);
        db.query("INSERT INTO history VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)").run(...fields, crc);
      }
    }
    db.run(`UPDATE meta SET schema_version = ${version}`);
  } finally {
    db.close();
  }
}
