/**
 * The start-up check that the replayed log and the store continue each other. The store
 * skips entries at or below its applied index on replay, so a log that ends before that
 * index (truncated or lost) would have new entries skipped as "already applied": writes
 * would hang and members diverge. A store behind the log's snapshot misses entries that
 * no longer exist anywhere. Either way, refuse to start rather than apply past a gap.
 */

/** What the log covers after replay: everything up to `snapshotIndex` lives in the store. */
export interface LogSpan {
  readonly snapshotIndex: bigint;
  readonly lastIndex: bigint;
}

const RECOVERY = "restore the member from a snapshot (etcdctl snapshot restore), or remove it from the " +
  "cluster (etcdctl member remove) and add it back with an empty data dir";

/** An Error saying how the log and a store at `applied` disagree, or null when they continue each other. */
export function logStoreMismatch(log: LogSpan, applied: bigint): Error | null {
  if (applied > log.lastIndex) {
    return new Error(
      `the store's applied index ${applied} is beyond the last log index ${log.lastIndex} and no ` +
        `snapshot covers it: the log lost entries ${log.lastIndex + 1n}..${applied}; ${RECOVERY}`,
    );
  }
  if (applied < log.snapshotIndex) {
    return new Error(
      `the store's applied index ${applied} is behind the log's snapshot at ${log.snapshotIndex}: ` +
        `entries ${applied + 1n}..${log.snapshotIndex} are in neither; ${RECOVERY}`,
    );
  }
  return null;
}
