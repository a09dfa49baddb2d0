/**
 * This member's write path: proposal → Raft → the durable log → commit → apply → the
 * waiting caller; and linearizable reads through ReadIndex.
 *
 * `raft/` is a pure state machine; this module is its driver (etcd's raftNode): it ticks
 * it, feeds it peer messages and proposals, and for each Ready persists entries and hard
 * state to the WAL (one fsync for everything proposed meanwhile: group commit), only then
 * sends messages, then applies committed entries to the store in one SQLite transaction
 * carrying the applied index, so a restart replays exactly the unapplied tail. A single
 * node is a cluster of one and goes through exactly the same path.
 */
import type { InternalRaftRequest } from "../proto/gen/etcdserverpb/raft_internal_pb.ts";
import { Errors, type EtcdError } from "../api/errors.ts";
import type { HardState as WalHardState, LogEntry, Wal } from "../wal/wal.ts";
import type {
  ApplyOutcome,
  LogEntry as StoreEntry,
  MemberChange,
  MemberRecord,
  MvccStore,
} from "../store/mvcc.ts";
import { confChangeFor, memberChangeOf } from "./conf-change.ts";
import { decodeProposal, encodeProposal, requestIdOf } from "./proposal_codec.ts";
import { errorFields, log } from "./log.ts";
import { softStateLines } from "./raft_events.ts";
import { logStoreMismatch } from "./log_store_check.ts";
import type { Event } from "../proto/gen/mvccpb/kv_pb.ts";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  type ConfState,
  decodeConfChange,
  type Entry,
  EntryType,
  MemoryStorage,
  type Message,
  MessageType,
  RawNode,
  type ReadState,
  type Ready,
  type Snapshot,
  type SoftState,
  StateType,
} from "../raft/mod.ts";

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
  /**
   * Voters of a brand-new cluster (this member included), with each one's conf change
   * context; ignored when the log exists, empty for a member joining an existing cluster.
   */
  readonly initialVoters: readonly bigint[];
  readonly initialContexts?: ReadonlyMap<bigint, Uint8Array>;
  /** Called after applied conf changes changed the membership. */
  readonly onMembersChanged?: (members: readonly MemberRecord[]) => void;
  /** Called once this member applied its own removal: it must stop (etcd exits). */
  readonly onRemoved?: () => void;
  readonly heartbeatMs: number;
  readonly electionMs: number;
  readonly preVote: boolean;
  /** Sends Raft messages to peers; a lone member never calls it. */
  readonly send?: (messages: readonly Message[]) => void;
  /**
   * Sends a MsgSnap with the store copy at `dbFile` to its recipient; resolves whether it
   * arrived. The member deletes the file afterwards.
   */
  readonly sendSnapshot?: (m: Message, dbFile: string) => Promise<boolean>;
  /** Snapshot the store every this many applied entries (etcd's --snapshot-count); 0 never. */
  readonly snapshotCount?: number;
  /** Entries kept in the log after a snapshot, for slow followers (etcd: 5000). */
  readonly catchUpEntries?: number;
  /** Log segments kept after a snapshot (etcd's --max-wals; 0 = only what is needed). */
  readonly maxWals?: number;
  /** A directory for store copies on their way to or from peers. */
  readonly snapDir?: string;
}

type Resolve = (outcome: ApplyOutcome | EtcdError) => void;

interface Waiter {
  readonly resolve: Resolve;
  readonly request: InternalRaftRequest;
  readonly startedMs: number;
}

type ReadWaiter = (e: EtcdError | null) => void;

/** What the apply loop tells subscribers after it replaced the store with a leader's snapshot. */
export interface SnapshotInstalled {
  /** The store's revision before the snapshot: watchers were in sync up to it. */
  readonly previousRevision: bigint;
  readonly revision: bigint;
}

