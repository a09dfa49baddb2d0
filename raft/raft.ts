import { assert } from "./assert.ts";
import { ErrProposalDropped, ErrSnapshotTemporarilyUnavailable, RaftError } from "./errors.ts";
import { RaftLog } from "./log.ts";
import {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  type Entry,
  entrySize,
  EntryType,
  type HardState,
  isEmptyHardState,
  isEmptySnapshot,
  type Message,
  message,
  MessageType,
  type NodeId,
  NONE,
  payloadSize,
  type Snapshot,
  voteResponseType,
} from "./messages.ts";
import { Progress, ProgressState } from "./progress.ts";
import { mixSeed, SeededRandom } from "./rand.ts";
import { ReadOnly } from "./read-only.ts";
import type { Storage } from "./storage.ts";
import { ProgressTracker, VoteResult } from "./tracker.ts";

/** The role a node currently plays. */
export const StateType = { Follower: 0, Candidate: 1, Leader: 2, PreCandidate: 3 } as const;
export type StateType = typeof StateType[keyof typeof StateType];

export function stateName(s: StateType): string {
  return ["Follower", "Candidate", "Leader", "PreCandidate"][s];
}

/** Configuration of one Raft node. Only `id` and `storage` are required. */
export interface RaftConfig {
  id: NodeId;
  /**
   * The initial voters of a brand-new group. Used only when storage is empty: they are
   * written as committed ConfChange entries at term 1 (as etcd does), so nodes that join
   * later learn the membership from the log. Ignored on restart.
   */
  peers?: readonly NodeId[];
  /** Initial learners, under the same rule as `peers`. */
  learners?: readonly NodeId[];
  /**
   * Context carried by each bootstrap conf change (etcd puts the member's name and URLs
   * there, so every member learns the initial roster from the log itself).
   */
  peerContexts?: ReadonlyMap<NodeId, Uint8Array>;
  storage: Storage;
  /** Ticks without hearing from a leader before campaigning (randomized in [e, 2e)). Default 10. */
  electionTick?: number;
  /** Ticks between leader heartbeats. Default 1. */
  heartbeatTick?: number;
  /** Ask for pre-votes first so a partitioned node cannot disrupt the group on rejoining. */
  preVote?: boolean;
  /** Leader steps down without a quorum of recent contact; followers honour a leader lease. */
  checkQuorum?: boolean;
  /** Upper bound on the payload of one MsgApp. Default 1 MiB. */
  maxSizePerMsg?: number;
  /** How many MsgApps may be in flight to one follower. Default 256. */
  maxInflightMsgs?: number;
  /** Bound on the leader's uncommitted tail; proposals beyond it are dropped. Default unlimited. */
  maxUncommittedEntriesSize?: number;
  /** Bound on the committed entries handed out by one Ready. Default unlimited. */
  maxCommittedSizePerReady?: number;
  /**
   * Fold appends to a follower (and forwarded proposals) into the message already waiting
   * for it in the same Ready, as raft-rs's batch_append does. Default true.
   */
  batchAppends?: boolean;
  /** Seed of the PRNG used for election timeouts (mixed with the ID). Default 0. */
  seed?: number;
  /** The last index the application already applied before a restart. */
  applied?: number;
}

/** A linearizable read point: the read may be served once the state machine reaches `index`. */
export interface ReadState {
  readonly index: number;
  readonly requestCtx: Uint8Array;
}

const CAMPAIGN_TRANSFER = new TextEncoder().encode("CampaignTransfer");

type CampaignType = "pre-election" | "election" | "transfer";

/**
 * The Raft protocol as a deterministic state machine (§5 of the Raft paper plus PreVote,
 * CheckQuorum, ReadIndex, leadership transfer and single-step membership changes). It
 * performs no I/O: outgoing messages accumulate in `msgs` and new entries in the log's
 * unstable part; RawNode hands both to the application.
 */
