/**
 * The pages of one bbolt file being written by several writers (threads): which page the
 * next one to ask gets. See BboltWriter.join.
 */

/** The largest page count a PageSpace holds (an Int32 cell): 8 TiB of 4 KiB pages. */
const MAX_PAGES = 0x7fff_ffff;

/**
 * The pages of one file handed out to its writers: the next page no writer has taken, in
 * a SharedArrayBuffer so that writers in other threads take theirs from the same count.
 */
export class PageSpace {
  readonly #next: Int32Array;

  /** A space whose pages 0 and 1 (the metas) are taken, or the one shared as `buffer`. */
  constructor(buffer?: SharedArrayBuffer) {
    this.#next = new Int32Array(buffer ?? new SharedArrayBuffer(4));
    if (buffer === undefined) this.#next[0] = 2;
  }

  /** What a writer in another thread builds its PageSpace from. */
  get buffer(): SharedArrayBuffer {
    return this.#next.buffer as SharedArrayBuffer;
  }

  /** Takes `n` consecutive pages; the first. */
  take(n: number): number {
    const first = Atomics.add(this.#next, 0, n);
    if (first + n > MAX_PAGES) throw new Error(`bbolt: more than ${MAX_PAGES} pages`);
    return first;
  }

  /** Gives back pages `[first, first + n)` if no one took pages after them; whether it did. */
  giveBack(first: number, n: number): boolean {
    return Atomics.compareExchange(this.#next, 0, first + n, first) === first + n;
  }

  /** Pages taken so far: bbolt's high water mark once every writer is done. */
  taken(): number {
    return Atomics.load(this.#next, 0);
  }
}
