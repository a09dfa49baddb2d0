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

/** The 5-byte prefix at `off`: the compressed flag stays 0, then the big-endian length. */
function writePrefix(out: Uint8Array, off: number, n: number): void {
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
 * anywhere, so partial frames are kept until complete. Each declared length is checked
 * against `maxMessageBytes` before it is buffered, so a huge length cannot make us allocate.
 */
export class FrameDecoder {
  #buf: Uint8Array | null = null;
  readonly #max: number;

  constructor(maxMessageBytes = Infinity) {
    this.#max = maxMessageBytes;
  }

  /** Feeds one chunk; returns the messages it completed, or why the stream is invalid. */
  push(chunk: Uint8Array): Uint8Array[] | FrameError {
    let buf = chunk;
    if (this.#buf !== null) {
      const joined = new Uint8Array(this.#buf.length + chunk.length);
      joined.set(this.#buf, 0);
      joined.set(chunk, this.#buf.length);
      buf = joined;
      this.#buf = null;
    }
    const out: Uint8Array[] = [];
    let off = 0;
    while (buf.length - off >= 5) {
      if (buf[off] !== 0) return { frameError: "compressed" };
      const len = ((buf[off + 1] << 24) >>> 0) + (buf[off + 2] << 16) + (buf[off + 3] << 8) + buf[off + 4];
      if (len > this.#max) return { frameError: "too-large", size: len, max: this.#max };
      if (buf.length - off - 5 < len) break;
      out.push(buf.subarray(off + 5, off + 5 + len));
      off += 5 + len;
    }
    if (off < buf.length) this.#buf = buf.slice(off);
    return out;
  }

  /** True when bytes of an unfinished message are buffered (the stream ended mid-message). */
  get pending(): boolean {
    return this.#buf !== null;
  }
}
