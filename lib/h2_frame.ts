/**
 * HTTP/2 framing (RFC 9113 §4, §6): the wire constants, frame encoding and a reader that
 * splits a connection's bytes into frames. Pure, no I/O: the server's connection
 * (server/h2/connection.ts) and the CLI's one-shot client (client/h2_unary.ts) own their
 * sockets and protocol state.
 */

export const DATA = 0x0;
export const HEADERS = 0x1;
export const PRIORITY = 0x2;
export const RST_STREAM = 0x3;
export const SETTINGS = 0x4;
export const PUSH_PROMISE = 0x5;
export const PING = 0x6;
export const GOAWAY = 0x7;
export const WINDOW_UPDATE = 0x8;
export const CONTINUATION = 0x9;

export const FLAG_END_STREAM = 0x1;
export const FLAG_ACK = 0x1;
export const FLAG_END_HEADERS = 0x4;
export const FLAG_PADDED = 0x8;
export const FLAG_PRIORITY = 0x20;

/** RFC 9113 §7 error codes, as RST_STREAM and GOAWAY carry them. */
export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  ENHANCE_YOUR_CALM: 0xb,
} as const;

/** RFC 9113 §6.5.2 setting identifiers. */
export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

export const FRAME_HEADER_BYTES = 9;
/** The default (and, since we never raise it, our) SETTINGS_MAX_FRAME_SIZE. */
export const DEFAULT_MAX_FRAME_SIZE = 16384;
/** The initial flow-control window of every stream and connection (RFC 9113 §6.9.2). */
export const DEFAULT_WINDOW = 65535;
export const MAX_WINDOW = 2 ** 31 - 1;
export const CLIENT_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** One frame as read: the payload is a view into the chunk read (sockets hand out fresh chunks). */
export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Uint8Array;
}

/** A connection error (RFC 9113 §5.4.1): the connection ends with GOAWAY carrying `code`. */
export interface ConnectionError {
  readonly code: number;
  readonly message: string;
}

/** The 9-byte frame header for a payload of `length` bytes. */
export function frameHeader(length: number, frame: Omit<Frame, "payload">): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  h[0] = length >>> 16;
  h[1] = (length >>> 8) & 0xff;
  h[2] = length & 0xff;
  h[3] = frame.type;
  h[4] = frame.flags;
  h.writeUInt32BE(frame.streamId, 5);
  return h;
}

/** A whole frame in one buffer (header and payload). */
export function encodeFrame(frame: Frame): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + frame.payload.length);
  out[0] = frame.payload.length >>> 16;
  out[1] = (frame.payload.length >>> 8) & 0xff;
  out[2] = frame.payload.length & 0xff;
  out[3] = frame.type;
  out[4] = frame.flags;
  out.writeUInt32BE(frame.streamId, 5);
  out.set(frame.payload, FRAME_HEADER_BYTES);
  return out;
}

/** A SETTINGS payload from identifier/value pairs. */
export function encodeSettings(settings: readonly (readonly [number, number])[]): Buffer {
  const out = Buffer.allocUnsafe(settings.length * 6);
  settings.forEach(([id, value], i) => {
    out.writeUInt16BE(id, i * 6);
    out.writeUInt32BE(value, i * 6 + 2);
  });
  return out;
}

/** A 4-byte big-endian payload (WINDOW_UPDATE increment, RST_STREAM code). */
export function u32(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}

/** A GOAWAY payload: the last stream we processed, the error code and a debug text. */
export function goawayPayload(lastStreamId: number, err: ConnectionError): Buffer {
  const debug = Buffer.from(err.message);
  const out = Buffer.allocUnsafe(8 + debug.length);
  out.writeUInt32BE(lastStreamId & 0x7fffffff, 0);
  out.writeUInt32BE(err.code, 4);
  debug.copy(out, 8);
  return out;
}

/**
 * Splits a client's bytes into frames: first checks the 24-byte client preface, then yields
 * whole frames. Bytes of an unfinished frame are kept for the next `push`.
 */
export class FrameReader {
  #buf: Buffer | null = null;
  #prefaceLeft: number;
  readonly #maxFrameSize: number;

  /** `preface: false` reads a server's bytes (tests' raw clients): frames from the first byte. */
  constructor(opts: { readonly maxFrameSize?: number; readonly preface?: boolean } = {}) {
    this.#maxFrameSize = opts.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.#prefaceLeft = opts.preface === false ? 0 : CLIENT_PREFACE.length;
  }

  /** Feeds bytes; calls `onFrame` for each complete frame. An error ends the connection. */
  push(chunk: Buffer, onFrame: (f: Frame) => void): ConnectionError | null {
    const buf = this.#buf === null ? chunk : Buffer.concat([this.#buf, chunk]);
    this.#buf = null;
    let off = 0;
    if (this.#prefaceLeft > 0) {
      const n = Math.min(this.#prefaceLeft, buf.length);
      const at = CLIENT_PREFACE.length - this.#prefaceLeft;
      if (!buf.subarray(0, n).equals(CLIENT_PREFACE.subarray(at, at + n))) {
        return { code: ErrorCode.PROTOCOL_ERROR, message: "invalid client preface" };
      }
      this.#prefaceLeft -= n;
      off = n;
    }
    while (buf.length - off >= FRAME_HEADER_BYTES) {
      const length = (buf[off] << 16) | (buf[off + 1] << 8) | buf[off + 2];
      if (length > this.#maxFrameSize) {
        return { code: ErrorCode.FRAME_SIZE_ERROR, message: `frame of ${length} bytes exceeds the maximum` };
      }
      const end = off + FRAME_HEADER_BYTES + length;
      if (buf.length < end) break;
      onFrame({
        type: buf[off + 3],
        flags: buf[off + 4],
        streamId: buf.readUInt32BE(off + 5) & 0x7fffffff,
        payload: buf.subarray(off + FRAME_HEADER_BYTES, end),
      });
      off = end;
    }
    // A copy: a view of a partial frame would pin the whole chunk.
    if (off < buf.length) this.#buf = Buffer.from(buf.subarray(off));
    return null;
  }
}
