/**
 * The HTTP/2 core (RFC 9113) every HTTP/2 endpoint of ours shares: the wire constants,
 * frame encoding, a reader that splits a connection's bytes into frames, checked SETTINGS
 * and WINDOW_UPDATE, the send windows of flow control, and header blocks split into and
 * collected from HEADERS + CONTINUATION frames (HPACK is h2/hpack.ts). Pure, no I/O: the
 * server's connection (server/h2/connection.ts), the CLI's one-shot client
 * (client/h2_once.ts) and the warm-up's Go-shaped client (server/jit/go_wire.ts) own
 * their sockets and the state of their streams.
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

/** SETTINGS values from a peer, checked as RFC 9113 §6.5.2 requires. */
export type SettingsValues = [id: number, value: number][];

/**
 * A SETTINGS frame's values in order; null for an ACK (nothing to apply); a connection
 * error for a malformed frame or a value out of range.
 */
export function readSettings(f: Frame): SettingsValues | null | ConnectionError {
  if (f.streamId !== 0) return { code: ErrorCode.PROTOCOL_ERROR, message: "SETTINGS on a stream" };
  if ((f.flags & FLAG_ACK) !== 0) {
    return f.payload.length === 0 ? null : { code: ErrorCode.FRAME_SIZE_ERROR, message: "SETTINGS ACK size" };
  }
  if (f.payload.length % 6 !== 0) return { code: ErrorCode.FRAME_SIZE_ERROR, message: "SETTINGS size" };
  const p = f.payload;
  const out: SettingsValues = [];
  for (let off = 0; off < p.length; off += 6) {
    const id = (p[off] << 8) | p[off + 1];
    const value = ((p[off + 2] << 24) | (p[off + 3] << 16) | (p[off + 4] << 8) | p[off + 5]) >>> 0;
    if (id === Setting.ENABLE_PUSH && value > 1) {
      return { code: ErrorCode.PROTOCOL_ERROR, message: "ENABLE_PUSH" };
    }
    if (id === Setting.INITIAL_WINDOW_SIZE && value > MAX_WINDOW) {
      return { code: ErrorCode.FLOW_CONTROL_ERROR, message: "INITIAL_WINDOW_SIZE" };
    }
    if (id === Setting.MAX_FRAME_SIZE && (value < DEFAULT_MAX_FRAME_SIZE || value > 2 ** 24 - 1)) {
      return { code: ErrorCode.PROTOCOL_ERROR, message: "MAX_FRAME_SIZE" };
    }
    out.push([id, value]);
  }
  return out;
}

/** A WINDOW_UPDATE's increment (0 is for the caller to refuse, per stream or connection). */
export function readWindowIncrement(f: Frame): number | ConnectionError {
  const p = f.payload;
  if (p.length !== 4) return { code: ErrorCode.FRAME_SIZE_ERROR, message: "WINDOW_UPDATE size" };
  return ((p[0] & 0x7f) << 24 | p[1] << 16 | p[2] << 8 | p[3]) >>> 0;
}

/**
 * What the peer lets us send (RFC 9113 §6.9): the connection's window, the initial window
 * of each stream and the frame size from its SETTINGS. Each stream's own window is the
 * caller's (one number per stream), adjusted by what `applySettings` returns.
 */
export class SendWindows {
  connection = DEFAULT_WINDOW;
  initialStream = DEFAULT_WINDOW;
  maxFrame = DEFAULT_MAX_FRAME_SIZE;

  /** Applies checked SETTINGS values; returns what to add to every open stream's window. */
  applySettings(values: SettingsValues): number {
    let delta = 0;
    for (const [id, value] of values) {
      if (id === Setting.INITIAL_WINDOW_SIZE) {
        delta += value - this.initialStream;
        this.initialStream = value;
      } else if (id === Setting.MAX_FRAME_SIZE) this.maxFrame = value;
    }
    return delta;
  }

  /** A connection WINDOW_UPDATE; false if the window overflows 2^31-1 (a connection error). */
  growConnection(inc: number): boolean {
    this.connection += inc;
    return this.connection <= MAX_WINDOW;
  }

  /** The bytes of DATA one frame may carry now on a stream whose window is `stream`. */
  allowed(stream: number): number {
    return Math.min(stream, this.connection, this.maxFrame);
  }

  /** Counts `n` bytes of DATA sent. */
  sent(n: number): void {
    this.connection -= n;
  }
}

/**
 * A header block as frames: HEADERS, then CONTINUATIONs, each at most `maxFrameSize`
 * bytes; what to write, in order: each frame's 9-byte header, then its payload (a view of
 * `block`, left out when empty).
 */
