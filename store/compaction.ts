/**
 * Compaction (etcd's keyIndex.compact + scheduleCompaction): forgets history at and below
 * a revision, keeping for each key only its latest version at that revision, and not even
 * that when it is a tombstone. Reads at the compacted revision itself still work.
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
       version = 0 OR
       mod_rev < (SELECT max(h.mod_rev) FROM history AS h WHERE h.key = history.key AND h.mod_rev <= ?1))`,
  ).run(rev);
  return result.changes;
}
