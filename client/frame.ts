/**
 * gRPC length-prefixed message framing (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md):
 * each message is a 1-byte compressed flag, a 4-byte big-endian length, then the bytes.
 * Pure: no I/O, so the transport and its tests share it.
 */

/** Frames one serialized message (uncompressed: we never negotiate grpc-encoding). */
export function encodeFrame(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + message.length);
  new DataView(out.buffer).setUint32(1, message.length, false);
  out.set(message, 5);
  return out;
}

/** Why a frame could not be decoded; the transport turns this into an Internal status. */
export type FrameError = { readonly frameError: string };

/**
 * Reassembles messages from arbitrarily split HTTP/2 DATA chunks.
 * `push` returns the complete messages so far, or a FrameError for a compressed frame
 * (we never ask for compression, so a compressed frame is a protocol violation).
 */
export class FrameDecoder {
  #buf: Uint8Array = new Uint8Array(0);

  push(chunk: Uint8Array): Uint8Array[] | FrameError {
    this.#buf = this.#buf.length === 0 ? chunk : concat(this.#buf, chunk);
    const messages: Uint8Array[] = [];
    while (this.#buf.length >= 5) {
      const view = new DataView(this.#buf.buffer, this.#buf.byteOffset, 5);
      if (view.getUint8(0) !== 0) return { frameError: "compressed gRPC frame without grpc-encoding" };
      const len = view.getUint32(1, false);
      if (this.#buf.length < 5 + len) break;
      messages.push(this.#buf.subarray(5, 5 + len));
      this.#buf = this.#buf.subarray(5 + len);
    }
    return messages;
  }

  /** True when bytes of an incomplete frame are pending (the stream ended mid-message). */
  get pending(): boolean {
    return this.#buf.length > 0;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
