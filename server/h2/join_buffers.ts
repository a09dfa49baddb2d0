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
/**
 * Buffers of each size at most, made on first need. When all are out (held by sockets
 * that have not sent them yet: a client not reading pins one per connection), a join gets
 * a buffer of its own, sized to it: a fresh pooled one would pin 64 KiB or 1 MiB where the
 * join needs a few KB.
 */
const MAX_BUFFERS = 8;

/** One size of buffer: those free, and how many were made. */
class SizeClass {
  readonly free: Uint8Array[] = [];
  made = 0;
  constructor(readonly bytes: number) {}
}

/** The buffers of each size, and the rule for when a join takes one. */
export class JoinBuffers {
  readonly #small = new SizeClass(SMALL_JOIN_BUFFER_BYTES);
  readonly #large = new SizeClass(JOIN_BUFFER_BYTES);

  /**
   * A buffer of at least `bytes` and how to give it back once its write is done, or null
   * when the join is better done in a buffer of its own (Buffer.concat): a size the pool
   * does not serve, or every buffer of its size out.
   */
  take(bytes: number): { buf: Uint8Array; release: () => void } | null {
    if (bytes < POOLED_FROM || bytes > JOIN_BUFFER_BYTES) return null;
    const size = bytes <= SMALL_JOIN_BUFFER_BYTES ? this.#small : this.#large;
    let buf = size.free.pop();
    if (buf === undefined) {
      if (size.made === MAX_BUFFERS) return null;
      size.made++;
      buf = new Uint8Array(size.bytes);
    }
    const taken = buf;
    let released = false;
    // Once only: a write that threw and still called back must not free its buffer twice
    // (two joins would then share it).
    const release = () => {
      if (released) return;
      released = true;
      size.free.push(taken);
    };
    return { buf: taken, release };
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
