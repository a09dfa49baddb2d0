/**
 * etcd 3.4's clientv3 dials its maintenance calls (`endpoint status`, `endpoint hashkv`,
 * `defrag`, `snapshot save`, `move-leader`) as `passthrough:///http://host:port`, so
 * grpc-go sends the whole URL as `:authority`. grpc-go's server takes that; Bun's
 * node:http2 resets the stream with PROTOCOL_ERROR ("/" is no authority character)
 * before any handler sees it, so the real etcdctl could not ask etcdts for its status
 * whenever its endpoints are URLs (always, with --cluster).
 *
 * This sits between a client socket and the HTTP/2 server. It decodes the connection's
 * first header block (a few hundred bytes): when the authority is a plain host:port, the
 * socket goes to the server untouched and this gets out of the way for good. When it is
 * a URL, every header block of that connection is decoded and re-encoded with the
 * authority cut to host:port, without the HPACK dynamic table (so the server's decoder
 * state never depends on what was dropped); other frames pass through as they are. The
 * HPACK codec is the one-shot client's (lib/hpack.ts).
 */
import type * as net from "node:net";
import { Duplex } from "node:stream";
import { encodeHeaders, type HeaderField, HpackDecoder } from "../../lib/hpack.ts";

const PREFACE_BYTES = 24;
const FRAME_HEADER_BYTES = 9;
const HEADERS = 0x1;
const CONTINUATION = 0x9;
const SETTINGS = 0x4;
const ACK = 0x1;
/** A SETTINGS frame with no parameters: "the defaults, for now". */
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, SETTINGS, 0, 0, 0, 0, 0]);
/** A connection that sends no request within this is handed over untouched. */
const IDLE_HANDOVER_MS = 300;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
/** The peer's default SETTINGS_MAX_FRAME_SIZE: we never send larger frames. */
const MAX_FRAME = 16384;
/** Past this much buffered without a complete header block, stop looking (not a client we fix). */
const MAX_SNIFF = 64 * 1024;
/** `http://host:port/...` → `host:port`; null when `authority` is not a URL. */
export function authorityOfUrl(authority: string): string | null {
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)/.exec(authority);
  return m === null ? null : m[1];
}

/** A header block being collected from a HEADERS frame and its CONTINUATIONs. */
interface PendingBlock {
  readonly streamId: number;
  readonly endStream: boolean;
  readonly priority: Uint8Array | null;
  fragments: Uint8Array[];
}

/**
 * Splits the client's byte stream into frames and hands over complete header blocks;
 * everything else comes out as it went in.
 */
class FrameReader {
  #buf: Buffer = Buffer.alloc(0);
  #prefaceLeft = PREFACE_BYTES;
  #block: PendingBlock | null = null;

  constructor(
    private readonly onBytes: (b: Uint8Array) => void,
    private readonly onBlock: (block: PendingBlock, fragment: Uint8Array) => void,
    /** Every piece as read: the preface (type -1) and each whole frame. */
    private readonly onRaw: (raw: Buffer, type: number, flags: number) => void = () => {},
  ) {}

  get buffered(): number {
    return this.#buf.length;
  }

  /** Bytes read but not yet a whole frame. */
  rest(): Buffer {
    return this.#buf;
  }

