/**
 * Drives the Raft node (etcd's raftNode.start): ticks it, and for each Ready persists
 * entries and hard state to the WAL (one fsync for everything proposed meanwhile: group
 * commit), sends messages (a leader before its own fsync, as etcd's does), hands the
 * snapshot, committed entries and read states to the apply and read loops, and advances.
 */
import type { Wal } from "../../wal/wal.ts";
import {
  type Entry,
  type MemoryStorage,
  type Message,
  MessageType,
  type RawNode,
  type ReadState,
  type Ready,
  type Snapshot,
  type SoftState,
  StateType,
} from "../../raft/mod.ts";
import { formatGoDuration } from "../../lib/gofmt.ts";
import { errorFields, log } from "../log.ts";
import { softStateLines } from "../raft_events.ts";
import { type Clock, sleep, type Timer } from "./clock.ts";
import type { SnapshotFiles } from "./snapshot_files.ts";

/**
 * Recent fsyncs shorter than this (ms) are made on the event loop (see syncsOnLoop): a
 * pause no longer than a young-generation GC's, on disks such as local SSDs, where the
 * thread pool's round trip costs more than the wait.
 */
export const BLOCKING_SYNC_MS = 1;

/**
 * Whether a Ready's fsync is made on the event loop rather than on the thread pool. A
 * blocking fdatasync saves the round trip through the pool, two thread wake-ups per sync
 * (blocking, with 64 clients: 0.91× the CPU per put for 1.04× the puts over 5 paired rounds;
 * 3-member clusters 1.09–1.19× the puts, measured). But it holds the loop, so reads,
 * watch events and new requests wait for the disk: worth it only while the disk's recent
 * fsyncs are short, or for a lone entry with at most one caller waiting (a lone client),
 * when there is no other work to overlap with the sync anyway (~10% of its put latency).
 */
export function syncsOnLoop(recentSyncMs: number, entries: number, pendingProposals: number): boolean {
  return recentSyncMs < BLOCKING_SYNC_MS || (entries === 1 && pendingProposals <= 1);
}

/** Where a Ready's parts go once they are durable (the member wires the apply and read loops). */
export interface ReadyHandler {
  /** A leader's snapshot: replace the store before anything else. */
  installSnapshot(snap: Snapshot): void;
  /** Committed entries, in order. */
  applyCommitted(entries: readonly Entry[]): void;
  /** Answers to ReadIndex requests. */
  readStates(states: readonly ReadState[]): void;
  /** Callers waiting for proposals (a lone one lets a lone entry sync blocking). */
  pendingProposals(): number;
  /** Called after each advanced Ready while a leader is known. */
  leaderKnown(): void;
}

export interface RaftDriverOptions {
  readonly memberId: bigint;
  readonly node: RawNode;
  /** The node's storage: what is durable in the WAL is appended here. */
  readonly storage: MemoryStorage;
  readonly wal: Wal;
  readonly clock: Clock;
  readonly heartbeatMs: number;
  /** Heartbeats without a leader before a follower campaigns. */
  readonly electionTicks: number;
  readonly send: (messages: readonly Message[]) => void;
  /** Sends a MsgSnap with the store copy at `file`; resolves whether it arrived. */
  readonly sendSnapshot: (m: Message, file: string) => Promise<boolean>;
  /** Copies the store to `file` (a MsgSnap's data). */
  readonly copyStore: (file: string) => Promise<void>;
  readonly snapshots: SnapshotFiles;
  readonly handler: ReadyHandler;
}

export class RaftDriver {
  readonly #o: RaftDriverOptions;
  readonly #node: RawNode;
  readonly #wal: Wal;
  readonly #handler: ReadyHandler;
  readonly #leaderListeners: ((isLeader: boolean) => void)[] = [];
  #wasLeader = false;
  #lead = 0n;
  /** The role and leader last logged (raft_events.ts). */
  #soft: SoftState = { lead: 0n, state: StateType.Follower };
  #leaderChanges = 0;
  #scheduled = false;
  #running = false;
  #stopped = false;
  #ticker: Timer | null = null;
  /** Whether the sole voter's first campaign (etcd's fast-forward) was logged. */
  #fastForwarded = false;

  constructor(opts: RaftDriverOptions) {
    this.#o = opts;
    this.#node = opts.node;
    this.#wal = opts.wal;
    this.#handler = opts.handler;
  }

