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
/**
 * Smaller joins get a buffer of their own too: small buffers are recycled by the
 * allocator anyway, and a write callback costs more than they do.
 */
const POOLED_FROM = 64 << 10;
/** Free buffers kept at most (each JOIN_BUFFER_BYTES). */
const MAX_FREE = 8;

/** The free buffers, and the rule for when a join takes one. */
export class JoinBuffers {
  readonly #free: Uint8Array[] = [];

  /**
   * A buffer of at least `bytes` and how to give it back once its write is done, or null
   * when a join of this size is better done in a buffer of its own (Buffer.concat).
   */
  take(bytes: number): { buf: Uint8Array; release: () => void } | null {
    if (bytes < POOLED_FROM || bytes > JOIN_BUFFER_BYTES) return null;
    const buf = this.#free.pop() ?? new Uint8Array(JOIN_BUFFER_BYTES);
    return {
      buf,
      release: () => {
        if (this.#free.length < MAX_FREE) this.#free.push(buf);
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