interface ConfWaiter {
  readonly resolve: (r: readonly MemberRecord[] | EtcdError) => void;
  readonly startedMs: number;
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

function toWalEntry(e: Entry): LogEntry {
  return { index: BigInt(e.index), term: BigInt(e.term), type: e.type, data: e.data };
}

function toRaftEntry(e: LogEntry): Entry {
  return { index: Number(e.index), term: Number(e.term), type: e.type, data: e.data };
}

/** Owns the Raft node, the log, the apply loop and the callers waiting for them. */
export class Member {
  readonly memberId: bigint;
  readonly clusterId: bigint;
  readonly #wal: Wal;
  readonly #store: MvccStore;
  readonly #storage: MemoryStorage;
  readonly #node: RawNode;
  readonly #maxRequestBytes: number;
  readonly #send: (messages: readonly Message[]) => void;
  readonly #requestTimeoutMs: number;
  readonly #electionMs: number;
  readonly #heartbeatMs: number;
  #nextRequestId: bigint;
  readonly #waiters = new Map<bigint, Waiter>();
  /**
   * Proposals made while no leader was known, by request ID, oldest first, each with its
   * waiter in `#waiters` (a timeout or stop() drops both). Raft drops them; etcd's node
   * holds a proposal until there is a leader (or its deadline), so a write made during an
   * election waits for its outcome instead of failing with "no leader".
   */
  #awaitingLeader = new Map<bigint, Uint8Array>();
  readonly #confWaiters = new Map<bigint, ConfWaiter>();
  readonly #onMembersChanged: (members: readonly MemberRecord[]) => void;
  readonly #onRemoved: () => void;
  #removed = false;
  readonly #sendSnapshot: (m: Message, dbFile: string) => Promise<boolean>;
  readonly #snapshotCount: number;
  readonly #catchUpEntries: number;
  readonly #maxWals: number;
  readonly #snapDir: string;
  /** The membership Raft last reported (what a snapshot records). */
  #confState: ConfState;
  /** Index of the last snapshot in the log (0: none). */
  #snapshotIndex: number;
  /** Store copies received from the leader, by snapshot index, until Raft accepts one. */
  readonly #incoming = new Map<number, string>();
  readonly #snapshotListeners: ((s: SnapshotInstalled) => void)[] = [];
  #copies = 0;
  readonly #listeners: ((b: AppliedBatch) => void)[] = [];
  readonly #leaderListeners: ((isLeader: boolean) => void)[] = [];
  #wasLeader = false;
  #readQueue: ReadWaiter[] = [];
  #readRound: ReadRound | null = null;
  #readsAwaitingApply: ParkedReads[] = [];
  #readCounter = 0n;
  #scheduled = false;
  #running = false;
  #stopped = false;
  #lead = 0n;
  /** The role and leader last logged (raft_events.ts). */
  #soft: SoftState = { lead: 0n, state: StateType.Follower };
  #leaderChanges = 0;
  #proposalsFailed = 0;
  /** The only voter: campaigns at once instead of waiting out an election timeout. */
  readonly #lonely: boolean;
  readonly #ticker: ReturnType<typeof setInterval>;
  readonly #sweeper: ReturnType<typeof setInterval>;

