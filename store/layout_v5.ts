/**
 * The `history` layout of schema versions 4 and 5: each field of a revision in a column of
 * its own, the value apart, and from version 5 a checksum of them. Kept to convert such a
 * store to the current layout (schema.ts) and to check a file of that layout without
 * converting it (integrity.ts: `snapshot restore`, `check integrity`).
 */
import type { Database } from "bun:sqlite";
import { ChecksumMismatch, checksumOf } from "./checksum.ts";
import { type KvFields, storedKv } from "./kv.ts";
import { pager } from "./pages.ts";

/** Version 5's verified columns: a revision's fields (KvFields), then the sub-revision and the checksum. */
const V5_COLUMNS = "key, create_rev, mod_rev, version, lease, value, sub, crc";

/** A row of version 5's `history` (`crc` null in version 4, which had none). */
export type V5Row = [...KvFields, sub: bigint, crc: bigint | number | null];

/** Whether `db`'s `history` has the version 4/5 layout (no `kv` column). */
export function isV5Layout(db: Database): boolean {
  return !columnsOf(db).includes("kv");
}

/** V5_COLUMNS for `db`'s `history`, whose checksums may predate version 5 (then read as null). */
export function v5Columns(db: Database): string {
  return columnsOf(db).includes("crc") ? V5_COLUMNS : V5_COLUMNS.replace(/\bcrc$/, "NULL");
}

function columnsOf(db: Database): string[] {
  return db.query("SELECT name FROM pragma_table_info('history')").values().flat() as string[];
}

/** The keyset order of both layouts. */
export const V5_BY_REVISION = { columns: ["mod_rev", "sub"], of: (r: V5Row) => [r[2], r[6]] };

/**
 * Version 5's checksum: CRC-32 of mod_rev, sub, create_rev, version and lease as
 * little-endian int64, then the key, then the value.
 */
export function v5ChecksumOf(row: V5Row): number {
  const fields = new DataView(new ArrayBuffer(40));
  [row[2], row[6], row[1], row[3], row[4]].forEach((v, i) => fields.setBigInt64(8 * i, v, true));
  return Bun.hash.crc32(row[5], Bun.hash.crc32(row[0], Bun.hash.crc32(new Uint8Array(fields.buffer))));
}

/** The mismatch of a version 5 row with its checksum, or null if it matches (or has none). */
export function v5MismatchOf(row: V5Row): ChecksumMismatch | null {
  const stored = row[7];
  if (stored === null || Number(stored) === v5ChecksumOf(row)) return null;
  return new ChecksumMismatch({ key: row[0], revision: row[2], sub: row[6] });
}

/**
 * Copies every row of `history` (version 4 or 5) into `into` (the current layout), inside
 * the caller's transaction; returns how many. A row that does not match its version 5
 * checksum gets one that does not match either: a damaged value must stay known as damaged
 * (reads refuse it, a scrub reports it) rather than be certified by the conversion.
 */
export function convertHistory(db: Database, into: string): number {
  const insert = db.prepare(
    `INSERT INTO ${into} (key, mod_rev, sub, create_rev, version, lease, crc, kv) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)`,
  );
  let converted = 0;
  try {
    for (
      const rows of pager<V5Row>(db, `SELECT ${v5Columns(db)} FROM history`, {
        ...V5_BY_REVISION,
        batch: 4096,
      })
    ) {
      for (const row of rows) {
        const [key, createRev, modRev, version, lease, , sub] = row;
        const kv = storedKv(row);
        const crc = checksumOf(modRev, sub, key, kv);
        insert.run(
          key,
          modRev,
          sub,
          createRev,
          version,
          lease,
          v5MismatchOf(row) === null ? crc : (crc ^ 1) >>> 0,
          kv,
        );
      }
      converted += rows.length;
    }
  } finally {
    insert.finalize();
  }
  return converted;
}
