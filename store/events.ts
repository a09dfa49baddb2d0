/**
 * Watch catch-up: the events of past revisions, read back from history in the order they
 * happened (revision, then position within the revision). Every row read, and every prevKv
 * (through the verifying reader), is checked against its checksum: ChecksumMismatch is
 * thrown rather than a damaged value sent to a watcher.
 */
import type { Database } from "bun:sqlite";
import { Errors, type EtcdError } from "../api/errors.ts";
import type { Event } from "../proto/gen/mvccpb/kv_pb.ts";
import { type KeyRange, keyRange, rangeArgs, rangeCondition } from "./keys.ts";
import { deleteEvent, keyValue, kvFromRow, kvRowOf, putEvent } from "./kv.ts";
import type { KvReader } from "./reader.ts";
import { STORED_COLUMNS, type StoredRow, verifyRow } from "./checksum.ts";

/** Which events to read. */
export interface EventsQuery {
  key: Uint8Array;
  /** etcd range rules: empty = just `key`, "\0" = from `key` on. */
  rangeEnd: Uint8Array;
  /** First revision wanted (inclusive). */
  fromRev: bigint;
  /** Last revision wanted (inclusive). */
  toRev: bigint;
  /** Fill each event's prevKv (the key as it was just before). */
  prevKv: boolean;
  /** At most this many revisions' worth of events (all events of a revision stay together). */
  limit?: number;
}

/**
 * Reads events in [fromRev, toRev]. Like etcd's watchable store, a start below the
 * compaction revision is Compacted; starting exactly at it yields what the compaction
 * kept of that revision. Throws ChecksumMismatch at a damaged row.
 */
export function eventsSince(
  from: { db: Database; reader: KvReader; compactRev: bigint },
  q: EventsQuery,
): Event[] | EtcdError {
  const { db, reader, compactRev } = from;
  if (q.fromRev < compactRev) return Errors.Compacted;
  const range = keyRange(q.key, q.rangeEnd);
  const limit = q.limit ?? 0;
  const toRev = limit > 0 ? lastRevisionWithin(db, range, q, limit) : q.toRev;
  const rows = db.query(
    `SELECT ${STORED_COLUMNS} FROM history
     WHERE mod_rev >= ?1 AND mod_rev <= ?2 AND ${rangeCondition(range, 3)} ORDER BY mod_rev, sub`,
  ).values(q.fromRev, toRev, ...rangeArgs(range)) as unknown as StoredRow[];
  for (const row of rows) verifyRow(row);
  const kvRows = rows.map((row) => kvRowOf(row[4], row[0]));
  // An event at the compaction revision has no prevKv: its key's earlier revisions are
  // compacted (etcd reads the previous version at rev - 1, which it refuses as compacted),
  // whether or not the compaction's walk of the key index has reached the key yet.
  const previous = (key: Uint8Array, rev: bigint) => {
    if (!q.prevKv || rev <= compactRev) return undefined;
    const row = reader.before(key, rev);
    return row === null ? undefined : kvFromRow(row);
  };
  return kvRows.map(([key, createRevision, modRevision, version, lease, value]) => {
    if (version === 0n) return deleteEvent(key, modRevision, previous(key, modRevision));
    const kv = keyValue(key, { createRevision, modRevision, version, lease, value });
    return putEvent(kv, version === 1n ? undefined : previous(key, modRevision));
  });
}

/** The last revision to read so that at most `limit` distinct revisions with matching events are included. */
function lastRevisionWithin(db: Database, range: KeyRange, q: EventsQuery, limit: number): bigint {
  const revs = db.query(
    `SELECT DISTINCT mod_rev FROM history WHERE mod_rev >= ?1 AND mod_rev <= ?2 AND ${
      rangeCondition(range, 4)
    }
     ORDER BY mod_rev LIMIT ?3`,
  ).values(q.fromRev, q.toRev, limit, ...rangeArgs(range)) as bigint[][];
  return revs.length < limit ? q.toRev : revs[revs.length - 1][0];
}
