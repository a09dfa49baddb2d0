/**
 * gRPC length-prefixed message framing (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md):
 * each message is a 1-byte compressed flag, a 4-byte big-endian length, then the bytes.
 * Pure, no I/O: the server (server/grpc) and the client (client/) share it.
 */

/** Prefixes `msg` with the 5-byte gRPC header (uncompressed: we never negotiate grpc-encoding). */
export function encodeFrame(msg: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + msg.length);
  writePrefix(out, 0, msg.length);
  out.set(msg, 5);
  return out;
}

/** Several messages framed back to back in one buffer (one write for a batch). */
export function encodeFrames(msgs: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const m of msgs) size += 5 + m.length;
  const out = new Uint8Array(size);
  let off = 0;
  for (const m of msgs) {
    writePrefix(out, off, m.length);
    out.set(m, off + 5);
    off += 5 + m.length;
  }
  return out;
}

/** The bytes of a message's prefix (the compressed flag, then the big-endian length). */
export const GRPC_PREFIX_BYTES = 5;

/** The 5-byte prefix at `off`: the compressed flag stays 0, then the big-endian length. */
export function writePrefix(out: Uint8Array, off: number, n: number): void {
  out[off + 1] = n >>> 24;
  out[off + 2] = (n >>> 16) & 0xff;
  out[off + 3] = (n >>> 8) & 0xff;
  out[off + 4] = n & 0xff;
}

/** Why a byte stream could not be split into messages. */
export type FrameError =
  | { readonly frameError: "compressed" }
  | { readonly frameError: "too-large"; readonly size: number; readonly max: number };

/** grpc-go's words for a frame error, so both ends report it as etcd's peers would. */
export function frameErrorMessage(e: FrameError): string {
  return e.frameError === "compressed"
    ? 'grpc: Decompressor is not installed for grpc-encoding ""'
    : `grpc: received message larger than max (${e.size} vs. ${e.max})`;
}

/**
 * Splits an HTTP/2 DATA byte stream into gRPC messages. Chunks may cut a message
 * anywhere: the pieces of an unfinished message are kept as they came and copied once,
 * when the last one arrives, so a large message costs one copy however many chunks carry
 * it. Messages whole inside a chunk are views of it. Each declared length is checked
 * against `maxMessageBytes` before anything is kept, so a huge length cannot make us
 * allocate.
 */
export class FrameDecoder {
  /** The pieces of the unfinished frame (prefix included), and their total size. */
  #pieces: Uint8Array[] = [];
  #have = 0;
  /** The unfinished frame's whole size (5 + its length); -1 while its prefix is incomplete. */
  #need = -1;
  readonly #max: number;

  constructor(maxMessageBytes = Infinity) {
    this.#max = maxMessageBytes;
  }

  /** Feeds one chunk; returns the messages it completed, or why the stream is invalid. */
  push(chunk: Uint8Array): Uint8Array[] | FrameError {
    const out: Uint8Array[] = [];
    if (this.#pieces.length === 0) return this.#scan(chunk, out);
    this.#pieces.push(chunk);
    this.#have += chunk.length;
    if (this.#need < 0) {
      if (this.#have < 5) return out;
      const prefix = this.#prefix();
      if (prefix[0] !== 0) return { frameError: "compressed" };
      const len = messageLength(prefix, 0);
      if (len > this.#max) return { frameError: "too-large", size: len, max: this.#max };
      this.#need = 5 + len;
    }
    if (this.#have < this.#need) return out;
    // Complete: its bytes in one buffer; what follows it in `chunk` is read from there.
    const msg = new Uint8Array(this.#need - 5);
    let skip = 5;
    let at = 0;
    for (const p of this.#pieces) {
      const from = Math.min(skip, p.length);
      skip -= from;
      const n = Math.min(p.length - from, msg.length - at);
      msg.set(p.subarray(from, from + n), at);
      at += n;
    }
    out.push(msg);
    const rest = chunk.subarray(chunk.length - (this.#have - this.#need));
    this.#pieces = [];
    this.#have = 0;
    this.#need = -1;
    return this.#scan(rest, out);
  }

  /** True when bytes of an unfinished message are buffered (the stream ended mid-message). */
  get pending(): boolean {
    return this.#have > 0;
  }

  /** Messages whole in `buf` as views; an unfinished one's bytes start the pieces. */
  #scan(buf: Uint8Array, out: Uint8Array[]): Uint8Array[] | FrameError {
    let off = 0;
    while (buf.length - off >= 5) {
      if (buf[off] !== 0) return { frameError: "compressed" };
      const len = messageLength(buf, off);
      if (len > this.#max) return { frameError: "too-large", size: len, max: this.#max };
      if (buf.length - off - 5 < len) {
        this.#need = 5 + len;
        break;
      }
      out.push(buf.subarray(off + 5, off + 5 + len));
      off += 5 + len;
    }
    if (off < buf.length) {
      // A view: the chunk stays referenced until the message completes, and is not copied.
      this.#pieces = [buf.subarray(off)];
      this.#have = buf.length - off;
    }
    return out;
  }

  /** The first 5 bytes of the pieces (the prefix may be split across them). */
  #prefix(): Uint8Array {
    const prefix = new Uint8Array(5);
    let at = 0;
    for (const p of this.#pieces) {
      const n = Math.min(p.length, 5 - at);
      prefix.set(p.subarray(0, n), at);
      at += n;
      if (at === 5) break;
    }
    return prefix;
  }
}

/** The big-endian message length of the prefix at `off`. */
function messageLength(buf: Uint8Array, off: number): number {
  return ((buf[off + 1] << 24) >>> 0) + (buf[off + 2] << 16) + (buf[off + 3] << 8) + buf[off + 4];
}
