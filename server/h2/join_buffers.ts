/**
 * Reused buffers for joining a turn's frames into one socket write. A fresh buffer costs
 * its first touch (~3 ms per MB on this machine: the kernel zeroes each page as it is
 * faulted in), and on a server holding hundreds of MB the allocator hands back fresh pages
 * nearly every time: joining three 100 MB responses 1 MiB at a time cost more than
 * encoding them. A buffer goes back to the pool only from the socket's write callback, once
 * the socket no longer needs it: a TLS socket queues a write by reference, so reusing a
 * buffer any earlier would change bytes not yet sent.
 */

/** What one joined write may hold; bigger joins get a buffer of their own. */
export const JOIN_BUFFER_BYTES = (1 << 20) + (64 << 10);
/** The smaller buffers, for the joins that fit them (a watch round's ~8 KB per connection). */
export const SMALL_JOIN_BUFFER_BYTES = 64 << 10;
/**
 * Joins below a page get a buffer of their own: the allocator recycles those, and a write
 * callback costs more than they do. From a page up a fresh buffer cost far more in a
 * member than in a loop (watch fan-out, 100 watchers: Buffer.concat's ~8 KB joins were
 * 6.5% of the event loop's samples, ~18 µs each), so those are pooled too.
 */
const POOLED_FROM = 4 << 10;
/** Free buffers kept at most, per size. */
const MAX_FREE = 8;

/** The free buffers of each size, and the rule for when a join takes one. */
export class JoinBuffers {
  readonly #small: Uint8Array[] = [];
  readonly #large: Uint8Array[] = [];

  /**
   * A buffer of at least `bytes` and how to give it back once its write is done, or null
   * when a join of this size is better done in a buffer of its own (Buffer.concat).
   */
  take(bytes: number): { buf: Uint8Array; release: () => void } | null {
    if (bytes < POOLED_FROM || bytes > JOIN_BUFFER_BYTES) return null;
    const small = bytes <= SMALL_JOIN_BUFFER_BYTES;
    const free = small ? this.#small : this.#large;
    const buf = free.pop() ?? new Uint8Array(small ? SMALL_JOIN_BUFFER_BYTES : JOIN_BUFFER_BYTES);
    return {
      buf,
      release: () => {
        if (free.length < MAX_FREE) free.push(buf);
      },
    };
  }
}

/** Shared by every connection of the process. */
export const joinBuffers = new JoinBuffers();

/** `pieces` copied into `buf` (big enough), as a view of the bytes written. */
export function joinInto(buf: Uint8Array, pieces: readonly Uint8Array[]): Uint8Array {
  let at = 0;
  for (const p of pieces) {
    buf.set(p, at);
    at += p.length;
  }
  return buf.subarray(0, at);
}
