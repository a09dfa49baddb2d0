/**
 * Compaction (etcd's keyIndex.compact + scheduleCompaction): forgets history at and below
 * a revision, keeping for each key only its latest version at that revision, and not even
 * that when it is a tombstone below the revision. Reads at the compacted revision itself
 * still work.
 *
 * A tombstone exactly at the compaction revision is kept (until the next compaction): a
 * watcher may still start or resume at that revision, and without the row its DELETE
 * event would be lost. etcd 3.4.23 drops it and loses the event (etcd-io/etcd#17780,
 * fixed by keeping it in 3.4.34 and 3.5.15); HashKV still hashes as 3.4.23 (hash.ts).
 */
import type { Database } from "bun:sqlite";
import { Errors, type EtcdError } from "../api/errors.ts";

/**
 * Checks a compaction request against etcd's rules: a revision already compacted is an
 * error (Compacted) before one not yet written (FutureRev).
 */
export function checkCompaction(
  rev: bigint,
  state: { currentRev: bigint; compactRev: bigint },
): EtcdError | null {
  if (rev <= state.compactRev) return Errors.Compacted;
  if (rev > state.currentRev) return Errors.FutureRev;
  return null;
}

/**
 * Deletes the history rows a compaction at `rev` drops; returns how many. Runs inside the
 * caller's transaction, synchronously: the reply to a physical compaction waits anyway.
 */
export function compactHistory(db: Database, rev: bigint): number {
  const result = db.query(
    `DELETE FROM history WHERE mod_rev <= ?1 AND (
       (version = 0 AND mod_rev < ?1) OR
       mod_rev < (SELECT max(h.mod_rev) FROM history AS h WHERE h.key = history.key AND h.mod_rev <= ?1))`,
  ).run(rev);
  return result.changes;
}
