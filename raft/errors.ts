/**
 * Expected failures are values: callers compare against these constants (`err ===
 * ErrProposalDropped`) instead of catching exceptions. Exceptions are reserved for broken
 * invariants (see assert.ts).
 */
export class RaftError {
  constructor(readonly code: string, readonly message: string) {}
  toString(): string {
    return this.message;
  }
}

/** The proposal was not accepted: no leader known, a transfer is in progress, a conf change
 * is still pending, or the uncommitted tail is full. The caller may retry later. */
export const ErrProposalDropped: RaftError = new RaftError("ProposalDropped", "raft proposal dropped");
/** The requested index precedes the first index still in the log (it was compacted). */
export const ErrCompacted: RaftError = new RaftError(
  "Compacted",
  "requested index is unavailable due to compaction",
);
/** The requested index is newer than the snapshot being applied. */
export const ErrSnapOutOfDate: RaftError = new RaftError(
  "SnapOutOfDate",
  "requested index is older than the existing snapshot",
);
/** The requested entries are not (yet) in storage. */
export const ErrUnavailable: RaftError = new RaftError(
  "Unavailable",
  "requested entry at index is unavailable",
);
/** The storage cannot produce a snapshot right now; Raft retries later. */
export const ErrSnapshotTemporarilyUnavailable: RaftError = new RaftError(
  "SnapshotTemporarilyUnavailable",
  "snapshot is temporarily unavailable",
);
/** A local-only message (MsgHup, MsgBeat, ...) was passed to `step` from the network. */
export const ErrStepLocalMsg: RaftError = new RaftError(
  "StepLocalMsg",
  "raft: cannot step raft local message",
);
/** A response came from a node that is not in the configuration. */
export const ErrStepPeerNotFound: RaftError = new RaftError(
  "StepPeerNotFound",
  "raft: cannot step as peer not found",
);