export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  readStates: ReadState[] = [];
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;
  state: StateType = StateType.Follower;
  isLearner = false;
  msgs: Message[] = [];
  lead: NodeId = NONE;
  /** The node leadership is being handed to, while a transfer is in progress. */
  leadTransferee: NodeId = NONE;
  /** Proposing a conf change is refused until the application applied this index. */
  pendingConfIndex = 0;
  /** Payload bytes in the leader's log that are not yet committed. */
  uncommittedSize = 0;
  readonly readOnly = new ReadOnly();
  /** Reads that arrived before this leader committed an entry of its own term. */
  private pendingReadIndex: Message[] = [];
  electionElapsed = 0;
  private heartbeatElapsed = 0;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  readonly heartbeatTimeout: number;
  readonly electionTimeout: number;
  randomizedElectionTimeout = 0;
  private readonly maxMsgSize: number;
  private readonly maxUncommittedSize: number;
  private readonly batchAppends: boolean;
  private readonly rand: SeededRandom;

  constructor(cfg: RaftConfig) {
    assert(cfg.id !== NONE, "cannot use none as id");
    this.id = cfg.id;
    this.heartbeatTimeout = cfg.heartbeatTick ?? 1;
    this.electionTimeout = cfg.electionTick ?? 10;
    assert(this.heartbeatTimeout > 0, "heartbeat tick must be greater than 0");
    assert(this.electionTimeout > this.heartbeatTimeout, "election tick must be greater than heartbeat tick");
    this.checkQuorum = cfg.checkQuorum ?? false;
    this.preVote = cfg.preVote ?? false;
    this.maxMsgSize = cfg.maxSizePerMsg ?? 1024 * 1024;
    this.maxUncommittedSize = cfg.maxUncommittedEntriesSize ?? Infinity;
    this.batchAppends = cfg.batchAppends ?? true;
    this.rand = new SeededRandom(mixSeed(cfg.seed ?? 0, cfg.id));
    this.log = new RaftLog(cfg.storage, cfg.maxCommittedSizePerReady ?? Infinity);
    this.tracker = new ProgressTracker(cfg.maxInflightMsgs ?? 256);

    // Membership comes from storage (the snapshot) plus the conf changes replayed by the
    // application; a brand-new group is bootstrapped by RawNode from `peers`.
    const { hardState, confState } = cfg.storage.initialState();
    this.restoreConfState(confState);
    if (!isEmptyHardState(hardState)) this.loadState(hardState);
    if (cfg.applied !== undefined && cfg.applied > 0) this.log.appliedTo(cfg.applied);
    this.becomeFollower(this.term, NONE);
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private loadState(hs: HardState): void {
    assert(
      hs.commit >= this.log.committed && hs.commit <= this.log.lastIndex(),
      () =>
        `${this.id} state.commit ${hs.commit} is out of range [${this.log.committed}, ${this.log.lastIndex()}]`,
    );
    this.log.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  /** A node may campaign only if it is a voter in its own configuration. */
  promotable(): boolean {
    const pr = this.tracker.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.log.hasPendingSnapshot();
  }

  // ---- sending -------------------------------------------------------------------------

  /** Queues a message, stamping our ID and (except for proposals and forwarded reads) our term. */
  private send(fields: Partial<Message> & { type: MessageType; to: NodeId }): void {
    const t = fields.type;
    let term = fields.term ?? 0;
    if (
      t === MessageType.MsgVote || t === MessageType.MsgVoteResp || t === MessageType.MsgPreVote ||
      t === MessageType.MsgPreVoteResp
    ) {
      // Vote messages carry the term of the election, not necessarily ours.
      assert(term !== 0, () => `term should be set when sending ${t}`);
    } else {
      assert(term === 0, () => `term should not be set when sending ${t} (was ${term})`);
      if (t !== MessageType.MsgProp && t !== MessageType.MsgReadIndex) term = this.term;
    }
    this.msgs.push(message({ ...fields, from: this.id, term }));
  }

  /** Sends a MsgApp (or a snapshot) to `to` if there is something to send and it is not paused. */
  maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.tracker.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevTerm = this.log.term(pr.next - 1);
    const ents = this.log.entries(pr.next, this.maxMsgSize);
    if (typeof prevTerm === "number" && !(ents instanceof RaftError)) {
      if (ents.length === 0 && !sendIfEmpty) return false;
      if (this.batchAppend(to, pr, ents)) return true;
      this.send({
        type: MessageType.MsgApp,
        to,
        index: pr.next - 1,
        logTerm: prevTerm,
        entries: ents,
        commit: this.log.committed,
      });
      if (ents.length !== 0) {
        if (pr.state === ProgressState.Replicate) {
          const last = ents[ents.length - 1].index;
          pr.optimisticUpdate(last);
          pr.inflights.add(last);
        } else if (pr.state === ProgressState.Probe) {
          pr.probeSent = true;
        } else {
          assert(false, () => `${this.id} is sending append in unhandled state ${pr.state}`);
        }
      }
      return true;
    }
    // The entries it needs were compacted: send a snapshot instead.
    if (!pr.recentActive) return false;
    const snap = this.log.snapshot();
    if (snap === ErrSnapshotTemporarilyUnavailable) return false;
    assert(!(snap instanceof RaftError), () => `unexpected snapshot error ${snap}`);
    assert(!isEmptySnapshot(snap), "need non-empty snapshot");
    pr.becomeSnapshot(snap.metadata.index);
    this.send({ type: MessageType.MsgSnap, to, snapshot: snap });
    return true;
  }

  /**
   * Folds an append into the MsgApp to `to` that is already waiting in `msgs`, if there is
   * one this continues: the same entries and commit index reach the follower in one
   * message instead of one per proposal and per commit advance. (etcd's transport batches
   * on the wire; here every message costs an encode, a decode, a step and a reply, which
   * was most of a follower's CPU.) Returns whether it did.
   */
  private batchAppend(to: NodeId, pr: Progress, ents: readonly Entry[]): boolean {
    if (!this.batchAppends) return false;
    const i = this.pendingAppendTo(to);
    if (i < 0) return false;
    const m = this.msgs[i];
    if (ents.length === 0) {
      this.msgs[i] = { ...m, commit: this.log.committed };
      return true;
    }
    // Only a Replicate follower pipelines; a probe waits for its answer.
    if (pr.state !== ProgressState.Replicate || m.index + m.entries.length + 1 !== ents[0].index) {
      return false;
    }
    let size = 0;
    for (const e of m.entries) size += entrySize(e);
    for (const e of ents) size += entrySize(e);
    if (size > this.maxMsgSize) return false;
    const last = ents[ents.length - 1].index;
    this.msgs[i] = { ...m, entries: m.entries.concat(ents), commit: this.log.committed };
    pr.optimisticUpdate(last);
    // One message, one inflight slot: the message's slot now ends at `last`.
    if (m.entries.length > 0 && pr.inflights.extendLast(m.entries[m.entries.length - 1].index, last)) {
      return true;
    }
    pr.inflights.add(last);
    return true;
  }

  /** The index in `msgs` of this term's MsgApp to `to`, or -1. */
  private pendingAppendTo(to: NodeId): number {
    for (let i = this.msgs.length - 1; i >= 0; i--) {
      const m = this.msgs[i];
      if (m.to === to && m.type === MessageType.MsgApp && m.term === this.term) return i;
    }
    return -1;
  }

  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  private sendHeartbeat(to: NodeId, ctx: Uint8Array | null): void {
    const pr = this.tracker.progress.get(to)!;
    // Never tell a follower to commit beyond what it is known to have: it might not have it.
    const commit = Math.min(pr.match, this.log.committed);
    this.send({ type: MessageType.MsgHeartbeat, to, commit, context: ctx });
  }

  bcastAppend(): void {
    for (const id of this.tracker.progress.keys()) if (id !== this.id) this.sendAppend(id);
  }

  private bcastHeartbeat(ctx: Uint8Array | null): void {
    for (const id of this.tracker.progress.keys()) if (id !== this.id) this.sendHeartbeat(id, ctx);
  }

  // ---- commit and append ---------------------------------------------------------------

  /** Advances the commit index to what a quorum has; only entries of our term count (§5.4.2). */
  maybeCommit(): boolean {
    const mci = this.tracker.committed();
    if (mci === Infinity) return false;
    if (!this.log.maybeCommit(mci, this.term)) return false;
    this.releasePendingReadIndex();
    return true;
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.zeroTermOnError(this.log.committed) === this.term;
  }

  /** Appends proposals to the leader's log; false if the uncommitted tail would grow too large. */
  private appendEntry(ents: Entry[]): boolean {
    let li = this.log.lastIndex();
    for (let i = 0; i < ents.length; i++) {
      const e = ents[i];
      ents[i] = { term: this.term, index: ++li, type: e.type, data: e.data };
    }
    if (!this.increaseUncommittedSize(ents)) return false;
    li = this.log.append(ents);
    this.tracker.progress.get(this.id)?.maybeUpdate(li);
    this.maybeCommit();
    return true;
  }

  private increaseUncommittedSize(ents: readonly Entry[]): boolean {
    const s = payloadSize(ents);
    // An empty tail always accepts one proposal so that a single huge entry is not stuck forever.
    if (this.uncommittedSize > 0 && s > 0 && this.uncommittedSize + s > this.maxUncommittedSize) return false;
    this.uncommittedSize += s;
    return true;
  }

  private reduceUncommittedSize(ents: readonly Entry[]): void {
    if (this.uncommittedSize === 0) return;
    const s = payloadSize(ents);
    this.uncommittedSize = s > this.uncommittedSize ? 0 : this.uncommittedSize - s;
  }

  /** Called by RawNode once committed entries were handed to the application. */
  appliedTo(ents: readonly Entry[]): void {
    if (this.state === StateType.Leader) this.reduceUncommittedSize(ents);
  }

  // ---- timers --------------------------------------------------------------------------

  tick(): void {
    if (this.state === StateType.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0;
      this.step(message({ type: MessageType.MsgHup, from: this.id }));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.step(message({ type: MessageType.MsgCheckQuorum, from: this.id }));
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.state === StateType.Leader && this.leadTransferee !== NONE) this.abortLeaderTransfer();
    }
    if (this.state !== StateType.Leader) return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.step(message({ type: MessageType.MsgBeat, from: this.id }));
    }
  }

  pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTimeout + this.rand.int(this.electionTimeout);
  }

  // ---- role changes --------------------------------------------------------------------

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.tracker.resetVotes();
    const last = this.log.lastIndex();
    for (const [id, pr] of this.tracker.progress) {
      const fresh = new Progress(0, {
        next: last + 1,
        maxInflight: this.tracker.maxInflight,
        learner: pr.isLearner,
      });
      if (id === this.id) fresh.match = last;
      this.tracker.progress.set(id, fresh);
    }
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.readOnly.reset();
    this.pendingReadIndex = [];
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.state = StateType.Follower;
  }

  becomeCandidate(): void {
    assert(this.state !== StateType.Leader, "invalid transition [leader -> candidate]");
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = StateType.Candidate;
  }

  becomePreCandidate(): void {
    assert(this.state !== StateType.Leader, "invalid transition [leader -> pre-candidate]");
    // A pre-candidate changes neither term nor vote: it only asks whether it could win.
    this.tracker.resetVotes();
    this.lead = NONE;
    this.state = StateType.PreCandidate;
  }

  becomeLeader(): void {
    assert(this.state !== StateType.Follower, "invalid transition [follower -> leader]");
    this.reset(this.term);
    this.lead = this.id;
    this.state = StateType.Leader;
    // We know our own log, so replicate to ourselves without probing.
    this.tracker.progress.get(this.id)?.becomeReplicate();
    // Conservatively assume the tail may hold an unapplied conf change.
    this.pendingConfIndex = this.log.lastIndex();
    // The empty entry lets this leader commit (and so learn the commit index) in its own term.
    const ok = this.appendEntry([{
      term: 0,
      index: 0,
      type: EntryType.EntryNormal,
      data: new Uint8Array(0),
    }]);
    assert(ok, "empty entry was dropped");
    // The empty entry must not count against the uncommitted budget.
    this.uncommittedSize = 0;
  }

  private hup(t: CampaignType): void {
    if (this.state === StateType.Leader) return;
    if (!this.promotable()) return;
    // A committed but unapplied conf change may remove us or change the quorum: wait for it.
    const lo = Math.max(this.log.applied + 1, this.log.firstIndex());
    const pending = this.log.slice(lo, Math.max(lo, this.log.committed + 1), Infinity);
    assert(!(pending instanceof RaftError), () => `error getting unapplied entries (${pending})`);
    for (const e of pending) if (e.type !== EntryType.EntryNormal) return;
    this.campaign(t);
  }

  private campaign(t: CampaignType): void {
    let term: number;
    let voteMsg: MessageType;
    if (t === "pre-election") {
      this.becomePreCandidate();
      voteMsg = MessageType.MsgPreVote;
      // Pre-vote asks about the term we would use, without moving to it yet.
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteMsg = MessageType.MsgVote;
      term = this.term;
    }
    if (this.poll(this.id, true) === VoteResult.Won) {
      // A single-voter group wins at once.
      if (t === "pre-election") this.campaign("election");
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.tracker.voters) {
      if (id === this.id) continue;
      this.send({
        type: voteMsg,
        to: id,
        term,
        index: lastIndex,
        logTerm: lastTerm,
        context: t === "transfer" ? CAMPAIGN_TRANSFER : null,
      });
    }
  }

  private poll(id: NodeId, granted: boolean): VoteResult {
    this.tracker.recordVote(id, granted);
    return this.tracker.tallyVotes().result;
  }

  // ---- step ----------------------------------------------------------------------------

  /** Feeds one message (from a peer or local) into the state machine. */
  step(m: Message): RaftError | null {
    if (m.term === 0) {
      // local message
    } else if (m.term > this.term) {
      if (m.type === MessageType.MsgVote || m.type === MessageType.MsgPreVote) {
        const force = m.context !== null && bytesEqual(m.context, CAMPAIGN_TRANSFER);
        const inLease = this.checkQuorum && this.lead !== NONE && this.electionElapsed < this.electionTimeout;
        // Within the lease of a live leader, a disruptive candidate is ignored (§6 of the thesis).
        if (!force && inLease) return null;
      }
      if (m.type === MessageType.MsgPreVote) {
        // Never change term because of a pre-vote.
      } else if (m.type === MessageType.MsgPreVoteResp && !m.reject) {
        // A granted pre-vote carries the future term we asked about; we move there on winning.
      } else if (
        m.type === MessageType.MsgApp || m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgSnap
      ) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if (
        (this.checkQuorum || this.preVote) &&
        (m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgApp)
      ) {
        // A stale leader cut off by a partition: tell it our term so it steps down. Without
        // this it would never learn, because with CheckQuorum/PreVote we ignore its votes.
        this.send({ type: MessageType.MsgAppResp, to: m.from });
      } else if (m.type === MessageType.MsgPreVote) {
        // Reject so the pre-candidate learns the newer term instead of waiting forever.
        this.send({ type: MessageType.MsgPreVoteResp, to: m.from, term: this.term, reject: true });
      }
      return null;
    }

    switch (m.type) {
      case MessageType.MsgHup:
        this.hup(this.preVote ? "pre-election" : "election");
        return null;
      case MessageType.MsgVote:
      case MessageType.MsgPreVote: {
        // A learner answers too (as in etcd): the candidate may already have applied its
        // promotion. Candidates only ask, and only count, the voters of their own config.
        const canVote = this.vote === m.from ||
          (this.vote === NONE && this.lead === NONE) ||
          (m.type === MessageType.MsgPreVote && m.term > this.term);
        if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
          // Answer with the term of the request: for a pre-vote that is a future term.
          this.send({ type: voteResponseType(m.type), to: m.from, term: m.term });
          if (m.type === MessageType.MsgVote) {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          this.send({ type: voteResponseType(m.type), to: m.from, term: this.term, reject: true });
        }
        return null;
      }
      default:
        if (this.state === StateType.Leader) return this.stepLeader(m);
        if (this.state === StateType.Follower) return this.stepFollower(m);
        return this.stepCandidate(m);
    }
  }

  private stepLeader(m: Message): RaftError | null {
    switch (m.type) {
      case MessageType.MsgBeat:
        this.bcastHeartbeat(this.readOnly.lastPendingRequestContext());
        return null;
      case MessageType.MsgCheckQuorum:
        if (!this.tracker.quorumActive(this.id)) {
          this.becomeFollower(this.term, NONE);
          return null;
        }
        for (const [id, pr] of this.tracker.progress) if (id !== this.id) pr.recentActive = false;
        return null;
      case MessageType.MsgProp:
        return this.handleProposal(m);
      case MessageType.MsgReadIndex:
        if (!this.committedEntryInCurrentTerm()) {
          // Until we commit in our term our commit index may lag the real one (§6.4 of the thesis).
          this.pendingReadIndex.push(m);
          return null;
        }
        this.handleReadIndex(m);
        return null;
    }

    const pr = this.tracker.progress.get(m.from);
    if (pr === undefined) return null;
    switch (m.type) {
      case MessageType.MsgAppResp:
        this.handleAppendResponse(m, pr);
        break;
      case MessageType.MsgHeartbeatResp:
        this.handleHeartbeatResponse(m, pr);
        break;
      case MessageType.MsgSnapStatus:
        if (pr.state !== ProgressState.Snapshot) return null;
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Wait for the follower's MsgAppResp (or the next heartbeat) before probing again.
        pr.probeSent = true;
        break;
      case MessageType.MsgUnreachable:
        // Optimistic streaming to an unreachable node loses messages: fall back to probing.
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        break;
      case MessageType.MsgTransferLeader:
        this.handleTransferLeader(m, pr);
        break;
    }
    return null;
  }

  private handleProposal(m: Message): RaftError | null {
    assert(m.entries.length > 0, "stepped empty MsgProp");
    // Removed from the group, or handing leadership over: do not accept writes.
    if (!this.tracker.progress.has(this.id)) return ErrProposalDropped;
    if (this.leadTransferee !== NONE) return ErrProposalDropped;
    const ents = m.entries.slice();
    for (const e of ents) {
      if (e.type === EntryType.EntryConfChange || e.type === EntryType.EntryConfChangeV2) {
        // One membership change at a time: the next waits until the previous is applied.
        if (this.pendingConfIndex > this.log.applied) return ErrProposalDropped;
      }
    }
    if (!this.appendEntry(ents)) return ErrProposalDropped;
    for (const e of ents) {
      if (e.type !== EntryType.EntryNormal) this.pendingConfIndex = e.index;
    }
    this.bcastAppend();
    return null;
  }

  private handleReadIndex(m: Message): void {
    if (this.tracker.isSingleton()) {
      this.respondToRead(m, this.log.committed);
      return;
    }
    // Confirm we are still leader with a heartbeat round before answering.
    this.readOnly.addRequest(this.log.committed, m);
    this.readOnly.recvAck(this.id, m.entries[0].data);
    this.bcastHeartbeat(m.entries[0].data);
  }

  private respondToRead(req: Message, index: number): void {
    if (req.from === NONE || req.from === this.id) {
      this.readStates.push({ index, requestCtx: req.entries[0].data });
    } else {
      this.send({ type: MessageType.MsgReadIndexResp, to: req.from, index, entries: req.entries });
    }
  }

  private releasePendingReadIndex(): void {
    if (this.pendingReadIndex.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const pending = this.pendingReadIndex;
    this.pendingReadIndex = [];
    for (const m of pending) this.handleReadIndex(m);
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      let hint = m.rejectHint;
      // The follower told us the last term it has at or below the hint: skip to where our
      // log could match it, past a whole term of conflicting entries.
      if (m.logTerm > 0) hint = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const oldPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === ProgressState.Probe) {
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Snapshot && pr.match >= pr.pendingSnapshot) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Replicate) {
      pr.inflights.freeLE(m.index);
    }
    if (this.maybeCommit()) {
      this.bcastAppend();
    } else if (oldPaused) {
      // It was paused and now has room: resume (it may have an older commit index too).
      this.sendAppend(m.from);
    }
    // Pipeline: keep sending while the inflight window allows and there is something new.
    while (this.maybeSendAppend(m.from, false)) { /* keep sending */ }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.send({ type: MessageType.MsgTimeoutNow, to: m.from });
    }
  }

  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.probeSent = false;
    // A full window with no acknowledgements may have lost messages: let one more through.
    if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
    if (m.context === null || m.context.length === 0) return;
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (acks === null || !this.tracker.hasQuorum(acks)) return;
    for (const rs of this.readOnly.advance(m.context)) this.respondToRead(rs.req, rs.index);
  }

  private handleTransferLeader(m: Message, pr: Progress): void {
    if (pr.isLearner) return;
    const transferee = m.from;
    if (this.leadTransferee !== NONE) {
      if (this.leadTransferee === transferee) return;
      this.abortLeaderTransfer();
    }
    if (transferee === this.id) return;
    // The transfer must finish within one election timeout or it is abandoned.
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    if (pr.match === this.log.lastIndex()) {
      this.send({ type: MessageType.MsgTimeoutNow, to: transferee });
    } else {
      this.sendAppend(transferee);
    }
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  private stepCandidate(m: Message): RaftError | null {
    const myVoteResp = this.state === StateType.PreCandidate
      ? MessageType.MsgPreVoteResp
      : MessageType.MsgVoteResp;
    switch (m.type) {
      case MessageType.MsgProp:
        return ErrProposalDropped;
      case MessageType.MsgApp:
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return null;
      case MessageType.MsgHeartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return null;
      case MessageType.MsgSnap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return null;
      case myVoteResp: {
        const res = this.poll(m.from, !m.reject);
        if (res === VoteResult.Won) {
          if (this.state === StateType.PreCandidate) {
            this.campaign("election");
          } else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (res === VoteResult.Lost) {
          // A rejecting node with a newer term already moved us to follower in step().
          this.becomeFollower(this.term, NONE);
        }
        return null;
      }
      case MessageType.MsgTimeoutNow:
        return null;
    }
    return null;
  }

  private stepFollower(m: Message): RaftError | null {
    switch (m.type) {
      case MessageType.MsgProp: {
        if (this.lead === NONE) return ErrProposalDropped;
        // Proposals forwarded in the same Ready travel as one message, in order.
        const last = this.msgs.length - 1;
        const prev = this.msgs[last];
        if (this.batchAppends && prev?.type === MessageType.MsgProp && prev.to === this.lead) {
          this.msgs[last] = { ...prev, entries: prev.entries.concat(m.entries) };
          return null;
        }
        this.msgs.push(message({ ...m, to: this.lead }));
        return null;
      }
      case MessageType.MsgApp:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return null;
      case MessageType.MsgHeartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return null;
      case MessageType.MsgSnap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return null;
      case MessageType.MsgTransferLeader:
        if (this.lead === NONE) return null;
        this.msgs.push(message({ ...m, to: this.lead }));
        return null;
      case MessageType.MsgTimeoutNow:
        // Campaign at once, skipping pre-vote: the leader asked us to take over.
        this.hup("transfer");
        return null;
      case MessageType.MsgReadIndex:
        if (this.lead === NONE) return null;
        this.msgs.push(message({ ...m, to: this.lead }));
        return null;
      case MessageType.MsgReadIndexResp:
        if (m.entries.length !== 1) return null;
        this.readStates.push({ index: m.index, requestCtx: m.entries[0].data });
        return null;
    }
    return null;
  }

  private handleAppendEntries(m: Message): void {
    if (m.index < this.log.committed) {
      this.send({ type: MessageType.MsgAppResp, to: m.from, index: this.log.committed });
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew >= 0) {
      this.send({ type: MessageType.MsgAppResp, to: m.from, index: lastNew });
      return;
    }
    // Tell the leader the last index and term we have at or below its probe, so it can skip
    // over every entry of a conflicting term in one round trip.
    const hintIndex = Math.min(m.index, this.log.lastIndex());
    const hint = this.log.findConflictByTerm(hintIndex, m.logTerm);
    this.send({
      type: MessageType.MsgAppResp,
      to: m.from,
      index: m.index,
      reject: true,
      rejectHint: hint.index,
      logTerm: hint.term,
    });
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(m.commit);
    this.send({ type: MessageType.MsgHeartbeatResp, to: m.from, context: m.context });
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    assert(s !== null, "MsgSnap without snapshot");
    if (this.restore(s)) {
      this.send({ type: MessageType.MsgAppResp, to: m.from, index: this.log.lastIndex() });
    } else {
      this.send({ type: MessageType.MsgAppResp, to: m.from, index: this.log.committed });
    }
  }

  /** Replaces the log with a snapshot from the leader; false if it is stale or unneeded. */
  restore(s: Snapshot): boolean {
    if (s.metadata.index <= this.log.committed) return false;
    // Only a follower installs snapshots; anything else means a second leader in our term.
    assert(
      this.state === StateType.Follower,
      () => `${this.id} asked to restore a snapshot as ${stateName(this.state)}`,
    );
    const cs = s.metadata.confState;
    // A snapshot may predate the conf change that added us; we install it anyway and learn
    // of our membership when that later entry is applied.
    if (this.log.matchTerm(s.metadata.index, s.metadata.term)) {
      // We already have the entries: just fast-forward the commit index.
      this.log.commitTo(s.metadata.index);
      return false;
    }
    this.log.restore(s);
    this.restoreConfState(cs);
    return true;
  }

  // ---- membership ----------------------------------------------------------------------

  private restoreConfState(cs: ConfState): void {
    this.tracker.voters.clear();
    this.tracker.learners.clear();
    this.tracker.progress.clear();
    const next = this.log.lastIndex() + 1;
    for (const id of cs.voters) this.addProgress(id, false, next);
    for (const id of cs.learners) this.addProgress(id, true, next);
    const pr = this.tracker.progress.get(this.id);
    this.isLearner = pr?.isLearner ?? false;
  }

  private addProgress(id: NodeId, learner: boolean, next: number): void {
    const pr = new Progress(0, { next, maxInflight: this.tracker.maxInflight, learner });
    // A new member counts as active so that CheckQuorum does not fire before it answers.
    pr.recentActive = true;
    if (id === this.id) pr.match = next - 1;
    this.tracker.progress.set(id, pr);
    if (learner) this.tracker.learners.add(id);
    else this.tracker.voters.add(id);
  }

  /**
   * Applies a committed membership change; the application calls this when it applies the
   * conf-change entry, so a change takes effect when applied, not when appended.
   */
  applyConfChange(cc: ConfChange): ConfState {
    const id = cc.nodeId;
    if (id !== NONE) {
      const pr = this.tracker.progress.get(id);
      switch (cc.type) {
        case ConfChangeType.ConfChangeAddNode:
        case ConfChangeType.ConfChangeAddLearnerNode: {
          const learner = cc.type === ConfChangeType.ConfChangeAddLearnerNode;
          if (pr === undefined) {
            this.addProgress(id, learner, this.log.lastIndex() + 1);
          } else if (pr.isLearner !== learner) {
            pr.isLearner = learner;
            if (learner) {
              this.tracker.voters.delete(id);
              this.tracker.learners.add(id);
            } else {
              this.tracker.learners.delete(id);
              this.tracker.voters.add(id);
            }
          }
          break;
        }
        case ConfChangeType.ConfChangeRemoveNode:
          this.tracker.voters.delete(id);
          this.tracker.learners.delete(id);
          this.tracker.progress.delete(id);
          break;
        case ConfChangeType.ConfChangeUpdateNode:
          break;
      }
    }
    const self = this.tracker.progress.get(this.id);
    this.isLearner = self?.isLearner ?? false;
    if (this.state === StateType.Leader) this.afterConfChangeAsLeader();
    return this.tracker.confState();
  }

  private afterConfChangeAsLeader(): void {
    if (!this.tracker.voters.has(this.id)) {
      // We were removed or demoted: hand over to the most up-to-date voter and step down so
      // the group does not wait for an election timeout with a leader that is not a voter.
      const last = this.log.lastIndex();
      for (const id of this.tracker.voters) {
        if (this.tracker.progress.get(id)!.match === last) {
          this.send({ type: MessageType.MsgTimeoutNow, to: id });
          break;
        }
      }
      this.becomeFollower(this.term, NONE);
      return;
    }
    if (this.leadTransferee !== NONE && !this.tracker.voters.has(this.leadTransferee)) {
      this.abortLeaderTransfer();
    }
    // A smaller quorum may commit more at once; new members need the log.
    if (this.maybeCommit()) {
      this.bcastAppend();
    } else {
      for (const id of this.tracker.progress.keys()) if (id !== this.id) this.maybeSendAppend(id, false);
    }
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
