import { assert } from "./assert.ts";
import type { ProgressState } from "./progress.ts";
import { encodeConfChange } from "./codec.ts";
import { ErrStepLocalMsg, ErrStepPeerNotFound, type RaftError } from "./errors.ts";
import {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  EMPTY_HARD_STATE,
  type Entry,
  EntryType,
  type HardState,
  hardStateEqual,
  isEmptyHardState,
  isLocalMessage,
  isResponseMessage,
  type Message,
  message,
  MessageType,
  type NodeId,
  NONE,
  type Snapshot,
} from "./messages.ts";
import { Raft, type RaftConfig, type ReadState, StateType } from "./raft.ts";

/** Volatile state worth reporting when it changes: who leads and what we are. */
export interface SoftState {
  readonly lead: NodeId;
  readonly state: StateType;
}

/**
 * Everything the application must do now, in this order:
 * 1. persist `snapshot` (if any), then append `entries`, then save `hardState` (if not
 *    null) — durably (fsync) when `mustSync` — because nothing in `messages` may leave
 *    before what it promises (votes, acknowledged entries) is on disk;
 * 2. send `messages`;
 * 3. install `snapshot` into the state machine, then apply `committedEntries` in order
 *    (calling `applyConfChange` for conf-change entries), and serve `readStates` once
 *    the applied index reaches each read's index;
 * 4. call `advance(ready)`.
 * Input may keep arriving between `ready()` and `advance()` (tick, step, propose while an
 * fsync is awaited); whatever it causes comes out in the next Ready. Only `ready()` itself
 * must not be called again before `advance()`.
 */
export interface Ready {
  /** Non-null when the leader or our role changed since the last Ready. */
  readonly softState: SoftState | null;
  /** Non-null when term, vote or commit changed; persist it with the entries. */
  readonly hardState: HardState | null;
  readonly readStates: readonly ReadState[];
  /** New log entries to append to storage (they may overwrite an uncommitted tail). */
  readonly entries: readonly Entry[];
  /** A snapshot from the leader to persist and install, replacing the log before it. */
  readonly snapshot: Snapshot | null;
  /** Entries known committed and not yet applied. */
  readonly committedEntries: readonly Entry[];
  /** Messages for peers; `to` names the recipient. */
  readonly messages: readonly Message[];
  /** Whether entries/hardState must be fsynced (a commit-index-only change need not be). */
  readonly mustSync: boolean;
}

/** The node's state without the leader's per-member progress (etcd's BasicStatus): cheap. */
export interface BasicStatus {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lead: NodeId;
  readonly state: StateType;
  readonly leadTransferee: NodeId;
  readonly isLearner: boolean;
}

/** What the leader knows of one member's log (a copy of its tracker's Progress). */
export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly isLearner: boolean;
}

export interface Status extends BasicStatus {
  /** Per-member replication state, on the leader only (etcd's Status.Progress). */
  readonly progress: ReadonlyMap<NodeId, ProgressStatus>;
}

export type SnapshotStatus = "finish" | "failure";

/**
 * The application's handle on a Raft node, in the style of etcd-io/raft's RawNode: input
 * goes in through tick/step/propose/..., and all side effects come out of `ready()` as data.
 * Single-threaded by construction; nothing happens between calls.
 */
export class RawNode {
  /** The underlying state machine; exposed for tests and introspection only. */
  readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  private pending: Ready | null = null;

  constructor(cfg: RaftConfig) {
    this.raft = new Raft(cfg);
    this.prevSoft = { lead: this.raft.lead, state: this.raft.state };
    this.prevHard = this.raft.hardState();
    const voters = cfg.peers ?? [];
    const learners = cfg.learners ?? [];
    const st = cfg.storage;
    const { hardState } = st.initialState();
    if (voters.length + learners.length > 0 && st.lastIndex() === 0 && isEmptyHardState(hardState)) {
      this.bootstrap(voters, learners, cfg.peerContexts);
    }
  }

