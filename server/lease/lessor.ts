/**
 * The lessor (etcd's lease.lessor): every member's in-memory view of the leases, and on
 * the leader, the clock that expires them.
 *
 * Every member learns grants, revokes and checkpoints as the store applies them, so any
 * member can take over. Only the primary (the Raft leader) tracks expiry: it renews on
 * keep-alive, and when a lease runs out it proposes a LeaseRevoke through the log, so
 * every member deletes the same keys at the same revision. A member that becomes leader
 * gives every lease its remaining TTL plus an election timeout (etcd's Promote), so a
 * leader change never expires leases whose owners could not reach anyone meanwhile.
 * Remaining TTLs are checkpointed through the log now and then (and persisted), so a
 * restarted cluster does not hand out full TTLs again.
 */
import { Errors, type EtcdError } from "../../api/errors.ts";
import type { LeaseChange, LeaseRow } from "../../store/lease.ts";

/** What the lessor proposes: a revoke or a batch of checkpoints (through Member.propose). */
export type LessorProposal =
  | { readonly kind: "revoke"; readonly id: bigint }
  | { readonly kind: "checkpoint"; readonly checkpoints: readonly { id: bigint; remainingTtl: bigint }[] };

/** Why a renew did not happen. */
export type RenewRefusal = "not-primary" | EtcdError;

export interface LessorOptions {
  /** Leases in the store when the member starts. */
  readonly initial: readonly LeaseRow[];
  /** Proposes through the log; the lessor does not wait for the outcome. */
  readonly propose: (p: LessorProposal) => void;
  /** How often remaining TTLs are checkpointed (etcd's default: 5 minutes); 0 disables. */
  readonly checkpointIntervalMs: number;
  /** The expiry loop's period (etcd: 500 ms). */
  readonly tickMs?: number;
  /** The clock, in ms (tests pass their own). */
  readonly now?: () => number;
}

interface Lease {
  /** Granted TTL, seconds. */
  readonly ttl: bigint;
  /** Last checkpointed remaining TTL, seconds; 0 = none. */
  remainingTtl: bigint;
  /** When it expires (ms); Infinity while this member is not primary. */
  expiryMs: number;
  /** When a revoke was last proposed for it (ms), 0 = never: retried after a while. */
  revokeProposedMs: number;
  /** When to checkpoint it next (ms), Infinity = not scheduled. */
  checkpointAtMs: number;
  /** Renewals waiting for an expired lease's revoke to apply. */
  waiters: ((r: bigint | RenewRefusal) => void)[];
}

/** etcd's maximum revokes per second, spread over ticks. */
const REVOKE_RATE = 1000;
/** etcd retries a revoke that did not apply after this long. */
const REVOKE_RETRY_MS = 3000;
/** etcd's maxLeaseCheckpointBatchSize. */
const MAX_CHECKPOINT_BATCH = 1000;

/** Every member's leases; the primary's expiry clock. */
export class Lessor {
  readonly #leases = new Map<bigint, Lease>();
  readonly #propose: (p: LessorProposal) => void;
  readonly #checkpointMs: number;
  readonly #now: () => number;
  readonly #tickMs: number;
  readonly #timer: ReturnType<typeof setInterval>;
  #primary = false;

  constructor(opts: LessorOptions) {
    this.#propose = opts.propose;
    this.#checkpointMs = opts.checkpointIntervalMs;
    this.#now = opts.now ?? Date.now;
    this.#tickMs = opts.tickMs ?? 500;
    for (const r of opts.initial) this.#add(r.id, r.ttl, r.remainingTtl);
    this.#timer = setInterval(() => this.tick(), this.#tickMs);
  }

  /** Whether this member manages expiry (it is the leader). */
  get primary(): boolean {
    return this.#primary;
  }

