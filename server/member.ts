/**
 * This member's write path: proposal → Raft → the durable log → commit → apply → the
 * waiting caller; and linearizable reads through ReadIndex.
 *
 * The parts, along etcd's seams, each in server/member/: the Raft driver (raftNode:
 * persist, send, advance), the proposal registry (request IDs, waiters, deadlines, held
 * proposals), the linearizable read loop and the apply loop. This module builds them from
 * the log, wires them together and starts and stops them; a single node is a cluster of
 * one and goes through exactly the same path. Clock and file system are injected, so the
 * parts run under a test's clock.
 */
import type { InternalRaftRequest } from "../proto/gen/etcdserverpb/raft_internal_pb.ts";
import { Errors, type EtcdError } from "../api/errors.ts";
import type { Wal } from "../wal/wal.ts";
import type { MemberChange, MemberRecord, MvccStore } from "../store/mvcc.ts";
import type { Outcome } from "./apply/apply.ts";
import type { StateMachine } from "./apply/state_machine.ts";
import { confChangeFor } from "./conf-change.ts";
import { encodeProposal } from "./proposal_codec.ts";
import { logStoreMismatch } from "./log_store_check.ts";
import * as os from "node:os";
import { type ConfState, MemoryStorage, type Message, RawNode, StateType } from "../raft/mod.ts";
import { type Clock, sleep, systemClock, type Timer } from "./member/clock.ts";
import { startTickAdvance, type TickAdvanceOptions } from "./member/tick_advance.ts";
import { ProposalRegistry } from "./member/proposals.ts";
import { ReadLoop } from "./member/read_loop.ts";
import { type AppliedBatch, Applier, type SnapshotInstalled } from "./member/apply.ts";
import { RaftDriver } from "./member/raft_driver.ts";
import { type MemberFiles, nodeFiles, SnapshotFiles } from "./member/snapshot_files.ts";

export type { AppliedBatch, SnapshotInstalled };

export interface MemberOptions {
  readonly memberId: bigint;
  readonly clusterId: bigint;
  readonly wal: Wal;
  /** The store and what applies requests to it. */
  readonly state: StateMachine;
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
  /**
   * etcd's initial election tick advance for a member with peers (tick_advance.ts): whether
   * it is on (--initial-election-tick-advance), how many other members are configured, and
   * how many of them are reachable now.
   */
  readonly tickAdvance?: {
    readonly enabled: boolean;
    readonly remoteMembers: number;
    readonly activePeers: () => number;
  };
  /** Time and timers (default: the process's). */
  readonly clock?: Clock;
  /** File removal (default: node:fs). */
  readonly files?: MemberFiles;
}

/** What Raft restarts from: the log's snapshot, hard state and entries, and the membership. */
function restoreStorage(wal: Wal, store: MvccStore): { storage: MemoryStorage; confState: ConfState } {
  const replay = wal.replay;
  const storage = new MemoryStorage();
  // Marks written before they carried the membership fall back to the store's roster.
  const members = store.members();
  const confState = replay.snapshot.confState ?? {
    voters: members.filter((m) => !m.isLearner).map((m) => m.id),
    learners: members.filter((m) => m.isLearner).map((m) => m.id),
  };
  if (replay.snapshot.index > 0) {
    storage.applySnapshot({
      data: new Uint8Array(),
      metadata: { index: replay.snapshot.index, term: replay.snapshot.term, confState },
    });
  }
  storage.setHardState(replay.hardState);
  storage.append(replay.entries);
  return { storage, confState };
}

/** Owns the Raft node, the log, the apply loop and the callers waiting for them. */
export class Member {
  readonly memberId: bigint;
  readonly clusterId: bigint;
  readonly #wal: Wal;
  readonly #store: MvccStore;
  readonly #node: RawNode;
  readonly #maxRequestBytes: number;
  readonly #requestTimeoutMs: number;
  readonly #heartbeatMs: number;
  readonly #clock: Clock;
  readonly #proposals: ProposalRegistry;
  readonly #reads: ReadLoop;
  readonly #applier: Applier;
  readonly #driver: RaftDriver;
  readonly #snapshots: SnapshotFiles;
  readonly #tickAdvanceOptions: TickAdvanceOptions;
  #tickAdvance: Timer | null = null;
  #stopped = false;

