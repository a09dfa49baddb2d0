import { Inflights } from "./inflights.ts";

/**
 * How the leader currently talks to a follower:
 * - probe: we do not know where its log matches; send one MsgApp per heartbeat until it answers.
 * - replicate: its log matches up to `match`; stream MsgApps optimistically, bounded by inflights.
 * - snapshot: it needs a snapshot; send nothing until the snapshot is reported done or failed.
 */
export const ProgressState = { Probe: 0, Replicate: 1, Snapshot: 2 } as const;
export type ProgressState = typeof ProgressState[keyof typeof ProgressState];

export function progressStateName(s: ProgressState): string {
  return s === ProgressState.Probe ? "probe" : s === ProgressState.Replicate ? "replicate" : "snapshot";
}

/** The leader's view of one follower's log. Invariant: match < next. */
export class Progress {
  state: ProgressState = ProgressState.Probe;
  /** In probe state: a MsgApp is outstanding, so wait for its answer or the next heartbeat. */
  probeSent = false;
  /** The index of the snapshot being sent, while in snapshot state. */
  pendingSnapshot = 0;
  /** Heard from since the last CheckQuorum round (or newly added). */
  recentActive = false;
  readonly inflights: Inflights;

  match: number;
  next: number;
  isLearner: boolean;

  constructor(match: number, opts: { next: number; maxInflight: number; learner: boolean }) {
    this.match = match;
    this.next = opts.next;
    this.isLearner = opts.learner;
    this.inflights = new Inflights(opts.maxInflight);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot, resume right after it (or after match if that is further).
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
  }

  /** Records an acknowledgement of index n; false if it was stale. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /** In replicate state the next MsgApp starts right after the last one sent. */
  optimisticUpdate(n: number): void {
    this.next = n + 1;
  }

  /**
   * Handles a rejected MsgApp for index `rejected`; `matchHint` is the highest index the
   * follower may match at. Returns false if the rejection is stale (out of order).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      // A rejection for an index at or below match is a duplicate from before.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // In probe state only the rejection of the last probe (index next-1) counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Whether sending more MsgApps to this follower must wait. */
  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflights.full();
      default:
        return true;
    }
  }

  toString(): string {
    return `${progressStateName(this.state)} match=${this.match} next=${this.next}` +
      (this.isLearner ? " learner" : "") + (this.probeSent ? " paused" : "") +
      (this.pendingSnapshot > 0 ? ` pendingSnap=${this.pendingSnapshot}` : "") +
      (this.recentActive ? "" : " inactive") +
      (this.inflights.size() > 0 ? ` inflight=${this.inflights.size()}` : "");
  }
}
