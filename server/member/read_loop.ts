/**
 * The linearizable read loop (etcd's linearizableReadLoop): reads that arrive together
 * share one ReadIndex round; once the leader confirms its leadership at some index, they
 * wait for apply to reach it. A round that gets no answer within an election timeout is
 * asked again (the request may have been dropped by a leader change); a read is given up
 * once the request timeout has passed since it was made, however many rounds it was in.
 */
import { Errors, type EtcdError } from "../../api/errors.ts";
import type { ReadState } from "../../raft/mod.ts";
import type { Clock, Timer } from "./clock.ts";

interface ReadWaiter {
  readonly resolve: (e: EtcdError | null) => void;
  /** When the read was made: its timeout counts from here, across retried rounds. */
  readonly sinceMs: number;
}

/** Reads whose ReadIndex answer is known, waiting for apply to reach `index`. */
interface ParkedReads {
  readonly index: number;
  readonly waiters: ReadWaiter[];
}

interface ReadRound {
  readonly ctx: Uint8Array;
  readonly waiters: ReadWaiter[];
  readonly startedMs: number;
}

export interface ReadLoopOptions {
  /** Makes this member's request contexts differ from every other member's. */
  readonly memberId: bigint;
  readonly clock: Clock;
  /** A round unanswered this long is asked again. */
  readonly retryMs: number;
  /** A read unconfirmed this long after it was made fails with Timeout. */
  readonly timeoutMs: number;
  /** Asks Raft for a ReadIndex with this context (the answer comes back to onReadStates). */
  readonly requestIndex: (ctx: Uint8Array) => void;
  /** The index the store has applied. */
  readonly appliedIndex: () => number;
}

/** How often an unanswered round is checked. */
const SWEEP_MS = 250;

export class ReadLoop {
  readonly #opts: ReadLoopOptions;
  #queue: ReadWaiter[] = [];
  #round: ReadRound | null = null;
  #parked: ParkedReads[] = [];
  #counter = 0n;
  #sweeper: Timer | null = null;

  constructor(opts: ReadLoopOptions) {
    this.#opts = opts;
  }

  /** Starts retrying and timing out unanswered rounds. */
  start(): void {
    this.#sweeper ??= this.#opts.clock.every(SWEEP_MS, () => this.expire());
  }

  /** Stops the sweeps and answers every read not yet released with Stopped. */
  stop(): void {
    this.#sweeper?.cancel();
    this.#sweeper = null;
    for (const w of this.#queue) w.resolve(Errors.Stopped);
    if (this.#round) { for (const w of this.#round.waiters) w.resolve(Errors.Stopped); }
    for (const r of this.#parked) for (const w of r.waiters) w.resolve(Errors.Stopped);
    this.#queue = [];
    this.#round = null;
    this.#parked = [];
  }

  /**
   * Resolves (with null) when a linearizable read may be served from the local store: the
   * leader confirmed its leadership and this member applied up to that index.
   */
  read(): Promise<EtcdError | null> {
    return new Promise((resolve) => {
      this.#queue.push({ resolve, sinceMs: this.#opts.clock.now() });
      if (this.#round === null) this.#startRound();
    });
  }

  #startRound(): void {
    // The leader keys pending reads by context: every member's must differ from the others'.
    const ctx = new Uint8Array(16);
    const view = new DataView(ctx.buffer);
    view.setBigUint64(0, this.#opts.memberId);
    view.setBigUint64(8, ++this.#counter);
    this.#round = { ctx, waiters: this.#queue, startedMs: this.#opts.clock.now() };
    this.#queue = [];
    this.#opts.requestIndex(ctx);
  }

  /** Raft's answers to ReadIndex requests (a Ready's readStates). */
  onReadStates(states: readonly ReadState[]): void {
    const round = this.#round;
    if (round === null) return;
    for (const rs of states) {
      if (!bytesEqual(rs.requestCtx, round.ctx)) continue;
      this.#round = null;
      this.#parked.push({ index: rs.index, waiters: round.waiters });
      if (this.#queue.length > 0) this.#startRound();
    }
    this.onApplied();
  }

  /** Apply advanced: releases the reads it caught up with. */
  onApplied(): void {
    if (this.#parked.length === 0) return;
    const applied = this.#opts.appliedIndex();
    const still: ParkedReads[] = [];
    for (const r of this.#parked) {
      if (r.index <= applied) { for (const w of r.waiters) w.resolve(null); }
      else still.push(r);
    }
    this.#parked = still;
  }

  /** Asks again for a round unanswered too long, or fails it past the timeout. */
  expire(): void {
    const round = this.#round;
    const now = this.#opts.clock.now();
    if (round === null || now - round.startedMs <= this.#opts.retryMs) return;
    // The request may have been dropped (no leader, leader changed): ask again for the
    // reads still within their timeout, give the others up.
    this.#round = null;
    const again: ReadWaiter[] = [];
    for (const w of round.waiters) {
      if (now - w.sinceMs > this.#opts.timeoutMs) w.resolve(Errors.Timeout);
      else again.push(w);
    }
    this.#queue = [...again, ...this.#queue];
    if (this.#queue.length > 0) this.#startRound();
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
