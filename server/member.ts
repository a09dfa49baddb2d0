/**
 * This member's write path: proposals → the log → commit → apply → the waiting caller.
 *
 * Every mutation becomes an entry of the durable log; entries are applied to the store
 * only once committed, in order, one store transaction per batch carrying the applied
 * index, so after a crash replay resumes exactly after the last applied entry. Many
 * concurrent proposals share one log write and one fsync (group commit), and the next
 * batch is written while the previous one's fsync is in flight.
 *
 * The consensus step between "persisted" and "committed" is `Consensus`: a single node
 * commits what it persisted; the Raft-backed implementation commits by quorum.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type InternalRaftRequest,
  InternalRaftRequestSchema,
  RequestHeaderSchema,
} from "../proto/gen/etcdserverpb/raft_internal_pb.ts";
import { Errors, type EtcdError } from "../api/errors.ts";
import type { HardState, LogEntry, Wal } from "../wal/wal.ts";
import type { ApplyOutcome, MvccStore } from "../store/mvcc.ts";
import type { Event } from "../proto/gen/mvccpb/kv_pb.ts";

/** What the apply loop tells subscribers (the watch hub) after each applied batch. */
export interface AppliedBatch {
  /** Events of the batch, in revision order. */
  readonly events: readonly Event[];
  readonly revision: bigint;
}

export interface MemberOptions {
  readonly memberId: bigint;
  readonly clusterId: bigint;
  readonly wal: Wal;
  readonly store: MvccStore;
  readonly maxRequestBytes: number;
}

interface Waiter {
  resolve(outcome: ApplyOutcome | EtcdError): void;
}

/** Owns the log, the apply loop and the callers waiting for their entries. */
export class Member {
  readonly memberId: bigint;
  readonly clusterId: bigint;
  readonly #wal: Wal;
  readonly #store: MvccStore;
  readonly #maxRequestBytes: number;
  #term: bigint;
  #lastIndex: bigint;
  #committed: bigint;
  #nextRequestId = 1n;
  readonly #waiters = new Map<bigint, Waiter>();
  #pending: { entry: LogEntry; request: InternalRaftRequest }[] = [];
  #flushScheduled = false;
  /** Serialises apply: batch N+1 is applied only after batch N. */
  #applyChain: Promise<void> = Promise.resolve();
  readonly #listeners: ((b: AppliedBatch) => void)[] = [];
  #stopped = false;

  constructor(opts: MemberOptions) {
    this.memberId = opts.memberId;
    this.clusterId = opts.clusterId;
    this.#wal = opts.wal;
    this.#store = opts.store;
    this.#maxRequestBytes = opts.maxRequestBytes;
    const replay = opts.wal.replay;
    this.#lastIndex = opts.wal.lastIndex;
    this.#committed = this.#lastIndex;
    this.#replayUnapplied(replay.entries);
    // A lone member wins every election: a new term, announced by an empty entry, as Raft does.
    this.#term = replay.hardState.term + 1n;
    const empty: LogEntry = {
      index: this.#lastIndex + 1n,
      term: this.#term,
      type: 0,
      data: new Uint8Array(),
    };
    this.#lastIndex = empty.index;
    this.#committed = empty.index;
    opts.wal.save([empty], this.#hardState());
    opts.wal.syncNow();
    this.#store.applyBatch([{ index: empty.index, term: empty.term, request: null }]);
  }

  #hardState(): HardState {
    return { term: this.#term, vote: this.memberId, commit: this.#committed };
  }

  /** Applies, in order, the log entries the store had not applied when the process stopped. */
  #replayUnapplied(entries: readonly LogEntry[]): void {
    const applied = this.#store.appliedIndex();
    const todo = entries.filter((e) => e.index > applied);
    if (todo.length === 0) return;
    if (todo[0].index !== applied + 1n) {
      throw new Error(`log starts at ${todo[0].index} but the store has applied only up to ${applied}`);
    }
    const BATCH = 1000;
    for (let i = 0; i < todo.length; i += BATCH) {
      const batch = todo.slice(i, i + BATCH).map((e) => ({
        index: e.index,
        term: e.term,
        request: e.type === 0 && e.data.length > 0 ? fromBinary(InternalRaftRequestSchema, e.data) : null,
      }));
      this.#store.applyBatch(batch);
    }
  }

  get term(): bigint {
    return this.#term;
  }

  get leaderId(): bigint {
    return this.memberId;
  }

  get raftIndex(): bigint {
    return this.#lastIndex;
  }

  get appliedIndex(): bigint {
    return this.#store.appliedIndex();
  }

  /** Subscribes to applied batches (the watch hub). */
  onApplied(listener: (b: AppliedBatch) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Proposes a request; resolves once its entry is committed and applied, with the
   * store's outcome, or with an error value (too large, stopped).
   */
  propose(request: InternalRaftRequest): Promise<ApplyOutcome | EtcdError> {
    if (this.#stopped) return Promise.resolve(Errors.Stopped);
    const id = this.#nextRequestId++;
    request.header = create(RequestHeaderSchema, { ID: id });
    const data = toBinary(InternalRaftRequestSchema, request);
    if (data.length > this.#maxRequestBytes) return Promise.resolve(Errors.RequestTooLarge);
    const entry: LogEntry = { index: ++this.#lastIndex, term: this.#term, type: 0, data };
    this.#pending.push({ entry, request });
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flush);
    }
    return new Promise((resolve) => this.#waiters.set(id, { resolve }));
  }

  /** Linearizable reads may read the store once this resolves. A lone member is always current. */
  readIndex(): Promise<EtcdError | null> {
    return Promise.resolve(this.#stopped ? Errors.Stopped : null);
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    this.#committed = batch[batch.length - 1].entry.index;
    this.#wal.save(batch.map((p) => p.entry), this.#hardState());
    const synced = this.#wal.sync();
    this.#applyChain = this.#applyChain.then(() => synced).then(() => this.#apply(batch), (err) => {
      // A failed fsync means we cannot know what is durable: stop rather than guess.
      console.error("etcdts: fatal: log fsync failed:", err);
      process.exit(1);
    });
  };

  #apply(batch: { entry: LogEntry; request: InternalRaftRequest }[]): void {
    const outcomes = this.#store.applyBatch(
      batch.map((p) => ({ index: p.entry.index, term: p.entry.term, request: p.request })),
    );
    const events: Event[] = [];
    for (let i = 0; i < batch.length; i++) {
      const o = outcomes[i];
      if (o.ok) { for (const ev of o.events) events.push(ev); }
      const id = batch[i].request.header!.ID;
      const w = this.#waiters.get(id);
      if (w !== undefined) {
        this.#waiters.delete(id);
        w.resolve(o);
      }
    }
    if (events.length > 0 && this.#listeners.length > 0) {
      const b: AppliedBatch = { events, revision: this.#store.currentRevision() };
      for (const l of this.#listeners) l(b);
    }
  }

  /** Stops accepting proposals, finishes in-flight ones, and makes the log durable. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#flushScheduled) this.#flush();
    await this.#applyChain;
    for (const w of this.#waiters.values()) w.resolve(Errors.Stopped);
    this.#waiters.clear();
    this.#wal.close();
  }
}
