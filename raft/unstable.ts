import { sliceWithin } from "./storage.ts";
import { assert } from "./assert.ts";
import type { Entry, Snapshot } from "./messages.ts";

/**
 * The part of the log that is not yet persisted: new entries (and possibly an incoming
 * snapshot) that the application will write from the next Ready. `entries[k]` has index
 * `offset + k`.
 */
export class Unstable {
  snapshot: Snapshot | null = null;
  entries: Entry[] = [];

  constructor(public offset: number) {}

  /** The first index if the unstable part begins with a snapshot. */
  maybeFirstIndex(): number | null {
    return this.snapshot ? this.snapshot.metadata.index + 1 : null;
  }

  maybeLastIndex(): number | null {
    if (this.entries.length !== 0) return this.offset + this.entries.length - 1;
    return this.snapshot ? this.snapshot.metadata.index : null;
  }

  maybeTerm(i: number): number | null {
    if (i < this.offset) {
      if (this.snapshot !== null && this.snapshot.metadata.index === i) return this.snapshot.metadata.term;
      return null;
    }
    const last = this.maybeLastIndex();
    if (last === null || i > last) return null;
    return this.entries[i - this.offset].term;
  }

  /** Drops entries the application has persisted, unless a newer leader replaced them since. */
  stableTo(i: number, t: number): void {
    const gt = this.maybeTerm(i);
    if (gt === null) return;
    // If the entry at i has a different term it was overwritten after the Ready was taken.
    if (gt === t && i >= this.offset) {
      const n = i + 1 - this.offset;
      // Usually every entry was persisted, which makes this an O(1) reset rather than a copy.
      this.entries = n === this.entries.length ? [] : this.entries.slice(n);
      this.offset = i + 1;
    }
  }

  stableSnapTo(i: number): void {
    if (this.snapshot !== null && this.snapshot.metadata.index === i) this.snapshot = null;
  }

  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1;
    this.entries = [];
    this.snapshot = s;
  }

  truncateAndAppend(ents: readonly Entry[]): void {
    const after = ents[0].index;
    if (after === this.offset + this.entries.length) {
      for (const e of ents) this.entries.push(e);
    } else if (after <= this.offset) {
      // The log is being replaced from before the unstable part: take the new entries wholesale.
      this.offset = after;
      this.entries = ents.slice();
    } else {
      this.entries.length = after - this.offset;
      for (const e of ents) this.entries.push(e);
    }
  }

  /** Entries in [lo, hi), which must lie inside the unstable part. */
  slice(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    assert(lo <= hi, () => `invalid unstable.slice ${lo} > ${hi}`);
    const upper = this.offset + this.entries.length;
    assert(
      lo >= this.offset && hi <= upper,
      () => `unstable.slice[${lo},${hi}) out of bound [${this.offset},${upper}]`,
    );
    return sliceWithin(this.entries, lo - this.offset, hi - this.offset, maxBytes);
  }
}