export function headerBlockFrames(
  block: Uint8Array,
  opts: { readonly streamId: number; readonly maxFrameSize: number; readonly endStream: boolean },
): Uint8Array[] {
  const out: Uint8Array[] = [];
  let type = HEADERS;
  let off = 0;
  do {
    const n = Math.min(block.length - off, opts.maxFrameSize);
    const last = off + n === block.length;
    let flags = last ? FLAG_END_HEADERS : 0;
    if (type === HEADERS && opts.endStream) flags |= FLAG_END_STREAM;
    out.push(frameHeader(n, { type, flags, streamId: opts.streamId }));
    if (n > 0) out.push(block.subarray(off, off + n));
    off += n;
    type = CONTINUATION;
  } while (off < block.length);
  return out;
}

/** A whole header block, from one HEADERS frame and its CONTINUATIONs. */
export interface HeaderBlock {
  readonly streamId: number;
  readonly endStream: boolean;
  readonly bytes: Uint8Array;
}

/** The largest header block (all fragments) collected before the connection is refused. */
export const MAX_HEADER_BLOCK = 1 << 20;

/**
 * Collects header blocks (RFC 9113 §6.2, §6.10): strips HEADERS' padding and priority,
 * joins CONTINUATIONs, and bounds a block's size and frame count (without a count, empty
 * CONTINUATION frames grow a block's fragment list forever without growing its size).
 */
export class HeaderBlockReader {
  #pending: { streamId: number; endStream: boolean; fragments: Uint8Array[]; size: number } | null = null;
  readonly #maxBytes: number;
  readonly #maxFrames: number;

  constructor(maxBytes = MAX_HEADER_BLOCK) {
    this.#maxBytes = maxBytes;
    // Twice what the largest block needs at the smallest frame size a peer may use.
    this.#maxFrames = 2 * Math.ceil(maxBytes / DEFAULT_MAX_FRAME_SIZE);
  }

  /** An error if a block is open and `f` is not its CONTINUATION (nothing may come between). */
  interleaved(f: Frame): ConnectionError | null {
    const p = this.#pending;
    if (p !== null && (f.type !== CONTINUATION || f.streamId !== p.streamId)) {
      return { code: ErrorCode.PROTOCOL_ERROR, message: "expected CONTINUATION" };
    }
    return null;
  }

  /** A HEADERS or CONTINUATION frame: the block if it ends here, null if more frames follow. */
  read(f: Frame): HeaderBlock | null | ConnectionError {
    return f.type === HEADERS ? this.headers(f) : this.continuation(f);
  }

  /** A HEADERS frame: the block if it ends here, null if CONTINUATIONs follow. */
  headers(f: Frame): HeaderBlock | null | ConnectionError {
    let p = f.payload;
    let pad = 0;
    if (f.flags & FLAG_PADDED) {
      if (p.length < 1) return { code: ErrorCode.PROTOCOL_ERROR, message: "HEADERS padding" };
      pad = p[0];
      p = p.subarray(1);
    }
    if (f.flags & FLAG_PRIORITY) {
      if (p.length < 5) return { code: ErrorCode.PROTOCOL_ERROR, message: "HEADERS priority" };
      p = p.subarray(5);
    }
    if (pad > p.length) {
      return { code: ErrorCode.PROTOCOL_ERROR, message: "HEADERS padding exceeds the payload" };
    }
    p = p.subarray(0, p.length - pad);
    const endStream = (f.flags & FLAG_END_STREAM) !== 0;
    if ((f.flags & FLAG_END_HEADERS) !== 0) return { streamId: f.streamId, endStream, bytes: p };
    this.#pending = { streamId: f.streamId, endStream, fragments: [p], size: p.length };
    return null;
  }

  /** A CONTINUATION frame: the block if it ends here, null if more follow. */
  continuation(f: Frame): HeaderBlock | null | ConnectionError {
    const block = this.#pending;
    if (block === null) return { code: ErrorCode.PROTOCOL_ERROR, message: "CONTINUATION without HEADERS" };
    block.fragments.push(f.payload);
    block.size += f.payload.length;
    if (block.size > this.#maxBytes || block.fragments.length > this.#maxFrames) {
      return { code: ErrorCode.ENHANCE_YOUR_CALM, message: "header block too large" };
    }
    if ((f.flags & FLAG_END_HEADERS) === 0) return null;
    this.#pending = null;
    return { streamId: block.streamId, endStream: block.endStream, bytes: Buffer.concat(block.fragments) };
  }
}

/** Whether a frame handler's result is a connection error. */
export function isConnectionError(r: unknown): r is ConnectionError {
  return typeof r === "object" && r !== null && "code" in r && "message" in r;
}

/** A DATA frame's data without its padding (RFC 9113 §6.1); flow control counts the whole payload. */
export function dataPayload(f: Frame): Uint8Array | ConnectionError {
  const p = f.payload;
  if ((f.flags & FLAG_PADDED) === 0) return p;
  if (p.length < 1 || p[0] >= p.length) return { code: ErrorCode.PROTOCOL_ERROR, message: "DATA padding" };
  return p.subarray(1, p.length - p[0]);
}