  constructor(opts: MemberOptions) {
    this.memberId = opts.memberId;
    this.clusterId = opts.clusterId;
    this.#wal = opts.wal;
    this.#store = opts.state.store;
    this.#maxRequestBytes = opts.maxRequestBytes;
    this.#heartbeatMs = opts.heartbeatMs;
    const clock = this.#clock = opts.clock ?? systemClock;
    // etcd: 5s plus twice the election timeout before a proposal is declared timed out.
    this.#requestTimeoutMs = 5000 + 2 * opts.electionMs;

    const replay = opts.wal.replay;
    const mismatch = logStoreMismatch(
      { snapshotIndex: BigInt(replay.snapshot.index), lastIndex: BigInt(opts.wal.lastIndex) },
      opts.state.store.appliedIndex(),
    );
    if (mismatch !== null) throw mismatch;
    const { storage, confState } = restoreStorage(opts.wal, opts.state.store);
    // Like etcd, Raft restarts from the snapshot and re-delivers the entries after it, so
    // conf changes rebuild the membership; entries the store already holds are skipped.
    const snapshotIndex = replay.snapshot.index;
    const electionTicks = Math.max(2, Math.round(opts.electionMs / opts.heartbeatMs));
    const advance = opts.tickAdvance;
    this.#tickAdvanceOptions = {
      memberId: opts.memberId,
      enabled: advance?.enabled ?? false,
      clock,
      heartbeatMs: opts.heartbeatMs,
      electionTicks,
      remoteMembers: advance?.remoteMembers ?? 0,
      activePeers: advance?.activePeers ?? (() => 0),
      advance: (ticks) => this.#driver.advanceTicks(ticks),
    };
    const node = this.#node = new RawNode({
      id: opts.memberId,
      peers: opts.initialVoters,
      peerContexts: opts.initialContexts,
      storage,
      electionTick: electionTicks,
      heartbeatTick: 1,
      preVote: opts.preVote,
      checkQuorum: true,
      applied: snapshotIndex,
      seed: Number(opts.memberId & 0xffffffn),
    });

    const proposals = this.#proposals = new ProposalRegistry({
      memberId: opts.memberId,
      clock,
      timeoutMs: this.#requestTimeoutMs,
      leaderKnown: () => this.#driver.lead !== 0n,
    });
    const reads = this.#reads = new ReadLoop({
      memberId: opts.memberId,
      clock,
      retryMs: opts.electionMs,
      timeoutMs: this.#requestTimeoutMs,
      requestIndex: (ctx) => {
        node.readIndex(ctx);
        this.#driver.schedule();
      },
      appliedIndex: () => Number(opts.state.store.appliedIndex()),
    });
    const snapshots = this.#snapshots = new SnapshotFiles(
      opts.snapDir ?? os.tmpdir(),
      opts.files ?? nodeFiles,
    );
    const applier = this.#applier = new Applier({
      memberId: opts.memberId,
      state: opts.state,
      wal: opts.wal,
      storage,
      applyConfChange: (cc) => node.applyConfChange(cc),
      proposals,
      reads,
      snapshots,
      confState,
      snapshotIndex,
      snapshotCount: opts.snapshotCount ?? 0,
      catchUpEntries: opts.catchUpEntries ?? 5000,
      maxWals: opts.maxWals ?? 0,
      onMembersChanged: opts.onMembersChanged ?? (() => {}),
      onRemoved: opts.onRemoved ?? (() => {}),
    });
    this.#driver = new RaftDriver({
      memberId: opts.memberId,
      node,
      storage,
      wal: opts.wal,
      clock,
      heartbeatMs: opts.heartbeatMs,
      electionTicks,
      send: opts.send ?? (() => {}),
      sendSnapshot: opts.sendSnapshot ?? (() => Promise.resolve(false)),
      copyStore: (file) => opts.state.store.copyTo(file),
      snapshots,
      handler: {
        installSnapshot: (snap) => applier.installSnapshot(snap),
        applyCommitted: (entries) => applier.applyCommitted(entries),
        readStates: (states) => reads.onReadStates(states),
        pendingProposals: () => proposals.pending,
        leaderKnown: () => {
          if (proposals.holding) proposals.releaseHeld((data) => node.propose(data) === null);
        },
      },
    });
  }

  /** Starts the deadlines, the read loop's retries and the Raft node's ticks and Readys. */
  start(): void {
    this.#proposals.start();
    this.#reads.start();
    this.#driver.start();
    this.#tickAdvance = startTickAdvance(this.#tickAdvanceOptions);
  }

  get term(): bigint {
    return BigInt(this.#node.basicStatus().term);
  }

  /** The current leader's ID, 0 when none is known. */
  get leaderId(): bigint {
    return this.#driver.lead;
  }

  get isLeader(): boolean {
    return this.#node.basicStatus().state === StateType.Leader;
  }

  get leaderChanges(): number {
    return this.#driver.leaderChanges;
  }

  /** Proposals waiting to be applied (etcd_server_proposals_pending). */
  get pendingProposals(): number {
    return this.#proposals.pending;
  }

  /** Proposals that failed: refused, or timed out (etcd_server_proposals_failed_total). */
  get failedProposals(): number {
    return this.#proposals.failed;
  }

  /** etcd's Status.raftIndex: the committed index. */
  get raftIndex(): bigint {
    return BigInt(this.#node.basicStatus().commit);
  }

  get appliedIndex(): bigint {
    return this.#store.appliedIndex();
  }

  /** Subscribes to store replacements by a leader's snapshot (watchers must resync). */
  onSnapshotInstalled(listener: (s: SnapshotInstalled) => void): void {
    this.#applier.onSnapshotInstalled(listener);
  }

  /**
   * A MsgSnap whose store copy arrived at `dbFile`: Raft decides whether to take it; if it
   * does, the next Ready installs the copy.
   */
  stepSnapshot(m: Message, dbFile: string): void {
    if (this.#stopped) {
      this.#snapshots.remove(dbFile);
      return;
    }
    this.#snapshots.received(m.snapshot?.metadata.index ?? 0, dbFile);
    this.step(m);
  }

  /** Subscribes to applied batches (the watch hub). */
  onApplied(listener: (b: AppliedBatch) => void): void {
    this.#applier.onApplied(listener);
  }

  /**
   * Subscribes to this member becoming or ceasing to be the leader (serve.ts promotes and
   * demotes the lessor on it). Called after the Ready that changed it was handled.
   */
  onLeaderChange(listener: (isLeader: boolean) => void): void {
    this.#driver.onLeaderChange(listener);
  }

  /** A Raft message from a peer. */
  step(m: Message): void {
    if (this.#stopped) return;
    this.#node.step(m);
    this.#driver.schedule();
  }

  /** The transport could not deliver to `id`. */
  reportUnreachable(id: bigint): void {
    this.#node.reportUnreachable(id);
  }

  /**
   * Proposes `request`; resolves once its entry is committed and applied here, with the
   * store's outcome, or with an error value (too large, refused by a leader, timed out, no
   * leader before the deadline, stopped). Made while no leader is known, it waits for one.
   *
   * `caller` is the client's call: a proposal still held for a leader when its signal
   * aborts (the client's deadline passed, or it went away) is dropped, never to be applied,
   * as etcd's Propose gives up with its request's context. One already in the log cannot
   * be taken back. The signal is read only for a held proposal: a call makes its
   * AbortController on first use, and one made is aborted when the call closes (measured:
   * creating and aborting one per put was ~9% of a put's CPU with 64 clients).
   */
  propose(
    request: InternalRaftRequest,
    caller?: { readonly signal: AbortSignal },
  ): Promise<Outcome | EtcdError> {
    if (this.#stopped) return Promise.resolve(Errors.Stopped);
    const id = this.#proposals.nextId();
    const data = encodeProposal(request, id);
    if (data.length > this.#maxRequestBytes) return Promise.resolve(Errors.RequestTooLarge);
    const err = this.#node.propose(data);
    if (err !== null && this.#driver.lead !== 0n) {
      // A leader refusing (a transfer in progress): etcd answers at once too.
      this.#proposals.refused();
      return Promise.resolve(Errors.LeaderChanged);
    }
    if (err === null) {
      this.#driver.schedule();
      return this.#proposals.wait(id, request);
    }
    this.#proposals.hold(id, data);
    const outcome = this.#proposals.wait(id, request);
    if (caller !== undefined) {
      const signal = caller.signal;
      const drop = () => this.#proposals.dropHeld(id, Errors.ProposalDeadline);
      if (signal.aborted) drop();
      else {
        signal.addEventListener("abort", drop, { once: true });
        outcome.finally(() => signal.removeEventListener("abort", drop));
      }
    }
    return outcome;
  }

  /**
   * Proposes a membership change; resolves with the membership once it is applied here,
   * or with an error value. Raft takes one change at a time: a second one meanwhile fails.
   */
  proposeMemberChange(change: MemberChange): Promise<readonly MemberRecord[] | EtcdError> {
    if (this.#stopped) return Promise.resolve(Errors.Stopped);
    const id = this.#proposals.nextId();
    const err = this.#node.proposeConfChange(confChangeFor(change, id));
    if (err !== null) return Promise.resolve(this.#driver.lead === 0n ? Errors.NoLeader : Errors.Timeout);
    this.#driver.schedule();
    return this.#proposals.waitConf(id);
  }

  /**
   * Whether a learner may be promoted: the leader sees its log within 90% of its own
   * (etcd's readyPercent). Only the leader knows; elsewhere the answer is NotLeader.
   */
  learnerReady(id: bigint): EtcdError | null {
    const st = this.#node.status();
    if (st.state !== StateType.Leader) return Errors.NotLeader;
    const pr = st.progress.get(id);
    if (pr === undefined) return Errors.MemberNotFound;
    if (pr.match < st.commit * 0.9) return Errors.LearnerNotReady;
    return null;
  }

  /**
   * Hands leadership to `to` (etcd's MoveLeader): resolves once `to` leads, or with
   * TimeoutLeaderTransfer. Only the leader may ask.
   */
  async transferLeadership(to: bigint, timeoutMs = this.#requestTimeoutMs): Promise<EtcdError | null> {
    if (!this.isLeader) return Errors.NotLeader;
    this.#node.transferLeadership(to);
    this.#driver.schedule();
    const deadline = this.#clock.now() + timeoutMs;
    while (this.#driver.lead !== to) {
      if (this.#stopped) return Errors.Stopped;
      if (this.#clock.now() > deadline) return Errors.TimeoutLeaderTransfer;
      await sleep(this.#clock, this.#heartbeatMs);
    }
    return null;
  }

  /** Whether this member is a learner (Status.isLearner). */
  get isLearner(): boolean {
    return this.#node.basicStatus().isLearner;
  }

  /**
   * Resolves when a linearizable read may be served from the local store: the leader
   * confirmed its leadership (ReadIndex) and this member applied up to that index.
   * Concurrent reads share one round.
   */
  readIndex(): Promise<EtcdError | null> {
    if (this.#stopped) return Promise.resolve(Errors.Stopped);
    return this.#reads.read();
  }

  /** Stops accepting work, finishes the Ready in progress, and makes the log durable. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#tickAdvance?.cancel();
    await this.#driver.stop();
    this.#reads.stop();
    this.#proposals.stop();
    this.#snapshots.clear();
    this.#wal.close();
  }
}
