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
import type { KeyIndex } from "./key_index.ts";
import { RevisionBuffer } from "./revision_buffer.ts";

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
 * Compacts the key index at `rev` and deletes the history rows it dropped, at once; returns
 * how many. Runs inside the caller's transaction: for a store being restored, where nothing
 * waits on it. A live store's compactions walk and delete over several turns
 * (compaction_deletes.ts). Rows go by primary key, in revision order (pages in turn).
 */
export function compactHistory(db: Database, index: KeyIndex, rev: bigint): number {
  const dropped = new RevisionBuffer();
  index.compact(rev, "", Infinity, dropped, false); // a restore's index: nothing to roll back
  const del = db.prepare(DELETE_REVISION);
  try {
    return dropped.drain().take(Infinity, (main, sub) => del.run(main, sub));
  } finally {
    del.finalize();
  }
}

/** Deletes one revision's row: ?1 its main revision, ?2 its sub revision. */
export const DELETE_REVISION = "DELETE FROM history WHERE mod_rev = ?1 AND sub = ?2";