  constructor(opts: MemberOptions) {
    this.memberId = opts.memberId;
    this.clusterId = opts.clusterId;
    this.#wal = opts.wal;
    this.#store = opts.store;
    this.#maxRequestBytes = opts.maxRequestBytes;
    this.#send = opts.send ?? (() => {});
    this.#onMembersChanged = opts.onMembersChanged ?? (() => {});
    this.#onRemoved = opts.onRemoved ?? (() => {});
    this.#sendSnapshot = opts.sendSnapshot ?? (() => Promise.resolve(false));
    this.#snapshotCount = opts.snapshotCount ?? 0;
    this.#catchUpEntries = opts.catchUpEntries ?? 5000;
    this.#maxWals = opts.maxWals ?? 0;
    this.#snapDir = opts.snapDir ?? os.tmpdir();
    this.#electionMs = opts.electionMs;
    this.#heartbeatMs = opts.heartbeatMs;
    // etcd: 5s plus twice the election timeout before a proposal is declared timed out.
    this.#requestTimeoutMs = 5000 + 2 * opts.electionMs;
    // Request IDs embed the member ID so that another member's entry never resolves our caller.
    this.#nextRequestId = ((opts.memberId & 0xffffn) << 48n) |
      ((BigInt(Date.now()) << 8n) & ((1n << 48n) - 1n));

    const replay = opts.wal.replay;
    const mismatch = logStoreMismatch(
      { snapshotIndex: replay.snapshot.index, lastIndex: opts.wal.lastIndex },
      opts.store.appliedIndex(),
    );
    if (mismatch !== null) throw mismatch;
    this.#storage = new MemoryStorage();
    this.#snapshotIndex = Number(replay.snapshot.index);
    // Marks written before they carried the membership fall back to the store's roster.
    const members = opts.store.members();
    this.#confState = replay.snapshot.confState ?? {
      voters: members.filter((m) => !m.isLearner).map((m) => m.id),
      learners: members.filter((m) => m.isLearner).map((m) => m.id),
    };
    if (replay.snapshot.index > 0n) {
      this.#storage.applySnapshot({
        data: new Uint8Array(),
        metadata: {
          index: Number(replay.snapshot.index),
          term: Number(replay.snapshot.term),
          confState: this.#confState,
        },
      });
    }
    const hs = replay.hardState;
    this.#storage.setHardState({ term: Number(hs.term), vote: hs.vote, commit: Number(hs.commit) });
    this.#storage.append(replay.entries.map(toRaftEntry));
    // Like etcd, Raft restarts from the snapshot and re-delivers the entries after it, so
    // conf changes rebuild the membership; entries the store already holds are skipped.
    const applied = Number(replay.snapshot.index);
    this.#node = new RawNode({
      id: opts.memberId,
      peers: opts.initialVoters,
      peerContexts: opts.initialContexts,
      storage: this.#storage,
      electionTick: Math.max(2, Math.round(opts.electionMs / opts.heartbeatMs)),
      heartbeatTick: 1,
      preVote: opts.preVote,
      checkQuorum: true,
      applied,
      seed: Number(opts.memberId & 0xffffffn),
    });
    this.#lonely = opts.initialVoters.length === 1 && opts.initialVoters[0] === opts.memberId;
    this.#ticker = setInterval(() => {
      this.#node.tick();
      this.#schedule();
    }, opts.heartbeatMs);
    this.#sweeper = setInterval(() => this.#expire(), 250);
    this.#schedule();
  }

  get term(): bigint {
    return BigInt(this.#node.raft.term);
  }

  /** The current leader's ID, 0 when none is known. */
  get leaderId(): bigint {
    return this.#lead;
  }

  get isLeader(): boolean {
    return this.#node.raft.state === StateType.Leader;
  }

  get leaderChanges(): number {
    return this.#leaderChanges;
  }

  /** Proposals waiting to be applied (etcd_server_proposals_pending). */
  get pendingProposals(): number {
    return this.#waiters.size;
  }

  /** Proposals that failed: refused, or timed out (etcd_server_proposals_failed_total). */
  get failedProposals(): number {
    return this.#proposalsFailed;
  }

  /** etcd's Status.raftIndex: the committed index. */
  get raftIndex(): bigint {
    return BigInt(this.#node.raft.log.committed);
  }

  get appliedIndex(): bigint {
    return this.#store.appliedIndex();
  }

  /** Subscribes to store replacements by a leader's snapshot (watchers must resync). */
  onSnapshotInstalled(listener: (s: SnapshotInstalled) => void): void {
    this.#snapshotListeners.push(listener);
  }

  /**
   * A MsgSnap whose store copy arrived at `dbFile`: Raft decides whether to take it; if it
   * does, the next Ready installs the copy.
   */
  stepSnapshot(m: Message, dbFile: string): void {
    if (this.#stopped) {
      fs.rmSync(dbFile, { force: true });
      return;
    }
    const index = m.snapshot?.metadata.index ?? 0;
    const old = this.#incoming.get(index);
    if (old !== undefined && old !== dbFile) fs.rmSync(old, { force: true });
    this.#incoming.set(index, dbFile);
    this.step(m);
  }

  /** Subscribes to applied batches (the watch hub). */
  onApplied(listener: (b: AppliedBatch) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Subscribes to this member becoming or ceasing to be the leader (the lessor promotes
   * and demotes itself on it). Called after the Ready that changed it was handled.
   */
  onLeaderChange(listener: (isLeader: boolean) => void): void {
    this.#leaderListeners.push(listener);
  }

  /** A Raft message from a peer. */
  step(m: Message): void {
    if (this.#stopped) return;
    this.#node.step(m);
    this.#schedule();
  }

  /** The transport could not deliver to `id`. */
  reportUnreachable(id: bigint): void {
    this.#node.reportUnreachable(id);
  }

  /**
   * Proposes a request; resolves once its entry is committed and applied, with the
   * store's outcome, or with an error value (too large, refused by a leader, timed out,
   * no leader before the deadline, stopped). Made while no leader is known, it waits for one.
   */
  propose(request: InternalRaftRequest): Promise<ApplyOutcome | EtcdError> {
    if (this.#stopped) return Promise.resolve(Errors.Stopped);
    const id = this.#nextRequestId++;
    const data = encodeProposal(request, id);
    if (data.length > this.#maxRequestBytes) return Promise.resolve(Errors.RequestTooLarge);
    const err = this.#node.propose(data);
    if (err !== null && this.#lead !== 0n) {
      // A leader refusing (a transfer in progress): etcd answers at once too.
      this.#proposalsFailed++;
      return Promise.resolve(Errors.LeaderChanged);
    }
    if (err !== null) this.#awaitingLeader.set(id, data);
    else this.#schedule();
    return new Promise((resolve) => this.#waiters.set(id, { resolve, request, startedMs: Date.now() }));
  }

  /**
   * Proposes a membership change; resolves with the membership once it is applied here,
   * or with an error value. Raft takes one change at a time: a second one meanwhile fails.
   */
  proposeMemberChange(change: MemberChange): Promise<readonly MemberRecord[] | EtcdError> {
    if (this.#stopped) return Promise.resolve(Errors.Stopped);
    const id = this.#nextRequestId++;
    const err = this.#node.proposeConfChange(confChangeFor(change, id));
    if (err !== null) return Promise.resolve(this.#lead === 0n ? Errors.NoLeader : Errors.Timeout);
    this.#schedule();
    return new Promise((resolve) => this.#confWaiters.set(id, { resolve, startedMs: Date.now() }));
  }

  /**
   * Whether a learner may be promoted: the leader sees its log within 90% of its own
   * (etcd's readyPercent). Only the leader knows; elsewhere the answer is NotLeader.
   */
  learnerReady(id: bigint): EtcdError | null {
    if (!this.isLeader) return Errors.NotLeader;
    const pr = this.#node.raft.tracker.progress.get(id);
    if (pr === undefined) return Errors.MemberNotFound;
    if (pr.match < this.#node.raft.log.committed * 0.9) return Errors.LearnerNotReady;
    return null;
  }

  /**
   * Hands leadership to `to` (etcd's MoveLeader): resolves once `to` leads, or with
   * TimeoutLeaderTransfer. Only the leader may ask.
   */
  async transferLeadership(to: bigint, timeoutMs = this.#requestTimeoutMs): Promise<EtcdError | null> {
    if (!this.isLeader) return Errors.NotLeader;
    this.#node.transferLeadership(to);
    this.#schedule();
    const deadline = Date.now() + timeoutMs;
    while (this.#lead !== to) {
      if (this.#stopped) return Errors.Stopped;
      if (Date.now() > deadline) return Errors.TimeoutLeaderTransfer;
      await new Promise((r) => setTimeout(r, this.#heartbeatMs));
    }
    return null;
  }

  /** Whether this member is a learner (Status.isLearner). */
  get isLearner(): boolean {
    return this.#node.raft.isLearner;
  }

  /**
   * Resolves when a linearizable read may be served from the local store: the leader
   * confirmed its leadership (ReadIndex) and this member applied up to that index.
   * Concurrent reads share one round.
   */
  readIndex(): Promise<EtcdError | null> {
    if (this.#stopped) return Promise.resolve(Errors.Stopped);
    return new Promise((resolve) => {
      this.#readQueue.push(resolve);
      if (this.#readRound === null) this.#startReadRound();
    });
  }

  #startReadRound(): void {
    // The leader keys pending reads by context: every member's must differ from the others'.
    const ctx = new Uint8Array(16);
    const view = new DataView(ctx.buffer);
    view.setBigUint64(0, this.memberId);
    view.setBigUint64(8, ++this.#readCounter);
    this.#readRound = { ctx, waiters: this.#readQueue, startedMs: Date.now() };
    this.#readQueue = [];
    this.#node.readIndex(ctx);
    this.#schedule();
  }

  #serveReadStates(states: readonly ReadState[]): void {
    const round = this.#readRound;
    if (round === null) return;
    for (const rs of states) {
      if (!bytesEqual(rs.requestCtx, round.ctx)) continue;
      this.#readRound = null;
      this.#readsAwaitingApply.push({ index: rs.index, waiters: round.waiters });
      if (this.#readQueue.length > 0) this.#startReadRound();
    }
    this.#releaseReads();
  }

  #releaseReads(): void {
    if (this.#readsAwaitingApply.length === 0) return;
    const applied = Number(this.#store.appliedIndex());
    const still: ParkedReads[] = [];
    for (const r of this.#readsAwaitingApply) {
      if (r.index <= applied) { for (const w of r.waiters) w(null); }
      else still.push(r);
    }
    this.#readsAwaitingApply = still;
  }

  /** Answers and forgets the callers waiting longer than the request timeout; counts them. */
  #timeOut(
    waiters: Map<bigint, { resolve(e: EtcdError): void; readonly startedMs: number }>,
    now: number,
  ): number {
    let n = 0;
    for (const [id, w] of waiters) {
      if (now - w.startedMs <= this.#requestTimeoutMs) continue;
      waiters.delete(id);
      n++;
      // Held all along for a leader: etcd answers with raft's Propose context error then.
      if (this.#awaitingLeader.delete(id)) w.resolve(Errors.ProposalDeadline);
      else w.resolve(this.#lead === 0n ? Errors.TimeoutDueToLeaderFail : Errors.Timeout);
    }
    return n;
  }

  /** Times out proposals and read rounds that a lost leadership left hanging. */
  #expire(): void {
    const now = Date.now();
    this.#proposalsFailed += this.#timeOut(this.#waiters, now);
    this.#timeOut(this.#confWaiters, now);
    const round = this.#readRound;
    if (round !== null && now - round.startedMs > this.#electionMs) {
      // The request may have been dropped (no leader, leader changed): ask again, or give up.
      this.#readRound = null;
      if (now - round.startedMs > this.#requestTimeoutMs) {
        for (const w of round.waiters) w(Errors.Timeout);
      } else {
        this.#readQueue = [...round.waiters, ...this.#readQueue];
      }
      if (this.#readQueue.length > 0) this.#startReadRound();
    }
  }

  #schedule(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    setImmediate(this.#run);
  }

  readonly #run = (): void => {
    this.#scheduled = false;
    // A run scheduled before stop() must not start after it: the store may be closed by now.
    if (this.#running || this.#stopped) return;
    this.#running = true;
    this.#drain().then(() => {
      this.#running = false;
      if (this.#node.hasReady()) this.#schedule();
    }, (err) => {
      // A failed fsync or apply means we cannot know what is durable: stop rather than guess.
      log.fatal("raft loop failed", errorFields(err));
      process.exit(1);
    });
  };

  async #drain(): Promise<void> {
    while (this.#node.hasReady()) {
      const rd = this.#node.ready();
      await this.#handleReady(rd);
      this.#node.advance(rd);
      if (this.isLeader !== this.#wasLeader) {
        this.#wasLeader = this.isLeader;
        for (const l of this.#leaderListeners) l(this.#wasLeader);
      }
      // Raft refuses to campaign while conf changes (the bootstrap ones) are unapplied.
      if (this.#lonely && this.#node.raft.state === StateType.Follower && this.#lead === 0n) {
        this.#node.campaign();
      }
      if (this.#lead !== 0n && this.#awaitingLeader.size > 0) this.#proposeAwaiting();
    }
  }

  /** A leader is known again: the proposals held meanwhile go to it, in order. */
  #proposeAwaiting(): void {
    const held = this.#awaitingLeader;
    this.#awaitingLeader = new Map();
    for (const [id, data] of held) {
      if (this.#node.propose(data) === null) continue;
      // Held ones have their waiter: a timeout or stop() drops both.
      const w = this.#waiters.get(id)!;
      this.#waiters.delete(id);
      this.#proposalsFailed++;
      w.resolve(Errors.LeaderChanged);
    }
  }

  async #handleReady(rd: Ready): Promise<void> {
    if (rd.softState !== null) {
      const term = this.#node.status().term;
      for (const line of softStateLines(this.memberId, term, this.#soft, rd.softState)) log.info(line);
      this.#soft = rd.softState;
    }
    if (rd.softState !== null && rd.softState.lead !== this.#lead) {
      if (rd.softState.lead !== 0n) this.#leaderChanges++;
      this.#lead = rd.softState.lead;
    }
    // 0. A snapshot from the leader replaces the store first: once the log says the entries
    // before it are gone, the store must already hold them (etcd installs the db first too).
    if (rd.snapshot !== null) this.#installSnapshot(rd.snapshot);
    // A leader's messages may leave before its own entries are durable, as etcd's do: the
    // followers' fsyncs overlap the leader's instead of following it. Nothing observable gets
    // ahead of the leader's disk: acks arriving meanwhile only take effect in the next Ready,
    // which this loop asks for after the sync below. Term and vote must still be durable
    // first: a Ready that also changed them (a candidate that won in the same batch) carries
    // vote requests, so it is sent after persisting.
    const sendFirst = rd.messages.length > 0 && this.isLeader && this.#termVoteDurable(rd);
    if (sendFirst) this.#sendAll(rd.messages);
    // 1. Persist: nothing below may depend on entries or votes that are not durable.
    if (rd.entries.length > 0 || rd.hardState !== null || rd.snapshot !== null) {
      const hs: WalHardState | undefined = rd.hardState === null
        ? undefined
        : { term: BigInt(rd.hardState.term), vote: rd.hardState.vote, commit: BigInt(rd.hardState.commit) };
      this.#wal.save(rd.entries.map(toWalEntry), hs);
      // One entry and at most one caller waiting (a lone client): a blocking fdatasync saves
      // the thread-pool round trip (~10% of put latency at 1 client, measured) and there is
      // no other work to overlap with it. Anything busier overlaps the sync with new requests.
      if (rd.mustSync && rd.entries.length === 1 && this.#waiters.size <= 1) this.#wal.syncNow();
      else if (rd.mustSync) await this.#wal.sync();
      if (rd.hardState !== null) this.#storage.setHardState(rd.hardState);
      if (rd.entries.length > 0) this.#storage.append(rd.entries);
    }
    // 2. Only now tell peers.
    if (rd.messages.length > 0 && !sendFirst) this.#sendAll(rd.messages);
    // 3. Apply what is committed, in order.
    if (rd.committedEntries.length > 0) {
      this.#apply(rd.committedEntries);
      this.#maybeSnapshot();
    }
    if (rd.readStates.length > 0) this.#serveReadStates(rd.readStates);
  }

  /** Whether `rd` leaves term and vote as they are already on disk. */
  #termVoteDurable(rd: Ready): boolean {
    if (rd.hardState === null) return true;
    const durable = this.#storage.initialState().hardState;
    return rd.hardState.term === durable.term && rd.hardState.vote === durable.vote;
  }

  /** Sends messages; a MsgSnap goes on its own path, carrying a fresh copy of the store. */
  #sendAll(messages: readonly Message[]): void {
    const plain: Message[] = [];
    for (const m of messages) {
      if (m.type !== MessageType.MsgSnap) {
        plain.push(m);
        continue;
      }
      const file = path.join(this.#snapDir, `out-${m.to.toString(16)}-${++this.#copies}.db`);
      // The copy is taken now (it must hold at least the snapshot's entries) and finishes
      // over several event-loop turns; Raft waits for the report either way.
      this.#store.copyTo(file).then(
        () => this.#sendSnapshot(m, file),
        (e) => {
          log.error("copying the store for a snapshot failed", errorFields(e));
          return false;
        },
      ).then((ok) => {
        fs.rmSync(file, { force: true });
        if (this.#stopped) return;
        this.#node.reportSnapshot(m.to, ok ? "finish" : "failure");
        this.#schedule();
      });
    }
    if (plain.length > 0) this.#send(plain);
  }

  #installSnapshot(snap: Snapshot): void {
    const { index, term, confState } = snap.metadata;
    const file = this.#incoming.get(index);
    if (file === undefined) {
      throw new Error(`member: raft accepted snapshot ${index} whose store copy is missing`);
    }
    const previousRevision = this.#store.currentRevision();
    this.#store.installCopy(file);
    if (this.#store.appliedIndex() < BigInt(index)) {
      throw new Error(`member: snapshot ${index} came with a store at ${this.#store.appliedIndex()}`);
    }
    for (const [i, f] of this.#incoming) {
      if (i <= index) {
        fs.rmSync(f, { force: true });
        this.#incoming.delete(i);
      }
    }
    // Durable at once: a restart must not find the new store ahead of the log's last index.
    this.#wal.saveSnapshot({ index: BigInt(index), term: BigInt(term), confState });
    this.#wal.syncNow();
    this.#storage.applySnapshot(snap);
    this.#confState = confState;
    this.#snapshotIndex = index;
    const installed = { previousRevision, revision: this.#store.currentRevision() };
    log.info(`installed a snapshot from the leader at index ${index}, store revision ${installed.revision}`);
    for (const l of this.#snapshotListeners) l(installed);
    this.#onMembersChanged(this.#store.members());
  }

  /**
   * Every --snapshot-count applied entries: record a snapshot in the log (the store itself
   * is the snapshot's data) and drop what it covers, keeping some entries for followers
   * that are only a little behind.
   */
  #maybeSnapshot(): void {
    const applied = Number(this.#store.appliedIndex());
    if (this.#snapshotCount <= 0 || applied - this.#snapshotIndex < this.#snapshotCount) return;
    this.#store.flush(); // the log may now forget what the store holds durably
    const term = this.#storage.term(applied);
    if (typeof term !== "number") return;
    const snap = this.#storage.createSnapshot(applied, {
      confState: this.#confState,
      data: new Uint8Array(),
    });
    if (!("metadata" in snap)) return;
    this.#wal.saveSnapshot({ index: BigInt(applied), term: BigInt(term), confState: this.#confState });
    this.#wal.syncNow();
    const compactTo = applied - this.#catchUpEntries;
    if (compactTo > this.#storage.firstIndex()) this.#storage.compact(compactTo);
    this.#wal.releaseTo(BigInt(applied), this.#maxWals);
    this.#snapshotIndex = applied;
  }

  #apply(entries: readonly Entry[]): void {
    const batch: StoreEntry[] = [];
    const waiters: (Waiter | undefined)[] = [];
    const confApplied: bigint[] = [];
    let removedSelf = false;
    const storeApplied = this.#store.appliedIndex();
    for (const e of entries) {
      let request: InternalRaftRequest | null = null;
      let waiter: Waiter | undefined;
      if (e.type === EntryType.EntryConfChange) {
        // Raft's membership is rebuilt from every conf change, even those the store already holds.
        const cc = decodeConfChange(e.data);
        this.#confState = this.#node.applyConfChange(cc);
        if (BigInt(e.index) <= storeApplied) continue;
        const memberChange = memberChangeOf(cc);
        if (memberChange.kind === "remove" && memberChange.id === this.memberId) removedSelf = true;
        if (cc.id !== undefined) confApplied.push(cc.id);
        batch.push({ index: BigInt(e.index), term: BigInt(e.term), request: null, memberChange });
        waiters.push(undefined);
        continue;
      }
      if (BigInt(e.index) <= storeApplied) continue; // replayed after a restart: already in the store
      // An empty entry only advances the store's applied index.
      if (e.data.length > 0) {
        const id = requestIdOf(e.data);
        waiter = id === null ? undefined : this.#waiters.get(id);
        if (waiter !== undefined) {
          this.#waiters.delete(id!);
          request = waiter.request;
        } else {
          request = decodeProposal(e.data);
        }
      }
      batch.push({ index: BigInt(e.index), term: BigInt(e.term), request });
      waiters.push(waiter);
    }
    if (batch.length === 0) return;
    const outcomes = this.#store.applyBatch(batch);
    const events: Event[] = [];
    for (let i = 0; i < outcomes.length; i++) {
      const o = outcomes[i];
      if (o.ok) { for (const ev of o.events) events.push(ev); }
      waiters[i]?.resolve(o);
    }
    if (events.length > 0 && this.#listeners.length > 0) {
      const b: AppliedBatch = { events, revision: this.#store.currentRevision() };
      for (const l of this.#listeners) l(b);
    }
    if (batch.some((e) => e.memberChange !== undefined)) {
      const members = this.#store.members();
      for (const id of confApplied) {
        const w = this.#confWaiters.get(id);
        this.#confWaiters.delete(id);
        w?.resolve(members);
      }
      this.#onMembersChanged(members);
    }
    this.#releaseReads();
    if (removedSelf && !this.#removed) {
      this.#removed = true;
      this.#onRemoved();
    }
  }

  /** Stops accepting work, finishes the Ready in progress, and makes the log durable. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#ticker);
    clearInterval(this.#sweeper);
    while (this.#running) await new Promise((r) => setTimeout(r, 5));
    for (const w of this.#waiters.values()) w.resolve(Errors.Stopped);
    this.#waiters.clear();
    this.#awaitingLeader.clear();
    for (const w of this.#confWaiters.values()) w.resolve(Errors.Stopped);
    this.#confWaiters.clear();
    for (const w of this.#readQueue) w(Errors.Stopped);
    if (this.#readRound) { for (const w of this.#readRound.waiters) w(Errors.Stopped); }
    for (const f of this.#incoming.values()) fs.rmSync(f, { force: true });
    this.#wal.close();
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
