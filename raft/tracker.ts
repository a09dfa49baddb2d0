import type { ConfState, NodeId } from "./messages.ts";
import { Progress } from "./progress.ts";

export const VoteResult = { Pending: 0, Lost: 1, Won: 2 } as const;
export type VoteResult = typeof VoteResult[keyof typeof VoteResult];

/**
 * The membership and everything the leader counts by quorum: each member's Progress, the
 * votes of an election, and which voters were recently active. Only voters count toward
 * any quorum; learners are replicated to but never counted.
 */
export class ProgressTracker {
  readonly voters = new Set<NodeId>();
  readonly learners = new Set<NodeId>();
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();
  private matchScratch = new Float64Array(8);

  constructor(readonly maxInflight: number) {}

  confState(): ConfState {
    return { voters: [...this.voters].sort(compareIds), learners: [...this.learners].sort(compareIds) };
  }

  isSingleton(): boolean {
    return this.voters.size === 1;
  }

  quorum(): number {
    return (this.voters.size >> 1) + 1;
  }

  /**
   * The largest index that a quorum of voters has persisted: the quorum-th largest match.
   * An empty voter set (the node was removed) commits nothing new.
   */
  committed(): number {
    const n = this.voters.size;
    if (n === 0) return Infinity;
    if (this.matchScratch.length < n) this.matchScratch = new Float64Array(n * 2);
    const m = this.matchScratch;
    let k = 0;
    for (const id of this.voters) m[k++] = this.progress.get(id)?.match ?? 0;
    const view = m.subarray(0, n);
    view.sort();
    // Sorted ascending: the element at n - quorum is matched by a quorum.
    return view[n - this.quorum()];
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  resetVotes(): void {
    this.votes.clear();
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const v = this.votes.get(id);
      if (v === undefined) continue;
      if (v) granted++;
      else rejected++;
    }
    const q = this.quorum();
    const result = granted >= q
      ? VoteResult.Won
      : this.voters.size - rejected < q
      ? VoteResult.Lost
      : VoteResult.Pending;
    return { granted, rejected, result };
  }

  /** Whether a quorum of voters was heard from recently (the leader counts itself active). */
  quorumActive(self: NodeId): boolean {
    let active = 0;
    for (const id of this.voters) {
      if (id === self || this.progress.get(id)?.recentActive) active++;
    }
    return active >= this.quorum();
  }

  /** Whether `ids` (e.g. read-index acknowledgements) include a quorum of voters. */
  hasQuorum(ids: ReadonlySet<NodeId>): boolean {
    let n = 0;
    for (const id of this.voters) if (ids.has(id)) n++;
    return n >= this.quorum();
  }

  isVoter(id: NodeId): boolean {
    return this.voters.has(id);
  }
}

export function compareIds(a: NodeId, b: NodeId): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
