import { assert } from "./assert.ts";

/**
 * The MsgApps sent to one follower and not yet acknowledged, by their last index: a ring
 * buffer that bounds how far the leader pipelines ahead of a follower (flow control).
 */
export class Inflights {
  private start = 0;
  private count = 0;
  private readonly buffer: Float64Array;

  constructor(readonly capacity: number) {
    assert(capacity > 0, "max inflight messages must be greater than 0");
    this.buffer = new Float64Array(capacity);
  }

  add(lastIndex: number): void {
    assert(!this.full(), "cannot add into a full inflights");
    let next = this.start + this.count;
    if (next >= this.capacity) next -= this.capacity;
    this.buffer[next] = lastIndex;
    this.count++;
  }

  /**
   * Moves the newest slot's last index from `from` to `to` (its message grew); false if the
   * newest slot is not `from`.
   */
  extendLast(from: number, to: number): boolean {
    if (this.count === 0) return false;
    let last = this.start + this.count - 1;
    if (last >= this.capacity) last -= this.capacity;
    if (this.buffer[last] !== from) return false;
    this.buffer[last] = to;
    return true;
  }

  /** Frees every inflight message whose last index is <= `to` (they were acknowledged). */
  freeLE(to: number): void {
    if (this.count === 0 || to < this.buffer[this.start]) return;
    let idx = this.start;
    let i = 0;
    for (; i < this.count; i++) {
      if (to < this.buffer[idx]) break;
      if (++idx >= this.capacity) idx -= this.capacity;
    }
    this.count -= i;
    this.start = this.count === 0 ? 0 : idx;
  }

  freeFirstOne(): void {
    if (this.count > 0) this.freeLE(this.buffer[this.start]);
  }

  full(): boolean {
    return this.count === this.capacity;
  }

  size(): number {
    return this.count;
  }

  reset(): void {
    this.count = 0;
    this.start = 0;
  }
}
