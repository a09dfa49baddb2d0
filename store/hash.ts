/**
 * HashKV (etcd's store.HashByRev) and Maintenance.Hash. HashKV must agree across members
 * with the same history, and with etcd itself: CRC-32C over the bucket name "key" and, in
 * revision order, each retained revision's bbolt key and encoded KeyValue.
 */
import type { Database } from "bun:sqlite";
import { Errors, type EtcdError } from "../api/errors.ts";
import { crc32cUpdate } from "./crc32c.ts";
import { revisionKey } from "./encoding.ts";
import { encodeKeyValue } from "../wire/etcd.ts";
import { isTombstoneKv } from "./kv.ts";
import type { KeyIndex } from "./key_index.ts";
import type { Revisions } from "./applier.ts";
import { STORED_COLUMNS, type StoredRow, verifyRow } from "./checksum.ts";

/** A HashKV answer. */
export interface HashKvResult {
  hash: number;
  /** etcd's compact revision (-1 before the first compaction). */
  compactRevision: bigint;
  /** The revision hashed up to. */
  hashRevision: bigint;
  /** The store revision when hashed (the response header's). */
  currentRevision: bigint;
}

const KEY_BUCKET = new TextEncoder().encode("key");
const TOMBSTONE = { createRevision: 0n, version: 0n, value: new Uint8Array(0), lease: 0n };

/**
 * Hashes the history up to `revision` (0 = current). Like etcd, revisions at or below the
 * compaction count only if they are still their key's latest at `revision` — unless no
 * key exists at `revision`, where etcd's empty keep-set counts them all.
 */
export function hashKv(
  db: Database,
  index: KeyIndex,
  query: { revision: bigint; revs: Revisions },
): HashKvResult | EtcdError {
  const { revision, revs: { compactRev, currentRev } } = query;
  if (revision > 0n && revision <= compactRev) return Errors.Compacted;
  if (revision > 0n && revision > currentRev) return Errors.FutureRev;
  const rev = revision === 0n ? currentRev : revision;
  const keepEmpty = !index.anyExistsAt(rev);
  let hash = crc32cUpdate(0, KEY_BUCKET);
  forEachRevision(db, rev, (row) => {
    const [modRev, sub, , key, kv] = row;
    const tombstone = isTombstoneKv(key, kv);
    // Kept only for watchers (compaction.ts); etcd 3.4.23 has deleted it from its backend.
    if (tombstone && modRev === compactRev) return;
    if (modRev <= compactRev && !keepEmpty && index.changedBetween(key, modRev, rev)) return;
    hash = crc32cUpdate(hash, revisionKey(modRev, sub, tombstone));
    hash = crc32cUpdate(hash, kv);
  });
  return { hash, compactRevision: compactRev, hashRevision: rev, currentRevision: currentRev };
}

/**
 * Maintenance.Hash: a checksum of the whole store content except the applied index and
 * term (which legitimately differ between members, as etcd ignores its consistent index).
 */
export function hashStore(db: Database): number {
  let hash = crc32cUpdate(0, KEY_BUCKET);
  const meta = db.query("SELECT current_rev, compact_rev FROM meta WHERE id = 0").values()[0] as bigint[];
  hash = crc32cUpdate(hash, revisionKey(meta[0], meta[1], false));
  forEachRevision(db, meta[0], (row) => {
    const [modRev, sub, , key, kv] = row;
    const tombstone = isTombstoneKv(key, kv);
    hash = crc32cUpdate(hash, revisionKey(modRev, sub, tombstone));
    // A tombstone as this hash has always taken it: its key and revision.
    hash = crc32cUpdate(hash, tombstone ? encodeKeyValue({ ...TOMBSTONE, key, modRevision: modRev }) : kv);
  });
  for (const row of db.query("SELECT id, ttl FROM leases ORDER BY id").values() as bigint[][]) {
    hash = crc32cUpdate(hash, revisionKey(row[0], row[1], false));
  }
  return hash;
}

const PAGE = 1024;

/**
 * Visits history rows up to `maxRev` in revision order, a page at a time to bound memory,
 * each checked against its checksum first: throws ChecksumMismatch rather than hash a
 * damaged row as if it were data. `kv` is what etcd's backend holds for the revision, so
 * it is hashed as it is.
 */
function forEachRevision(db: Database, maxRev: bigint, visit: (row: StoredRow) => void): void {
  const columns = STORED_COLUMNS;
  const first = db.query(
    `SELECT ${columns} FROM history WHERE mod_rev <= ?1 ORDER BY mod_rev, sub LIMIT ${PAGE}`,
  );
  const next = db.query(
    `SELECT ${columns} FROM history
     WHERE mod_rev <= ?1 AND (mod_rev, sub) > (?2, ?3) ORDER BY mod_rev, sub LIMIT ${PAGE}`,
  );
  let rows = first.values(maxRev) as unknown as StoredRow[];
  while (rows.length > 0) {
    for (const row of rows) {
      verifyRow(row);
      visit(row);
    }
    if (rows.length < PAGE) return;
    const last = rows[rows.length - 1];
    rows = next.values(maxRev, last[0], last[1]) as unknown as StoredRow[];
  }
}