  /** Starts ticking and handles the first Ready. */
  start(): void {
    this.#ticker ??= this.#o.clock.every(this.#o.heartbeatMs, () => {
      this.#node.tick();
      this.schedule();
    });
    this.#campaignIfAlone();
    this.schedule();
  }

  /**
   * The only voter (a fresh single member, or one restarting) campaigns at once instead of
   * waiting out an election timeout, as etcd's fast-forwarded ticks do but without the
   * randomized remainder. Raft refuses while conf changes are unapplied, so the drain loop
   * asks again after each Ready until they are.
   */
  #campaignIfAlone(): void {
    if (this.#lead !== 0n || this.#node.basicStatus().state !== StateType.Follower) return;
    if (!this.#node.isSoleVoter()) return;
    this.#node.campaign();
    // Logged once, when the campaign went ahead (Raft refuses it while conf changes are
    // unapplied), with etcd's fields: etcd forwards all ticks but one.
    if (this.#fastForwarded || this.#node.basicStatus().state === StateType.Follower) return;
    this.#fastForwarded = true;
    const ticks = this.#o.electionTicks;
    log.info("started as single-node; fast-forwarding election ticks", {
      "local-member-id": this.#o.memberId.toString(16),
      "forward-ticks": ticks - 1,
      "forward-duration": formatGoDuration((ticks - 1) * this.#o.heartbeatMs),
      "election-ticks": ticks,
      "election-timeout": formatGoDuration(ticks * this.#o.heartbeatMs),
    });
  }

  /** Forwards the election clock by `ticks` at once (etcd's advanceTicks). */
  advanceTicks(ticks: number): void {
    if (this.#stopped) return;
    for (let i = 0; i < ticks; i++) this.#node.tick();
    this.schedule();
  }

  /** Stops ticking and starting Readys; resolves once the Ready in progress is done. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#ticker?.cancel();
    this.#ticker = null;
    while (this.#running) await sleep(this.#o.clock, 5);
  }

  /** The current leader's ID as of the last Ready, 0 when none is known. */
  get lead(): bigint {
    return this.#lead;
  }

  /** How many times a new leader was seen. */
  get leaderChanges(): number {
    return this.#leaderChanges;
  }

  /** Subscribes to this member becoming or ceasing to be the leader, after that Ready. */
  onLeaderChange(listener: (isLeader: boolean) => void): void {
    this.#leaderListeners.push(listener);
  }

  /** Handles the node's Readys soon (once per event-loop turn, however often asked). */
  schedule(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    this.#o.clock.soon(this.#run);
  }

  readonly #run = (): void => {
    this.#scheduled = false;
    // A run scheduled before stop() must not start after it: the store may be closed by now.
    if (this.#running || this.#stopped) return;
    this.#running = true;
    this.#drain().then(() => {
      this.#running = false;
      if (this.#node.hasReady()) this.schedule();
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
      const isLeader = this.#node.basicStatus().state === StateType.Leader;
      if (isLeader !== this.#wasLeader) {
        this.#wasLeader = isLeader;
        for (const l of this.#leaderListeners) l(isLeader);
      }
      this.#campaignIfAlone();
      if (this.#lead !== 0n) this.#handler.leaderKnown();
    }
  }

  async #handleReady(rd: Ready): Promise<void> {
    if (rd.softState !== null) {
      const term = this.#node.basicStatus().term;
      for (const line of softStateLines(this.#o.memberId, term, this.#soft, rd.softState)) log.info(line);
      this.#soft = rd.softState;
      if (rd.softState.lead !== this.#lead) {
        if (rd.softState.lead !== 0n) this.#leaderChanges++;
        this.#lead = rd.softState.lead;
      }
    }
    // 0. A snapshot from the leader replaces the store first: once the log says the entries
    // before it are gone, the store must already hold them (etcd installs the db first too).
    if (rd.snapshot !== null) this.#handler.installSnapshot(rd.snapshot);
    // A leader's messages may leave before its own entries are durable, as etcd's do: the
    // followers' fsyncs overlap the leader's instead of following it. Nothing observable gets
    // ahead of the leader's disk: acks arriving meanwhile only take effect in the next Ready,
    // which this loop asks for after the sync below. Term and vote must still be durable
    // first: a Ready that also changed them (a candidate that won in the same batch) carries
    // vote requests, so it is sent after persisting.
    const sendFirst = rd.messages.length > 0 && this.#node.basicStatus().state === StateType.Leader &&
      this.#termVoteDurable(rd);
    if (sendFirst) this.#sendAll(rd.messages);
    // 1. Persist: nothing below may depend on entries or votes that are not durable.
    if (rd.entries.length > 0 || rd.hardState !== null || rd.snapshot !== null) {
      this.#wal.save(rd.entries, rd.hardState ?? undefined);
      if (rd.mustSync) {
        if (syncsOnLoop(this.#wal.recentSyncMs, rd.entries.length, this.#handler.pendingProposals())) {
          this.#wal.syncNow();
        } else await this.#wal.sync();
      }
      if (rd.hardState !== null) this.#o.storage.setHardState(rd.hardState);
      if (rd.entries.length > 0) this.#o.storage.append(rd.entries);
    }
    // 2. Only now tell peers.
    if (rd.messages.length > 0 && !sendFirst) this.#sendAll(rd.messages);
    // 3. Apply what is committed, in order.
    if (rd.committedEntries.length > 0) this.#handler.applyCommitted(rd.committedEntries);
    if (rd.readStates.length > 0) this.#handler.readStates(rd.readStates);
  }

  /** Whether `rd` leaves term and vote as they are already on disk. */
  #termVoteDurable(rd: Ready): boolean {
    if (rd.hardState === null) return true;
    const durable = this.#o.storage.initialState().hardState;
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
      const files = this.#o.snapshots;
      const file = files.outgoing(m.to);
      // The copy is taken now (it must hold at least the snapshot's entries) and finishes
      // over several event-loop turns; Raft waits for the report either way.
      this.#o.copyStore(file).then(
        () => this.#o.sendSnapshot(m, file),
        (e) => {
          log.error("copying the store for a snapshot failed", errorFields(e));
          return false;
        },
      ).then((ok) => {
        files.remove(file);
        if (this.#stopped) return;
        this.#node.reportSnapshot(m.to, ok ? "finish" : "failure");
        this.schedule();
      });
    }
    if (plain.length > 0) this.#o.send(plain);
  }
}
