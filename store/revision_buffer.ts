/**
 * The revisions a compaction's walk drops (KeyIndex.compact), gathered and then handed to
 * the deletes in revision order (the primary key's: pages in turn), without any step that
 * costs in proportion to all of them at once:
 *
 * - They fill fixed chunks, not one growing array: a walk over 100k keys with history
 *   gathers 300k revisions, and the growing array's reallocations set off collections that
 *   stalled single steps of the walk 10-20 ms (3-60 ms in a member with a large heap); in
 *   chunks each step of 1024 keys took 0.3-2.3 ms.
 * - Each chunk is sorted when it fills, and the deletes take the chunks' merge a few rows at
 *   a time (RevisionMerge): one sort of 300k revisions at the end of the walk took 20-40 ms
 *   in one turn.
 */
import type { RevisionSink } from "./key_index.ts";

/** Revisions per chunk (64 KiB of pairs); sorting one takes ~0.1-0.3 ms. */
const CHUNK = 4096;

export class RevisionBuffer implements RevisionSink {
  /** Full chunks, each sorted: pairs [main, sub, main, sub, ...] in revision order. */
  #sorted: Float64Array[] = [];
  /** The chunk being filled, in the order pushed (null until the first push after a seal). */
  #open: Float64Array | null = null;
  /** Doubles used in `#open`. */
  #used = 0;
  #size = 0;

  /** How many revisions it holds. */
  get size(): number {
    return this.#size;
  }

  push(main: number, sub: number): void {
    if (this.#open === null) this.#open = new Float64Array(2 * CHUNK);
    this.#open[this.#used++] = main;
    this.#open[this.#used++] = sub;
    this.#size++;
    if (this.#used === this.#open.length) this.#seal();
  }

  /** Takes over every revision `other` holds; `other` is left empty. */
  absorb(other: RevisionBuffer): void {
    other.#seal();
    for (const chunk of other.#sorted) this.#sorted.push(chunk);
    this.#size += other.#size;
    other.#sorted = [];
    other.#size = 0;
  }

  /** Every revision held, in revision order, to be taken a few at a time; the buffer is left empty. */
  drain(): RevisionMerge {
    this.#seal();
    const merge = new RevisionMerge(this.#sorted);
    this.#sorted = [];
    this.#size = 0;
    return merge;
  }

  #seal(): void {
    if (this.#used === 0) return;
    const pairs = this.#open!.subarray(0, this.#used);
    sortPairs(pairs);
    this.#sorted.push(pairs);
    this.#open = null;
    this.#used = 0;
  }
}

/** Revisions in revision order, taken a few at a time: a merge of sorted chunks, through a binary heap. */
export class RevisionMerge {
  readonly #chunks: readonly Float64Array[];
  /** The next pair's position in each chunk. */
  readonly #at: Int32Array;
  /** Chunks with pairs left, a heap on their next pair. */
  readonly #heap: number[] = [];
  #left = 0;

  constructor(chunks: readonly Float64Array[]) {
    this.#chunks = chunks;
    this.#at = new Int32Array(chunks.length);
    chunks.forEach((chunk, c) => {
      this.#left += chunk.length / 2;
      if (chunk.length > 0) this.#push(c);
    });
  }

  /** How many revisions are left. */
  get left(): number {
    return this.#left;
  }

  /** Hands up to `max` of the next revisions to `fn`, in order; returns how many. */
  take(max: number, fn: (main: number, sub: number) => void): number {
    let taken = 0;
    const heap = this.#heap;
    while (taken < max && heap.length > 0) {
      const c = heap[0];
      const chunk = this.#chunks[c];
      const at = this.#at[c];
      fn(chunk[at], chunk[at + 1]);
      // Counted only once `fn` returned: if it throws, this revision is still the next.
      taken++;
      this.#left--;
      this.#at[c] = at + 2;
      if (at + 2 < chunk.length) this.#siftDown(0);
      else {
        const last = heap.pop()!;
        if (heap.length > 0) {
          heap[0] = last;
          this.#siftDown(0);
        }
      }
    }
    return taken;
  }

  /** Whether chunk a's next pair comes before chunk b's. */
  #before(a: number, b: number): boolean {
    const ca = this.#chunks[a];
    const cb = this.#chunks[b];
    const ia = this.#at[a];
    const ib = this.#at[b];
    return ca[ia] < cb[ib] || (ca[ia] === cb[ib] && ca[ia + 1] < cb[ib + 1]);
  }

  #push(c: number): void {
    const heap = this.#heap;
    let i = heap.length;
    heap.push(c);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  #siftDown(i: number): void {
    const heap = this.#heap;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= heap.length) return;
      const r = l + 1;
      const child = r < heap.length && this.#before(heap[r], heap[l]) ? r : l;
      if (!this.#before(heap[child], heap[i])) return;
      [heap[i], heap[child]] = [heap[child], heap[i]];
      i = child;
    }
  }
}

/**
 * Sorts pairs [main, sub, ...] in place into revision order. Each is packed into one double,
 * main × 2^k + sub, and sorted natively (several times faster than pairs sorted by a
 * comparator); past 2^53 (never, short of ~2^40 revisions) they are sorted by comparison.
 */
function sortPairs(pairs: Float64Array): void {
  const n = pairs.length / 2;
  let maxMain = 0;
  let maxSub = 0;
  for (let i = 0; i < pairs.length; i += 2) {
    if (pairs[i] > maxMain) maxMain = pairs[i];
    if (pairs[i + 1] > maxSub) maxSub = pairs[i + 1];
  }
  let span = 1;
  while (span <= maxSub) span *= 2;
  if (maxMain * span + maxSub <= Number.MAX_SAFE_INTEGER) {
    const packed = new Float64Array(n);
    for (let j = 0; j < n; j++) packed[j] = pairs[2 * j] * span + pairs[2 * j + 1];
    packed.sort();
    for (let j = 0; j < n; j++) {
      const main = Math.floor(packed[j] / span);
      pairs[2 * j] = main;
      pairs[2 * j + 1] = packed[j] - main * span;
    }
    return;
  }
  const order = Array.from({ length: n }, (_, j) => j)
    .sort((a, b) => pairs[2 * a] - pairs[2 * b] || pairs[2 * a + 1] - pairs[2 * b + 1]);
  const copy = pairs.slice();
  order.forEach((from, j) => {
    pairs[2 * j] = copy[2 * from];
    pairs[2 * j + 1] = copy[2 * from + 1];
  });
}
