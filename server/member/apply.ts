/**
 * The apply loop (etcd's applyAll): committed entries go to the store in one transaction
 * with their applied index; their callers, the watch hub and the membership hear of it; a
 * leader's snapshot replaces the store; every --snapshot-count entries the log records a
 * snapshot and forgets what it covers. Nothing else writes the store.
 */
import type { InternalRaftRequest } from "../../proto/gen/etcdserverpb/raft_internal_pb.ts";
import type { Wal } from "../../wal/wal.ts";
import type { MemberRecord, MvccStore } from "../../store/mvcc.ts";
import type { Entry as StoreEntry, StateMachine } from "../apply/state_machine.ts";
import type { Event } from "../../proto/gen/mvccpb/kv_pb.ts";
import {
  type ConfChange,
  type ConfState,
  decodeConfChange,
  type Entry,
  EntryType,
  type MemoryStorage,
  type Snapshot,
} from "../../raft/mod.ts";
import { memberChangeOf } from "../conf-change.ts";
import { decodeProposal, requestIdOf } from "../proposal_codec.ts";
import { log } from "../log.ts";
import type { Proposal, ProposalRegistry } from "./proposals.ts";
import type { ReadLoop } from "./read_loop.ts";
import type { SnapshotFiles } from "./snapshot_files.ts";

/** What the apply loop tells subscribers (the watch hub) after each applied batch. */
export interface AppliedBatch {
  /** Events of the batch, in revision order. */
  readonly events: readonly Event[];
  readonly revision: bigint;
}

/** What the apply loop tells subscribers after it replaced the store with a leader's snapshot. */
export interface SnapshotInstalled {
  /** The store's revision before the snapshot: watchers were in sync up to it. */
  readonly previousRevision: bigint;
  readonly revision: bigint;
}

export interface ApplierOptions {
  readonly memberId: bigint;
  readonly state: StateMachine;
  readonly wal: Wal;
  /** Raft's log storage: compacted after a snapshot. */
  readonly storage: MemoryStorage;
  /** Raft's membership after a conf change (RawNode.applyConfChange). */
  readonly applyConfChange: (cc: ConfChange) => ConfState;
  readonly proposals: ProposalRegistry;
  readonly reads: ReadLoop;
  readonly snapshots: SnapshotFiles;
  /** The membership as of the log's last snapshot, and that snapshot's index (0: none). */
  readonly confState: ConfState;
  readonly snapshotIndex: number;
  /** Snapshot every this many applied entries; 0 never. */
  readonly snapshotCount: number;
  /** Entries kept in the log after a snapshot, for slow followers. */
  readonly catchUpEntries: number;
  /** Log segments kept after a snapshot. */
  readonly maxWals: number;
  readonly onMembersChanged: (members: readonly MemberRecord[]) => void;
  readonly onRemoved: () => void;
}

export class Applier {
  readonly #o: ApplierOptions;
  readonly #store: MvccStore;
  readonly #proposals: ProposalRegistry;
  /** The membership Raft last reported (what a snapshot records). */
  #confState: ConfState;
  /** Index of the last snapshot in the log (0: none). */
  #snapshotIndex: number;
  #removed = false;
  readonly #listeners: ((b: AppliedBatch) => void)[] = [];
  readonly #snapshotListeners: ((s: SnapshotInstalled) => void)[] = [];

  constructor(opts: ApplierOptions) {
    this.#o = opts;
    this.#store = opts.state.store;
    this.#proposals = opts.proposals;
    this.#confState = opts.confState;
    this.#snapshotIndex = opts.snapshotIndex;
  }

  /** Subscribes to applied batches. */
  onApplied(listener: (b: AppliedBatch) => void): void {
    this.#listeners.push(listener);
  }

  /** Subscribes to store replacements by a leader's snapshot. */
  onSnapshotInstalled(listener: (s: SnapshotInstalled) => void): void {
    this.#snapshotListeners.push(listener);
  }

  /** Applies a Ready's committed entries, in order, then snapshots if it is time. */
  applyCommitted(entries: readonly Entry[]): void {
    this.#apply(entries);
    this.#maybeSnapshot();
  }