  /** Feed of applied lease entries (StateMachine.onLeaseChange). */
  applied(c: LeaseChange): void {
    switch (c.kind) {
      case "grant": {
        const l = this.#add(c.id, c.ttl, 0n);
        if (this.#primary) this.#refresh(l, 0);
        return;
      }
      case "revoke": {
        const l = this.#leases.get(c.id);
        if (l === undefined) return;
        this.#leases.delete(c.id);
        for (const w of l.waiters) w(Errors.LeaseNotFound);
        return;
      }
      case "checkpoint": {
        const l = this.#leases.get(c.id);
        if (l === undefined) return;
        l.remainingTtl = c.remainingTtl;
        if (this.#primary) this.#scheduleCheckpoint(l);
        return;
      }
    }
  }

  /**
   * The store was replaced by a leader's snapshot (only a follower receives one): the
   * leases are now exactly those rows.
   */
  restore(rows: readonly LeaseRow[]): void {
    const keep = new Set(rows.map((r) => r.id));
    for (const [id, l] of this.#leases) {
      if (keep.has(id)) continue;
      this.#leases.delete(id);
      for (const w of l.waiters) w(Errors.LeaseNotFound);
    }
    for (const r of rows) {
      const l = this.#leases.get(r.id) ?? this.#add(r.id, r.ttl, r.remainingTtl);
      l.remainingTtl = r.remainingTtl;
      if (this.#primary) this.#refresh(l, 0);
    }
  }

  /** Becomes primary: every lease gets its remaining TTL plus `extendMs` from now. */
  promote(extendMs: number): void {
    this.#primary = true;
    for (const l of this.#leases.values()) {
      l.revokeProposedMs = 0;
      this.#refresh(l, extendMs);
    }
  }

  /** Stops being primary: expiry is someone else's business; pending renewals go there. */
  demote(): void {
    this.#primary = false;
    for (const l of this.#leases.values()) {
      l.expiryMs = Infinity;
      l.checkpointAtMs = Infinity;
      const waiters = l.waiters;
      l.waiters = [];
      for (const w of waiters) w("not-primary");
    }
  }

  /**
   * Renews a lease (a keep-alive): its full TTL from now. Answers the TTL, LeaseNotFound,
   * or "not-primary" (forward to the leader). An expired lease whose revoke is in flight
   * waits for it and is then not found, as in etcd.
   */
  renew(id: bigint): bigint | RenewRefusal | Promise<bigint | RenewRefusal> {
    if (!this.#primary) return "not-primary";
    const l = this.#leases.get(id);
    if (l === undefined) return Errors.LeaseNotFound;
    if (l.expiryMs <= this.#now()) {
      return new Promise((resolve) => l.waiters.push(resolve));
    }
    if (l.remainingTtl > 0n) {
      // The checkpoint no longer holds once renewed; etcd clears it through the log too.
      l.remainingTtl = 0n;
      this.#propose({ kind: "checkpoint", checkpoints: [{ id, remainingTtl: 0n }] });
    }
    this.#refresh(l, 0);
    return l.ttl;
  }

  /** Granted and remaining TTL (seconds, truncated as etcd does) or null if unknown. */
  timeToLive(id: bigint): { grantedTtl: bigint; ttl: bigint } | null {
    const l = this.#leases.get(id);
    if (l === undefined) return null;
    const remainingMs = l.expiryMs - this.#now();
    const ttl = Number.isFinite(remainingMs) ? BigInt(Math.trunc(remainingMs / 1000)) : l.ttl;
    return { grantedTtl: l.ttl, ttl };
  }

  /** Lease IDs, soonest expiry first (etcd's Leases order). */
  list(): bigint[] {
    return [...this.#leases.entries()]
      .sort((a, b) => a[1].expiryMs - b[1].expiryMs || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([id]) => id);
  }

  /** Whether a lease is known here. */
  has(id: bigint): boolean {
    return this.#leases.has(id);
  }

  /** One round of the expiry loop: propose revokes for expired leases, checkpoints when due. */
  tick(): void {
    if (!this.#primary) return;
    const now = this.#now();
    let revokeBudget = Math.max(1, Math.floor((REVOKE_RATE * this.#tickMs) / 1000));
    const checkpoints: { id: bigint; remainingTtl: bigint }[] = [];
    for (const [id, l] of this.#leases) {
      if (l.expiryMs <= now) {
        if (revokeBudget > 0 && now - l.revokeProposedMs >= REVOKE_RETRY_MS) {
          revokeBudget--;
          l.revokeProposedMs = now;
          this.#propose({ kind: "revoke", id });
        }
        continue;
      }
      if (l.checkpointAtMs <= now && checkpoints.length < MAX_CHECKPOINT_BATCH) {
        l.checkpointAtMs = Infinity;
        const remaining = BigInt(Math.ceil((l.expiryMs - now) / 1000));
        if (remaining < l.ttl) checkpoints.push({ id, remainingTtl: remaining });
        else this.#scheduleCheckpoint(l);
      }
    }
    if (checkpoints.length > 0) this.#propose({ kind: "checkpoint", checkpoints });
  }

  /** Stops the expiry loop. */
  stop(): void {
    clearInterval(this.#timer);
    this.demote();
  }

  #add(id: bigint, ttl: bigint, remainingTtl: bigint): Lease {
    const l: Lease = {
      ttl,
      remainingTtl,
      expiryMs: Infinity,
      revokeProposedMs: 0,
      checkpointAtMs: Infinity,
      waiters: [],
    };
    this.#leases.set(id, l);
    return l;
  }

  #refresh(l: Lease, extendMs: number): void {
    const ttl = l.remainingTtl > 0n ? l.remainingTtl : l.ttl;
    l.expiryMs = this.#now() + extendMs + Number(ttl) * 1000;
    this.#scheduleCheckpoint(l);
  }

  // etcd checkpoints only leases that outlive an interval: short ones expire or renew first.
  #scheduleCheckpoint(l: Lease): void {
    if (this.#checkpointMs <= 0) return;
    const ttl = l.remainingTtl > 0n ? l.remainingTtl : l.ttl;
    l.checkpointAtMs = Number(ttl) * 1000 > this.#checkpointMs ? this.#now() + this.#checkpointMs : Infinity;
  }
}
