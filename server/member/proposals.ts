/**
 * The proposal registry (etcd's wait registry with its request IDs): who waits for which
 * proposal, the proposals held while no leader is known, and the deadline after which a
 * caller is answered with a timeout. It knows nothing of Raft: the member tells it what
 * was applied and whether a leader is known.
 */
import type { InternalRaftRequest } from "../../proto/gen/etcdserverpb/raft_internal_pb.ts";
import { Errors, type EtcdError } from "../../api/errors.ts";
import type { MemberRecord } from "../../store/mvcc.ts";
import type { Outcome } from "../apply/apply.ts";
import type { Clock, Timer } from "./clock.ts";

/** A caller waiting for its proposal to be applied. */
export interface Proposal {
  readonly resolve: (outcome: Outcome | EtcdError) => void;
  readonly request: InternalRaftRequest;
  readonly startedMs: number;
}

interface ConfWaiter {
  readonly resolve: (r: readonly MemberRecord[] | EtcdError) => void;
  readonly startedMs: number;
}

export interface ProposalRegistryOptions {
  readonly memberId: bigint;
  readonly clock: Clock;
  /** After this long a waiting caller is answered with a timeout (etcd: 5 s + 2 elections). */
  readonly timeoutMs: number;
  /** Whether a leader is known now: it decides which timeout error a caller gets. */
  readonly leaderKnown: () => boolean;
}

/** How often waiting callers are checked against their deadline. */
const SWEEP_MS = 250;

export class ProposalRegistry {
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #leaderKnown: () => boolean;
  #nextId: bigint;
  readonly #waiting = new Map<bigint, Proposal>();
  /**
   * Proposals made while no leader was known, by request ID, oldest first, each with its
   * caller in `#waiting` (a timeout or stop() drops both). Raft drops them; etcd's node
   * holds a proposal until there is a leader (or its deadline), so a write made during an
   * election waits for its outcome instead of failing with "no leader".
   */
  #held = new Map<bigint, Uint8Array>();
  readonly #confWaiting = new Map<bigint, ConfWaiter>();
  #failed = 0;
  #sweeper: Timer | null = null;

  constructor(opts: ProposalRegistryOptions) {
    this.#clock = opts.clock;
    this.#timeoutMs = opts.timeoutMs;
    this.#leaderKnown = opts.leaderKnown;
    // Request IDs embed the member ID so that another member's entry never resolves our caller.
    this.#nextId = ((opts.memberId & 0xffffn) << 48n) |
      ((BigInt(opts.clock.now()) << 8n) & ((1n << 48n) - 1n));
  }

  /** Starts checking deadlines. */
  start(): void {
    this.#sweeper ??= this.#clock.every(SWEEP_MS, () => this.expire());
  }

  /** Stops checking deadlines and answers every caller with Stopped. */
  stop(): void {
    this.#sweeper?.cancel();
    this.#sweeper = null;
    for (const w of this.#waiting.values()) w.resolve(Errors.Stopped);
    this.#waiting.clear();
    this.#held.clear();
    for (const w of this.#confWaiting.values()) w.resolve(Errors.Stopped);
    this.#confWaiting.clear();
  }

  /** A fresh request ID, unique across the cluster. */
  nextId(): bigint {
    return this.#nextId++;
  }

  /** Callers waiting for their proposal (etcd_server_proposals_pending). */
  get pending(): number {
    return this.#waiting.size;
  }

  /** Proposals that failed: refused, or timed out (etcd_server_proposals_failed_total). */
  get failed(): number {
    return this.#failed;
  }

  /** Counts a proposal refused at once (it never waited). */
  refused(): void {
    this.#failed++;
  }

  /** Registers the caller of proposal `id`; resolves once apply or a deadline answers it. */
  wait(id: bigint, request: InternalRaftRequest): Promise<Outcome | EtcdError> {
    return new Promise((resolve) =>
      this.#waiting.set(id, { resolve, request, startedMs: this.#clock.now() })
    );
  }

  /** Holds proposal `id` (already waited for) until a leader is known. */
  hold(id: bigint, data: Uint8Array): void {
    this.#held.set(id, data);
  }

  /** Forgets proposal `id` if it is still held for a leader, answering its caller with `err`. */
  dropHeld(id: bigint, err: EtcdError): void {
    if (!this.#held.delete(id)) return;
    this.#failed++;
    const w = this.#waiting.get(id);
    this.#waiting.delete(id);
    w?.resolve(err);
  }

  /** Whether proposals are held for a leader. */
  get holding(): boolean {
    return this.#held.size > 0;
  }

  /**
   * A leader is known again: the held proposals go to `propose`, in order; one it refuses
   * (returns false) is answered with LeaderChanged.
   */
  releaseHeld(propose: (data: Uint8Array) => boolean): void {
    const held = this.#held;
    this.#held = new Map();
    for (const [id, data] of held) {
      if (propose(data)) continue;
      // Held ones have their caller: a timeout or stop() drops both.
      const w = this.#waiting.get(id)!;
      this.#waiting.delete(id);
      this.#failed++;
      w.resolve(Errors.LeaderChanged);
    }
  }

  /** The caller of proposal `id`, forgotten here: apply answers it. */
  take(id: bigint): Proposal | undefined {
    const w = this.#waiting.get(id);
    if (w !== undefined) this.#waiting.delete(id);
    return w;
  }

  /** Registers the caller of membership change `id`. */
  waitConf(id: bigint): Promise<readonly MemberRecord[] | EtcdError> {
    return new Promise((resolve) => this.#confWaiting.set(id, { resolve, startedMs: this.#clock.now() }));
  }

  /** Membership changes `ids` were applied: their callers get the membership. */
  confApplied(ids: readonly bigint[], members: readonly MemberRecord[]): void {
    for (const id of ids) {
      const w = this.#confWaiting.get(id);
      this.#confWaiting.delete(id);
      w?.resolve(members);
    }
  }

  /** Answers and forgets the callers waiting longer than the timeout. */
  expire(): void {
    const now = this.#clock.now();
    this.#failed += this.#timeOut(this.#waiting, now);
    this.#timeOut(this.#confWaiting, now);
  }

  #timeOut(
    waiters: Map<bigint, { resolve(e: EtcdError): void; readonly startedMs: number }>,
    now: number,
  ): number {
    let n = 0;
    for (const [id, w] of waiters) {
      if (now - w.startedMs <= this.#timeoutMs) continue;
      waiters.delete(id);
      n++;
      // Held all along for a leader: etcd answers with raft's Propose context error then.
      if (this.#held.delete(id)) w.resolve(Errors.ProposalDeadline);
      else w.resolve(this.#leaderKnown() ? Errors.Timeout : Errors.TimeoutDueToLeaderFail);
    }
    return n;
  }
}
