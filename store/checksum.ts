/**
 * Checksums of stored revisions: every `history` row carries a CRC-32 of its own fields
 * (column `crc`), written with the row and compared whenever the row is read for a client,
 * a snapshot, a hash or a scrub, so that a value damaged on disk (a flipped bit the file
 * system did not notice, a bad sector, a stray write) is reported with its key and
 * revision instead of being served, exported or hashed as if it were data.
 *
 * The checksum is CRC-32 (IEEE), the WAL's, computed natively by `Bun.hash.crc32`: the
 * CRC-32C of crc32c.ts is what etcd's HashKV prescribes, but in JS it costs six times as
 * much per value (199 vs 33 ns for 256 bytes here), which a Range pays on every row. Both
 * catch every burst of up to 32 flipped bits. It covers mod_rev and sub as little-endian
 * int64, the key, then the encoded KeyValue (`kv`), which holds every field: what a read
 * serves is what was checked, and the key the key index filed the revision under too (a
 * damaged key would have a read answer another key's revision). The other columns that
 * repeat fields of `kv` for the key index (create_rev, version, lease) a scrub compares
 * with it (integrity.ts).
 */
import { Code, type EtcdError, etcdError } from "../api/errors.ts";
import { goQuote } from "../lib/gofmt.ts";

/**
 * The columns of a row as the verifying reads select them: the revision, its checksum, the
 * key and the encoded KeyValue (see schema.ts).
 */
export const STORED_COLUMNS = "mod_rev, sub, crc, key, kv";

/**
 * A row selected with STORED_COLUMNS. `crc` is null for a row written without one (by
 * hand): such a row cannot be verified.
 */
export type StoredRow = [
  modRev: bigint,
  sub: bigint,
  crc: bigint | number | null,
  key: Uint8Array,
  kv: Uint8Array,
];

/** A row whose first columns are STORED_COLUMNS. */
type Stored = readonly [...StoredRow, ...unknown[]];

/** A stored revision whose fields no longer match their checksum. */
export class ChecksumMismatch extends Error {
  readonly key: Uint8Array;
  /** The main revision (mod_rev) of the damaged row. */
  readonly revision: bigint;
  readonly sub: bigint;

  constructor(row: { key: Uint8Array; revision: bigint; sub: bigint }) {
    const at = row.sub === 0n ? `revision ${row.revision}` : `revision ${row.revision} (sub ${row.sub})`;
    super(`key ${goQuote(row.key)} at ${at} does not match its checksum`);
    this.key = row.key;
    this.revision = row.revision;
    this.sub = row.sub;
  }
}

const REVISION = new DataView(new ArrayBuffer(16));
const REVISION_BYTES = new Uint8Array(REVISION.buffer);

/** The checksum of a revision: main and sub revision, its key and its KeyValue as stored. */
export function checksumOf(modRev: bigint, sub: bigint | number, key: Uint8Array, kv: Uint8Array): number {
  REVISION.setBigInt64(0, modRev, true);
  REVISION.setBigInt64(8, typeof sub === "bigint" ? sub : BigInt(sub), true);
  return Bun.hash.crc32(kv, Bun.hash.crc32(key, Bun.hash.crc32(REVISION_BYTES)));
}

/** The mismatch of `row` with its stored checksum, or null if it matches (or has none). */
export function mismatchOf(row: Stored): ChecksumMismatch | null {
  const stored = row[2];
  if (stored === null || Number(stored) === checksumOf(row[0], row[1], row[3], row[4])) return null;
  return new ChecksumMismatch({ key: row[3], revision: row[0], sub: row[1] });
}

/** Throws ChecksumMismatch if `row` does not match its stored checksum (a row without one passes). */
export function verifyRow(row: Stored): void {
  const m = mismatchOf(row);
  if (m !== null) throw m;
}

/**
 * What a client is answered instead of a damaged row: DataLoss, etcd's code for a corrupt
 * cluster, with the key and revision. `what` names the request that failed, if not a read.
 */
export function corruptStoreError(m: ChecksumMismatch, what = ""): EtcdError {
  return etcdError(
    Code.DataLoss,
    `etcdserver: ${what === "" ? "" : `${what} failed: `}corrupt store: ${m.message}`,
  );
}