  /**
   * Starts a new group: the initial membership becomes committed conf-change entries at
   * term 1, which the first Ready asks the application to persist and apply.
   */
  private bootstrap(
    voters: readonly NodeId[],
    learners: readonly NodeId[],
    contexts: ReadonlyMap<NodeId, Uint8Array> = new Map(),
  ): void {
    const r = this.raft;
    r.becomeFollower(1, NONE);
    const change = (type: ConfChangeType, nodeId: NodeId): ConfChange => {
      const context = contexts.get(nodeId);
      return context === undefined ? { type, nodeId } : { type, nodeId, context };
    };
    const changes: ConfChange[] = [
      ...voters.map((id) => change(ConfChangeType.ConfChangeAddNode, id)),
      ...learners.map((id) => change(ConfChangeType.ConfChangeAddLearnerNode, id)),
    ];
    const ents: Entry[] = changes.map((cc, i) => ({
      term: 1,
      index: i + 1,
      type: EntryType.EntryConfChange,
      data: encodeConfChange(cc),
    }));
    r.log.append(ents);
    r.log.committed = ents.length;
    // Apply now so the node can campaign before the application replays them (idempotent).
    for (const cc of changes) r.applyConfChange(cc);
    // Make the first Ready carry the hard state, which must be persisted with the entries.
    this.prevHard = EMPTY_HARD_STATE;
  }

  /** Advances logical time by one tick (elections, heartbeats, CheckQuorum, transfer timeouts). */
  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (tests and bootstrapping use this instead of waiting for ticks). */
  campaign(): void {
    this.raft.step(message({ type: MessageType.MsgHup, from: this.raft.id }));
  }

  /**
   * Proposes `data` for the log. Followers forward it to the leader. Returns
   * ErrProposalDropped when it certainly will not be appended; null means "maybe": it can
   * still be lost, so the application learns the outcome only by seeing it applied.
   */
  propose(data: Uint8Array): RaftError | null {
    return this.raft.step(message({
      type: MessageType.MsgProp,
      from: this.raft.id,
      entries: [{ term: 0, index: 0, type: EntryType.EntryNormal, data }],
    }));
  }

  /** Proposes several entries at once: they are appended and replicated together. */
  proposeBatch(datas: readonly Uint8Array[]): RaftError | null {
    if (datas.length === 0) return null;
    const entries: Entry[] = new Array(datas.length);
    for (let i = 0; i < datas.length; i++) {
      entries[i] = { term: 0, index: 0, type: EntryType.EntryNormal, data: datas[i] };
    }
    return this.raft.step(message({ type: MessageType.MsgProp, from: this.raft.id, entries }));
  }

  /**
   * Proposes a membership change. The leader refuses (ErrProposalDropped) while a previous
   * change is not yet applied. The change takes effect when the application applies the
   * entry and calls `applyConfChange`.
   */
  proposeConfChange(cc: ConfChange): RaftError | null {
    return this.raft.step(message({
      type: MessageType.MsgProp,
      from: this.raft.id,
      entries: [{ term: 0, index: 0, type: EntryType.EntryConfChange, data: encodeConfChange(cc) }],
    }));
  }

  /** Applies a committed conf change (call it while applying the entry); returns the new membership. */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /** Steps a message received from a peer. */
  step(m: Message): RaftError | null {
    if (isLocalMessage(m.type)) return ErrStepLocalMsg;
    if (isResponseMessage(m.type) && !this.raft.tracker.progress.has(m.from)) return ErrStepPeerNotFound;
    return this.raft.step(m);
  }

  /**
   * Requests a linearizable read point. `context` must be unique per request; the answer
   * arrives as a ReadState with the same context in a later Ready (or never, if leadership
   * is lost: the caller retries after a timeout).
   */
  readIndex(context: Uint8Array): void {
    this.raft.step(message({
      type: MessageType.MsgReadIndex,
      from: this.raft.id,
      entries: [{ term: 0, index: 0, type: EntryType.EntryNormal, data: context }],
    }));
  }

