import { assert } from "./assert.ts";
import { ErrCompacted, ErrSnapOutOfDate, ErrUnavailable, type RaftError } from "./errors.ts";
import {
  type ConfState,
  EMPTY_BYTES,
  EMPTY_HARD_STATE,
  type Entry,
  entrySize,
  EntryType,
  type HardState,
  type Snapshot,
} from "./messages.ts";

/** What a node restarts from: the persisted hard state and the membership in effect. */
export interface InitialState {
  readonly hardState: HardState;
  readonly confState: ConfState;
}

/**
 * The durable log as Raft reads it. The application writes it (entries, hard state and
 * snapshots from each Ready) and Raft only reads; expected failures are returned as values.
 */
export interface Storage {
  initialState(): InitialState;
  /** Entries in [lo, hi), at least one if any exist, stopping before `maxBytes` is exceeded. */
  entries(lo: number, hi: number, maxBytes: number): readonly Entry[] | RaftError;
  /** The term of entry `i`, which must be in [firstIndex()-1, lastIndex()]. */
  term(i: number): number | RaftError;
  /** The index of the first entry still available (older ones are in the snapshot). */
  firstIndex(): number;
  lastIndex(): number;
  /** The most recent snapshot; may be ErrSnapshotTemporarilyUnavailable while one is built. */
  snapshot(): Snapshot | RaftError;
}

/** Takes entries from the front while their sizes fit in `maxBytes` (always at least one). */
export function limitSize(ents: readonly Entry[], maxBytes: number): readonly Entry[] {
  if (ents.length <= 1) return ents;
  let size = entrySize(ents[0]);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entrySize(ents[n]);
    if (size > maxBytes) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}

/**
 * `ents[from, to)` cut to what `limitSize` would keep, without copying the rest first: a
 * leader asks for everything a follower lacks and sends at most one message's worth.
 */
export function sliceWithin(ents: readonly Entry[], from: number, to: number, maxBytes: number): Entry[] {
  if (to - from <= 1 || maxBytes === Infinity) return ents.slice(from, to);
  let size = entrySize(ents[from]);
  let end = from + 1;
  for (; end < to; end++) {
    size += entrySize(ents[end]);
    if (size > maxBytes) break;
  }
  return ents.slice(from, end);
}

/**
 * An in-memory Storage for tests, the simulator and the benchmark. `ents[0]` is a dummy
 * entry carrying the index and term of the last compaction (or snapshot).
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot;
  private ents: Entry[];

  constructor(opts: { snapshot?: Snapshot } = {}) {
    this.snap = opts.snapshot ?? {
      data: EMPTY_BYTES,
      metadata: { confState: { voters: [], learners: [] }, index: 0, term: 0 },
    };
    this.ents = [dummy(this.snap.metadata.index, this.snap.metadata.term)];
  }

  initialState(): InitialState {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  entries(lo: number, hi: number, maxBytes: number): readonly Entry[] | RaftError {
    const offset = this.ents[0].index;
    if (lo <= offset) return ErrCompacted;
    if (hi > this.lastIndex() + 1) return ErrUnavailable;
    if (this.ents.length === 1) return ErrUnavailable;
    return sliceWithin(this.ents, lo - offset, hi - offset, maxBytes);
  }

  term(i: number): number | RaftError {
    const offset = this.ents[0].index;
    if (i < offset) return ErrCompacted;
    if (i - offset >= this.ents.length) return ErrUnavailable;
    return this.ents[i - offset].term;
  }

  firstIndex(): number {
    return this.ents[0].index + 1;
  }

  lastIndex(): number {
    return this.ents[0].index + this.ents.length - 1;
  }

  snapshot(): Snapshot | RaftError {
    return this.snap;
  }

  /** Replaces the whole contents with a snapshot received from the leader. */
  applySnapshot(snap: Snapshot): RaftError | null {
    if (snap.metadata.index <= this.snap.metadata.index) return ErrSnapOutOfDate;
    this.snap = snap;
    this.ents = [dummy(snap.metadata.index, snap.metadata.term)];
    return null;
  }

  /**
   * Records a snapshot of the application state as of index `i` (which must be applied),
   * so that lagging followers can be sent it once the log before it is compacted.
   */
  createSnapshot(i: number, opts: { confState?: ConfState; data: Uint8Array }): Snapshot | RaftError {
    if (i <= this.snap.metadata.index) return ErrSnapOutOfDate;
    const offset = this.ents[0].index;
    assert(i <= this.lastIndex(), () => `snapshot ${i} is out of bound lastindex(${this.lastIndex()})`);
    this.snap = {
      data: opts.data,
      metadata: {
        index: i,
        term: this.ents[i - offset].term,
        confState: opts.confState ?? this.snap.metadata.confState,
      },
    };
    return this.snap;
  }

  /** Discards entries up to and including `compactIndex`; it must not exceed the applied index. */
  compact(compactIndex: number): RaftError | null {
    const offset = this.ents[0].index;
    if (compactIndex <= offset) return ErrCompacted;
    assert(
      compactIndex <= this.lastIndex(),
      () => `compact ${compactIndex} is out of bound lastindex(${this.lastIndex()})`,
    );
    const i = compactIndex - offset;
    const rest = this.ents.slice(i + 1);
    rest.unshift(dummy(this.ents[i].index, this.ents[i].term));
    this.ents = rest;
    return null;
  }

  /**
   * Appends entries from a Ready; entries that overlap the existing tail replace it (a new
   * leader overwrote an uncommitted suffix).
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0].index + entries.length - 1;
    if (last < first) return; // all already compacted
    const skip = first > entries[0].index ? first - entries[0].index : 0;
    const offset = entries[skip].index - this.ents[0].index;
    assert(
      offset <= this.ents.length,
      () => `missing log entry [last: ${this.lastIndex()}, append at: ${entries[skip].index}]`,
    );
    if (offset < this.ents.length) this.ents.length = offset;
    for (let k = skip; k < entries.length; k++) this.ents.push(entries[k]);
  }
}

function dummy(index: number, term: number): Entry {
  return { index, term, type: EntryType.EntryNormal, data: EMPTY_BYTES };
}
