import { assert } from "./assert.ts";
import { ErrCompacted, ErrUnavailable, RaftError } from "./errors.ts";
import type { Entry, Snapshot } from "./messages.ts";
import { limitSize, type Storage } from "./storage.ts";
import { Unstable } from "./unstable.ts";

/**
 * The log as Raft sees it: the persisted part (Storage) followed by the unstable part, plus
 * the commit and applied cursors. Invariant: applied <= committed <= lastIndex.
 */
export class RaftLog {
  readonly unstable: Unstable;
  committed: number;
  applied: number;

  constructor(readonly storage: Storage, readonly maxNextEntsSize = Infinity) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    // Everything up to the snapshot is committed and applied by definition.
    this.committed = first - 1;
    this.applied = first - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    assert(typeof t === "number", () => `unexpected error when getting the last term (${t})`);
    return t;
  }

  /** The term of entry i, or an error value if it was compacted or does not exist. */
  term(i: number): number | RaftError {
    // The valid range includes the dummy entry before the first index.
    const dummy = this.firstIndex() - 1;
    if (i < dummy || i > this.lastIndex()) return 0;
    const t = this.unstable.maybeTerm(i);
    if (t !== null) return t;
    const st = this.storage.term(i);
    if (typeof st === "number") return st;
    assert(st === ErrCompacted || st === ErrUnavailable, () => `unexpected storage error ${st}`);
    return st;
  }

  /** The term of entry i, or 0 when it is not known; for comparisons that treat "unknown" as mismatch. */
  zeroTermOnError(i: number): number {
    const t = this.term(i);
    return typeof t === "number" ? t : 0;
  }

  matchTerm(i: number, term: number): boolean {
    const t = this.term(i);
    return typeof t === "number" && t === term;
  }

  /** Whether a candidate with this last entry is at least as up to date as us (§5.4.1). */
  isUpToDate(lastIndex: number, term: number): boolean {
    const myTerm = this.lastTerm();
    return term > myTerm || (term === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Appends the entries a leader sent after (index, logTerm) if our log matches there;
   * returns the index of the last new entry, or -1 when it does not match.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: readonly Entry[]): number {
    if (!this.matchTerm(index, logTerm)) return -1;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      assert(
        ci > this.committed,
        () => `entry ${ci} conflict with committed entry [committed(${this.committed})]`,
      );
      const offset = index + 1;
      this.append(ci - offset === 0 ? ents : ents.slice(ci - offset));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0].index - 1;
    assert(after >= this.committed, () => `after(${after}) is out of range [committed(${this.committed})]`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * The index of the first entry that is new or conflicts with ours (a different term at
   * the same index), or 0 if we already have them all.
   */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The largest index <= `index` whose term is <= `term`. Both sides use this to skip a
   * whole term of mismatching entries per round trip instead of one entry at a time.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (; index > 0; index--) {
      const t = this.term(index);
      if (typeof t !== "number") return { index, term: 0 };
      if (t <= term) return { index, term: t };
    }
    return { index: 0, term: 0 };
  }

  unstableEntries(): Entry[] {
    return this.unstable.entries.length === 0 ? [] : this.unstable.entries.slice();
  }

  /** Committed entries the application has not applied yet. */
  nextEntries(): readonly Entry[] {
    const off = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed + 1 > off) {
      const ents = this.slice(off, this.committed + 1, this.maxNextEntsSize);
      assert(!(ents instanceof RaftError), () => `unexpected error when getting unapplied entries (${ents})`);
      return ents;
    }
    return [];
  }

  hasNextEntries(): boolean {
    const off = Math.max(this.applied + 1, this.firstIndex());
    return this.committed + 1 > off;
  }

  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== null && this.unstable.snapshot.metadata.index !== 0;
  }

  snapshot(): Snapshot | RaftError {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  commitTo(toCommit: number): void {
    // Never decrease commit: a heartbeat may carry an older commit index.
    if (this.committed < toCommit) {
      assert(
        this.lastIndex() >= toCommit,
        () =>
          `tocommit(${toCommit}) is out of range [lastIndex(${this.lastIndex()})]. Was the raft log corrupted, truncated, or lost?`,
      );
      this.committed = toCommit;
    }
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    assert(
      this.committed >= i && i >= this.applied,
      () => `applied(${i}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`,
    );
    this.applied = i;
  }

  stableTo(i: number, t: number): void {
    this.unstable.stableTo(i, t);
  }

  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
  }

  /** Entries from i on, at most maxBytes (at least one). */
  entries(i: number, maxBytes: number): readonly Entry[] | RaftError {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxBytes);
  }

  /** The leader commits an index only if its entry is from the current term (§5.4.2). */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.zeroTermOnError(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  restore(s: Snapshot): void {
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  /** Entries in [lo, hi) drawn from storage and/or the unstable part. */
  slice(lo: number, hi: number, maxBytes: number): readonly Entry[] | RaftError {
    const err = this.checkOutOfBounds(lo, hi);
    if (err !== null) return err;
    if (lo === hi) return [];
    let ents: readonly Entry[] = [];
    const uoff = this.unstable.offset;
    if (lo < uoff) {
      const stored = this.storage.entries(lo, Math.min(hi, uoff), maxBytes);
      if (stored === ErrCompacted) return stored;
      assert(
        !(stored instanceof RaftError),
        () => `entries[${lo}:${Math.min(hi, uoff)}) is unavailable from storage`,
      );
      // Storage stopped early because of the size limit: do not add unstable entries.
      if (stored.length < Math.min(hi, uoff) - lo) return stored;
      ents = stored;
    }
    if (hi > uoff) {
      const u = this.unstable.slice(Math.max(lo, uoff), hi, maxBytes);
      ents = ents.length === 0 ? u : ents.concat(u);
    }
    return limitSize(ents, maxBytes);
  }

  private checkOutOfBounds(lo: number, hi: number): RaftError | null {
    assert(lo <= hi, () => `invalid slice ${lo} > ${hi}`);
    const fi = this.firstIndex();
    if (lo < fi) return ErrCompacted;
    const length = this.lastIndex() + 1 - fi;
    assert(hi <= fi + length, () => `slice[${lo},${hi}) out of bound [${fi},${this.lastIndex()}]`);
    return null;
  }
}