  /** Asks the leader to hand leadership to `to`; aborted if not done within an election timeout. */
  transferLeadership(to: NodeId): void {
    this.raft.step(message({ type: MessageType.MsgTransferLeader, from: to }));
  }

  /** Tells the leader that the last message to `id` could not be delivered. */
  reportUnreachable(id: NodeId): void {
    this.raft.step(message({ type: MessageType.MsgUnreachable, from: id }));
  }

  /** Tells the leader whether sending a snapshot to `id` succeeded. */
  reportSnapshot(id: NodeId, status: SnapshotStatus): void {
    this.raft.step(message({ type: MessageType.MsgSnapStatus, from: id, reject: status === "failure" }));
  }

  hasReady(): boolean {
    const r = this.raft;
    if (r.lead !== this.prevSoft.lead || r.state !== this.prevSoft.state) return true;
    if (
      r.term !== this.prevHard.term || r.vote !== this.prevHard.vote ||
      r.log.committed !== this.prevHard.commit
    ) {
      return true;
    }
    return r.log.hasPendingSnapshot() || r.msgs.length > 0 || r.log.unstable.entries.length > 0 ||
      r.log.hasNextEntries() || r.readStates.length > 0;
  }

  /** Collects what the application must do now; call `advance` with it once done. */
  ready(): Ready {
    assert(this.pending === null, "ready() called again before advance()");
    const r = this.raft;
    const soft = r.lead !== this.prevSoft.lead || r.state !== this.prevSoft.state
      ? { lead: r.lead, state: r.state }
      : null;
    const hs = r.hardState();
    const hardChanged = !hardStateEqual(hs, this.prevHard);
    const entries = r.log.unstableEntries();
    const rd: Ready = {
      softState: soft,
      hardState: hardChanged ? hs : null,
      readStates: r.readStates,
      entries,
      snapshot: r.log.unstable.snapshot,
      committedEntries: r.log.nextEntries(),
      messages: r.msgs,
      mustSync: entries.length > 0 || hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote,
    };
    r.msgs = [];
    r.readStates = [];
    if (soft !== null) this.prevSoft = soft;
    if (hardChanged) this.prevHard = hs;
    this.pending = rd;
    return rd;
  }

  /** Acknowledges that a Ready was persisted, sent and applied. */
  advance(rd: Ready): void {
    assert(this.pending === rd, "advance() with a Ready that was not the last one returned");
    this.pending = null;
    const r = this.raft;
    const ce = rd.committedEntries;
    if (ce.length > 0) {
      r.log.appliedTo(ce[ce.length - 1].index);
      r.appliedTo(ce);
    } else if (rd.snapshot !== null) {
      r.log.appliedTo(rd.snapshot.metadata.index);
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      r.log.stableTo(last.index, last.term);
    }
    if (rd.snapshot !== null) r.log.stableSnapTo(rd.snapshot.metadata.index);
  }

  /** The node's role, term, leader and indexes: what an application asks on its hot paths. */
  basicStatus(): BasicStatus {
    const r = this.raft;
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      commit: r.log.committed,
      applied: r.log.applied,
      lead: r.lead,
      state: r.state,
      leadTransferee: r.leadTransferee,
      isLearner: r.isLearner,
    };
  }

  /**
   * Whether this node is the only voter of its configuration: nobody else can win or
   * lose an election for it, so waiting out an election timeout only delays the first
   * leader (etcd fast-forwards a single member's election ticks for the same reason).
   */
  isSoleVoter(): boolean {
    const r = this.raft;
    return r.tracker.isSingleton() && r.tracker.voters.has(r.id);
  }

  /** basicStatus() and, on the leader, every member's progress (etcd's Status). */
  status(): Status {
    const r = this.raft;
    const progress = new Map<NodeId, ProgressStatus>();
    if (r.state === StateType.Leader) {
      for (const [id, pr] of r.tracker.progress) {
        progress.set(id, { match: pr.match, next: pr.next, state: pr.state, isLearner: pr.isLearner });
      }
    }
    return { ...this.basicStatus(), progress };
  }
}
