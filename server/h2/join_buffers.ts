/**
 * Reused buffers for joining a turn's frames into one socket write. A fresh buffer costs
 * its first touch (~3 ms per MB on this machine: the kernel zeroes each page as it is
 * faulted in), and on a server holding hundreds of MB the allocator hands back fresh pages
 * nearly every time: joining three 100 MB responses 1 MiB at a time cost more than
 * encoding them; in a member, even an ~8 KB `Buffer.concat` per watch connection per round
 * was 6.5% of the event loop's samples with 100 watchers (~18 µs each, against 0.4 µs in a
 * loop). A buffer goes back to the pool from the socket's write callback, once the socket
 * no longer needs it: a TLS socket queues a write by reference, so reusing a buffer any
 * earlier would change bytes not yet sent. (Bun calls a write's callback on the next tick
 * when it went out at once, and when the socket is destroyed.)
 */

/** What one joined write may hold; bigger joins get a buffer of their own. */
export const JOIN_BUFFER_BYTES = (1 << 20) + (64 << 10);
/**
 * Joins below a page get a buffer of their own: the allocator recycles those, and a write
 * callback costs more than they do (put answers).
 */
const POOLED_FROM = 4 << 10;

/**
 * The sizes, each with how many buffers it may make (at most ~12.5 MiB in all, made on
 * first need and kept). Many buffers of a size can be out at once: every connection
 * written in a turn holds one until its callback, and a client that does not read pins
 * its connection's last writes (one, or two with a close's last words). When all of a size
 * are out, a join gets a buffer of its own, sized to it, rather than a fresh pooled one
 * that would pin far more than it needs.
 */
export const JOIN_BUFFER_SIZES: readonly { readonly bytes: number; readonly count: number }[] = [
  { bytes: 16 << 10, count: 128 }, // a watch round per connection
  { bytes: 64 << 10, count: 32 },
  { bytes: JOIN_BUFFER_BYTES, count: 8 }, // large answers, 1 MiB per turn
];

/** One size of buffer: those free, and how many are made (out or free). */
class SizeClass {
  readonly free: Uint8Array[] = [];
  made = 0;
  constructor(readonly bytes: number, readonly count: number) {}
}

/** A pooled buffer and how it leaves the join: each at most once, whichever comes first. */
export interface PooledBuffer {
  readonly buf: Uint8Array;
  /** Back to the pool: the socket is done with it. */
  release(): void;
  /** Out of the pool for good (a write that failed may still hold it); another can be made. */
  discard(): void;
}

/** The buffers of each size, and the rule for when a join takes one. */
export class JoinBuffers {
  readonly #sizes = JOIN_BUFFER_SIZES.map((s) => new SizeClass(s.bytes, s.count));

  /**
   * A buffer of at least `bytes`, or null when the join is better done in a buffer of its
   * own (Buffer.concat): a size the pool does not serve, or every buffer of its size out.
   */
  take(bytes: number): PooledBuffer | null {
    if (bytes < POOLED_FROM || bytes > JOIN_BUFFER_BYTES) return null;
    const size = this.#sizes.find((s) => bytes <= s.bytes)!;
    let buf = size.free.pop();
    if (buf === undefined) {
      if (size.made === size.count) return null;
      size.made++;
      buf = new Uint8Array(size.bytes);
    }
    const taken = buf;
    let done = false;
    return {
      buf: taken,
      release() {
        if (done) return;
        done = true;
        size.free.push(taken);
      },
      discard() {
        if (done) return;
        done = true;
        size.made--;
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