  /** Replaces the store with the copy that came with the leader's snapshot `snap`. */
  installSnapshot(snap: Snapshot): void {
    const { index, term, confState } = snap.metadata;
    const store = this.#store;
    const file = this.#o.snapshots.incoming(index);
    if (file === undefined) {
      throw new Error(`member: raft accepted snapshot ${index} whose store copy is missing`);
    }
    const previousRevision = store.currentRevision();
    this.#o.state.installCopy(file);
    if (store.appliedIndex() < BigInt(index)) {
      throw new Error(`member: snapshot ${index} came with a store at ${store.appliedIndex()}`);
    }
    this.#o.snapshots.installed(index);
    // Durable at once: a restart must not find the new store ahead of the log's last index.
    this.#o.wal.saveSnapshot({ index, term, confState });
    this.#o.wal.syncNow();
    this.#o.storage.applySnapshot(snap);
    this.#confState = confState;
    this.#snapshotIndex = index;
    const installed = { previousRevision, revision: store.currentRevision() };
    log.info(`installed a snapshot from the leader at index ${index}, store revision ${installed.revision}`);
    for (const l of this.#snapshotListeners) l(installed);
    this.#o.onMembersChanged(store.members());
  }

  /**
   * Every --snapshot-count applied entries: record a snapshot in the log (the store itself
   * is the snapshot's data) and drop what it covers, keeping some entries for followers
   * that are only a little behind.
   */
  #maybeSnapshot(): void {
    const { storage, wal } = this.#o;
    const applied = Number(this.#store.appliedIndex());
    if (this.#o.snapshotCount <= 0 || applied - this.#snapshotIndex < this.#o.snapshotCount) return;
    this.#store.flush(); // the log may now forget what the store holds durably
    const term = storage.term(applied);
    if (typeof term !== "number") return;
    const snap = storage.createSnapshot(applied, { confState: this.#confState, data: new Uint8Array() });
    if (!("metadata" in snap)) return;
    wal.saveSnapshot({ index: applied, term, confState: this.#confState });
    wal.syncNow();
    const compactTo = applied - this.#o.catchUpEntries;
    if (compactTo > storage.firstIndex()) storage.compact(compactTo);
    wal.releaseTo(applied, this.#o.maxWals);
    this.#snapshotIndex = applied;
  }

  #apply(entries: readonly Entry[]): void {
    const batch: StoreEntry[] = [];
    const waiters: (Proposal | undefined)[] = [];
    const confApplied: bigint[] = [];
    let removedSelf = false;
    const storeApplied = this.#store.appliedIndex();
    for (const e of entries) {
      let request: InternalRaftRequest | null = null;
      let waiter: Proposal | undefined;
      if (e.type === EntryType.EntryConfChange) {
        // Raft's membership is rebuilt from every conf change, even those the store already holds.
        const cc = decodeConfChange(e.data);
        this.#confState = this.#o.applyConfChange(cc);
        if (BigInt(e.index) <= storeApplied) continue;
        const memberChange = memberChangeOf(cc);
        if (memberChange.kind === "remove" && memberChange.id === this.#o.memberId) removedSelf = true;
        if (cc.id !== undefined) confApplied.push(cc.id);
        batch.push({ index: BigInt(e.index), term: BigInt(e.term), request: null, memberChange });
        waiters.push(undefined);
        continue;
      }
      if (BigInt(e.index) <= storeApplied) continue; // replayed after a restart: already in the store
      // An empty entry only advances the store's applied index.
      if (e.data.length > 0) {
        const id = requestIdOf(e.data);
        waiter = id === null ? undefined : this.#proposals.take(id);
        request = waiter !== undefined ? waiter.request : decodeProposal(e.data);
      }
      batch.push({ index: BigInt(e.index), term: BigInt(e.term), request });
      waiters.push(waiter);
    }
    if (batch.length === 0) return;
    const outcomes = this.#o.state.applyBatch(batch);
    const events: Event[] = [];
    for (let i = 0; i < outcomes.length; i++) {
      const o = outcomes[i];
      for (const ev of o.events ?? []) events.push(ev);
      waiters[i]?.resolve(o);
    }
    if (events.length > 0 && this.#listeners.length > 0) {
      const b: AppliedBatch = { events, revision: this.#store.currentRevision() };
      for (const l of this.#listeners) l(b);
    }
    if (batch.some((e) => e.memberChange !== undefined)) {
      const members = this.#store.members();
      this.#proposals.confApplied(confApplied, members);
      this.#o.onMembersChanged(members);
    }
    this.#o.reads.onApplied();
    if (removedSelf && !this.#removed) {
      this.#removed = true;
      this.#o.onRemoved();
    }
  }
}