  push(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    if (this.#prefaceLeft > 0) {
      const n = Math.min(this.#prefaceLeft, this.#buf.length);
      this.onBytes(this.#buf.subarray(0, n));
      this.onRaw(this.#buf.subarray(0, n), -1, 0);
      this.#buf = this.#buf.subarray(n);
      this.#prefaceLeft -= n;
    }
    while (this.#buf.length >= FRAME_HEADER_BYTES) {
      const length = this.#buf.readUIntBE(0, 3);
      if (this.#buf.length < FRAME_HEADER_BYTES + length) return;
      const frame = this.#buf.subarray(0, FRAME_HEADER_BYTES + length);
      this.#buf = this.#buf.subarray(FRAME_HEADER_BYTES + length);
      this.#frame(frame);
    }
  }

  #frame(frame: Buffer): void {
    const type = frame[3];
    const flags = frame[4];
    const streamId = frame.readUInt32BE(5) & 0x7fffffff;
    this.onRaw(frame, type, flags);
    let payload = frame.subarray(FRAME_HEADER_BYTES);
    if (type === HEADERS) {
      let pad = 0;
      if (flags & PADDED) {
        pad = payload[0];
        payload = payload.subarray(1);
      }
      let priority: Uint8Array | null = null;
      if (flags & PRIORITY) {
        priority = payload.subarray(0, 5);
        payload = payload.subarray(5);
      }
      this.#block = { streamId, endStream: (flags & END_STREAM) !== 0, priority, fragments: [] };
      payload = payload.subarray(0, payload.length - pad);
    } else if (type !== CONTINUATION || this.#block === null) {
      this.onBytes(frame);
      return;
    }
    const block = this.#block!;
    block.fragments.push(payload);
    if (flags & END_HEADERS) {
      this.#block = null;
      this.onBlock(block, Buffer.concat(block.fragments));
    }
  }
}

/** The client's HPACK state, and header blocks re-encoded for the server without it. */
class HeaderRewriter {
  readonly #decoder = new HpackDecoder();

  decode(fragment: Uint8Array): HeaderField[] {
    return this.#decoder.decode(fragment);
  }

  /** The frames of one header block with the authority fixed. */
  encode(block: PendingBlock, headers: HeaderField[]): Buffer {
    const fixed = headers.map(([name, value]): HeaderField =>
      name === ":authority" ? [name, authorityOfUrl(value) ?? value] : [name, value]
    );
    let body = Buffer.from(encodeHeaders(fixed));
    if (block.priority !== null) body = Buffer.concat([block.priority, body]);
    const frames: Buffer[] = [];
    let first = true;
    do {
      const part = body.subarray(0, MAX_FRAME);
      body = body.subarray(part.length);
      let flags = body.length === 0 ? END_HEADERS : 0;
      if (first) {
        if (block.endStream) flags |= END_STREAM;
        if (block.priority !== null) flags |= PRIORITY;
      }
      const head = Buffer.alloc(FRAME_HEADER_BYTES);
      head.writeUIntBE(part.length, 0, 3);
      head[3] = first ? HEADERS : CONTINUATION;
      head[4] = flags;
      head.writeUInt32BE(block.streamId, 5);
      frames.push(head, part);
      first = false;
    } while (body.length > 0);
    return Buffer.concat(frames);
  }
}

/**
 * Takes over an HTTP/2 client socket (paused, nothing read yet) and calls `serve` with
 * what the HTTP/2 server should read: the socket itself, or a rewriting stream over it.
 *
 * grpc-go sends no request before the server's SETTINGS, and the server sends those only
 * once it has the connection: so an empty SETTINGS (all defaults, which the server's own
 * later SETTINGS refine) is sent from here, and the client's ACK of it is kept from the
 * server, which never sent it. A connection that sends no request soon is handed over
 * untouched, so idle clients get the server's answers (pings, settings) in time.
 */
export function fixUrlAuthority(socket: net.Socket, serve: (conn: Duplex) => void): void {
  const kept: Buffer[] = [];
  let authority: string | null = null;
  let acked = false;
  let done = false;
  const sniffer = new FrameReader(() => {}, (_block, fragment) => {
    // A throwaway decoder: only the first block's authority matters here.
    authority ??= new HeaderRewriter().decode(fragment).find(([n]) => n === ":authority")?.[1] ?? "";
  }, (raw, type, flags) => {
    if (!acked && type === SETTINGS && (flags & ACK) !== 0) acked = true;
    else kept.push(raw);
  });
  const handOver = (rewriting: boolean) => {
    if (done) return;
    done = true;
    clearTimeout(idle);
    socket.off("data", sniff);
    socket.pause();
    const rest = sniffer.rest();
    if (rewriting) serve(rewritingStream(socket, Buffer.concat([...kept, rest])));
    else {
      socket.unshift(Buffer.concat([...kept, rest]));
      serve(socket);
      socket.resume();
    }
  };
  const sniff = (chunk: Buffer) => {
    try {
      sniffer.push(chunk);
    } catch {
      return handOver(false); // not HTTP/2 we understand: let the server judge it
    }
    if (authority !== null && acked) handOver(authorityOfUrl(authority) !== null);
    else if (sniffer.buffered > MAX_SNIFF) handOver(false);
  };
  const idle = setTimeout(() => handOver(false), IDLE_HANDOVER_MS);
  socket.on("data", sniff);
  socket.once("close", () => clearTimeout(idle));
  socket.write(EMPTY_SETTINGS);
  socket.resume();
}

/** The client's bytes from `already` on, every header block re-encoded with its authority fixed. */
function rewritingStream(socket: net.Socket, already: Buffer): Duplex {
  const conn = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk, _enc, cb) {
      socket.write(chunk, cb);
    },
    final(cb) {
      socket.end();
      cb();
    },
    destroy(err, cb) {
      socket.destroy();
      cb(err);
    },
  });
  const rewriter = new HeaderRewriter();
  const reader = new FrameReader(
    (b) => {
      if (!conn.push(b)) socket.pause();
    },
    (block, fragment) => {
      if (!conn.push(rewriter.encode(block, rewriter.decode(fragment)))) socket.pause();
    },
  );
  const feed = (c: Buffer) => {
    try {
      reader.push(c);
    } catch {
      socket.destroy();
    }
  };
  feed(already);
  socket.on("data", feed);
  socket.on("end", () => conn.push(null));
  socket.on("close", () => conn.destroy());
  socket.resume();
  return conn;
}
