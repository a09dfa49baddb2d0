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
 * catch every burst of up to 32 flipped bits. It covers, in this order: mod_rev, sub,
 * create_rev, version and lease as little-endian int64, the key, then the value.
 */
import { Code, type EtcdError, etcdError } from "../api/errors.ts";
import { goQuote } from "../lib/gofmt.ts";
import type { KvRow } from "./kv.ts";

/**
 * The columns of a row as the verifying reads select them: a KvRow, then what the check
 * needs besides (the sub-revision and the stored checksum).
 */
export const STORED_COLUMNS = "key, create_rev, mod_rev, version, lease, value, sub, crc";

/**
 * A row selected with STORED_COLUMNS. `crc` is null for a row written without one (by an
 * older version into a snapshot it sent, or by hand): such a row cannot be verified.
 */
export type StoredRow = [...KvRow, sub: bigint, crc: bigint | number | null];

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

/**
 * The bytes summed, laid out in one buffer when they fit, so that a row costs one native
 * call (each call costs about as much as summing 256 bytes): the fixed-size fields, the
 * key, the value. Views of it are kept by length, made once each. A larger row is summed
 * in three calls with the same result (a CRC can be continued from its running value).
 */
const SCRATCH = new Uint8Array(4096);
const VIEW = new DataView(SCRATCH.buffer);
const FIELDS = SCRATCH.subarray(0, 40);
const PREFIXES: (Uint8Array | undefined)[] = [];

/** The checksum of a revision: `row` as selected (see KvRow), `sub` its sub-revision. */
export function checksumOf(row: KvRow | StoredRow, sub: bigint | number): number {
  const key = row[0];
  const value = row[5];
  VIEW.setBigInt64(0, row[2], true);
  VIEW.setBigInt64(8, typeof sub === "bigint" ? sub : BigInt(sub), true);
  VIEW.setBigInt64(16, row[1], true);
  VIEW.setBigInt64(24, row[3], true);
  VIEW.setBigInt64(32, row[4], true);
  const n = 40 + key.length + value.length;
  if (n > SCRATCH.length) return Bun.hash.crc32(value, Bun.hash.crc32(key, Bun.hash.crc32(FIELDS)));
  SCRATCH.set(key, 40);
  SCRATCH.set(value, 40 + key.length);
  return Bun.hash.crc32(PREFIXES[n] ??= SCRATCH.subarray(0, n));
}

/** The mismatch of `row` with its stored checksum, or null if it matches (or has none). */
export function mismatchOf(row: StoredRow): ChecksumMismatch | null {
  const stored = row[7];
  if (stored === null || Number(stored) === checksumOf(row, row[6])) return null;
  return new ChecksumMismatch({ key: row[0], revision: row[2], sub: row[6] });
}

/** Throws ChecksumMismatch if `row` does not match its stored checksum (a row without one passes). */
export function verifyRow(row: StoredRow): void {
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
