/**
 * A minimal gRPC client over plain-text HTTP/2 that writes what grpc-go (etcdctl,
 * clientv3, Kubernetes) writes: header blocks with HPACK indexing and Huffman strings,
 * a grpc-timeout in microseconds on each call, and for every DATA frame it receives a
 * connection WINDOW_UPDATE and a BDP PING. The warm-up drives the server with it because
 * a JIT profile learnt from a different client is a different profile: the server's
 * optimized code would be thrown away at the first grpc-go request.
 *
 * It only does what the warm-up needs: unary calls and bidi streams of small messages
 * (it does not wait for send windows), no TLS, no auth. Framing, header blocks and HPACK
 * are the shared HTTP/2 core's (h2/).
 */
import * as net from "node:net";
import {
  CLIENT_PREFACE,
  CONTINUATION,
  DATA,
  dataPayload,
  DEFAULT_MAX_FRAME_SIZE,
  encodeFrame,
  FLAG_ACK,
  FLAG_END_STREAM,
  type Frame,
  FrameReader,
  type HeaderBlock,
  headerBlockFrames,
  HeaderBlockReader,
  HEADERS,
  isConnectionError,
  PING,
  RST_STREAM,
  SETTINGS,
  u32,
  WINDOW_UPDATE,
} from "../../h2/frame.ts";
import { type HeaderField, HpackDecoder, HpackEncoder } from "../../h2/hpack.ts";
import { encodeFrame as grpcFrame, FrameDecoder } from "../../api/grpc-frame.ts";
import { statusFromTrailers } from "../../client/status.ts";

/** A call's end as the trailers say it; a non-OK status is an error value. */
export type CallEnd = { readonly ok: true } | { readonly ok: false; readonly message: string };

interface OpenStream {
  readonly decoder: FrameDecoder;
  readonly onMessage: (m: Uint8Array) => void;
  readonly onEnd: (end: CallEnd) => void;
}

/** A client stream: send messages; responses reach the `onMessage` given at open. */
export interface GoStream {
  send(message: Uint8Array): void;
  readonly ended: Promise<CallEnd>;
}

const CALL_DEADLINE_US = 10_000_000;

export class GoShapedConnection {
  readonly #socket: net.Socket;
  readonly #authority: string;
  readonly #encoder = new HpackEncoder();
  readonly #decoder = new HpackDecoder();
  readonly #reader = new FrameReader({ preface: false });
  readonly #headerBlocks = new HeaderBlockReader();
  readonly #streams = new Map<number, OpenStream>();
  #nextStreamId = 1;
  #pingOutstanding = false;
  #closed: CallEnd | null = null;

  private constructor(socket: net.Socket, authority: string) {
    this.#socket = socket;
    this.#authority = authority;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      const err = this.#reader.push(chunk, this.#onFrame);
      if (err !== null) this.close(`server sent a bad frame: ${err.message}`);
    });
    socket.on("error", (e) => this.close(e.message));
    socket.on("close", () => this.close("connection closed"));
    socket.write(
      Buffer.concat([
        CLIENT_PREFACE,
        encodeFrame({ type: SETTINGS, flags: 0, streamId: 0, payload: new Uint8Array(0) }),
      ]),
    );
  }

  /** Connects to `host:port`; rejects if the connection cannot be made. */
  static connect(host: string, port: number): Promise<GoShapedConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, host);
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(new GoShapedConnection(socket, `${host}:${port}`));
      });
    });
  }

  /** One request, one response; resolves with the response, or the call's error. */
  unary(path: string, request: Uint8Array): Promise<Uint8Array | Error> {
    let reply: Uint8Array | undefined;
    const s = this.open(path, (m) => (reply = m));
    // grpc-go sends a unary request as one DATA frame that also ends the stream.
    this.#write(DATA, FLAG_END_STREAM, s.id, grpcFrame(request));
    return s.ended.then((end) =>
      end.ok ? reply ?? new Error(`${path}: no response`) : new Error(end.message)
    );
  }

  /** Opens a bidi stream; each response message is passed to `onMessage`. */
  open(path: string, onMessage: (m: Uint8Array) => void): GoStream & { readonly id: number } {
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    let onEnd!: (end: CallEnd) => void;
    const ended = new Promise<CallEnd>((r) => (onEnd = r));
    if (this.#closed !== null) onEnd(this.#closed);
    else this.#streams.set(id, { decoder: new FrameDecoder(), onMessage, onEnd });
    const block = this.#encoder.encode(this.#requestHeaders(path));
    const frames = headerBlockFrames(block, {
      streamId: id,
      maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
      endStream: false,
    });
    if (this.#closed === null) this.#socket.write(Buffer.concat(frames));
    return {
      id,
      ended,
      send: (message) => this.#write(DATA, 0, id, grpcFrame(message)),
    };
  }

  /** Ends the connection; open calls end with `why`. */
  close(why = "connection closed by the client"): void {
    if (this.#closed !== null) return;
    this.#closed = { ok: false, message: why };
    for (const s of this.#streams.values()) s.onEnd(this.#closed);
    this.#streams.clear();
    this.#socket.destroy();
  }

  #requestHeaders(path: string): HeaderField[] {
    return [
      [":method", "POST"],
      [":scheme", "http"],
      [":path", path],
      [":authority", this.#authority],
      ["content-type", "application/grpc"],
      ["user-agent", "etcdts-warmup"],
      ["te", "trailers"],
      // grpc-go counts the deadline down in microseconds: a new literal on every call.
      ["grpc-timeout", `${CALL_DEADLINE_US - Math.floor(Math.random() * 100)}u`],
      ["client-api-version", "3.4"],
    ];
  }

  #write(type: number, flags: number, streamId: number, payload: Uint8Array): void {
    if (this.#closed === null) this.#socket.write(encodeFrame({ type, flags, streamId, payload }));
  }

  readonly #onFrame = (f: Frame): void => {
    switch (f.type) {
      case SETTINGS:
        if (!(f.flags & FLAG_ACK)) this.#write(SETTINGS, FLAG_ACK, 0, new Uint8Array(0));
        return;
      case PING:
        if (f.flags & FLAG_ACK) this.#pingOutstanding = false;
        else this.#write(PING, FLAG_ACK, 0, f.payload);
        return;
      case DATA:
        return this.#onData(f);
      case HEADERS:
      case CONTINUATION: {
        const block = this.#headerBlocks.read(f);
        if (block === null) return;
        if (isConnectionError(block)) return this.close(`server sent a bad header block: ${block.message}`);
        return this.#onHeaders(block);
      }
      case RST_STREAM:
        return this.#end(f.streamId, {
          ok: false,
          message: `stream reset (code ${Buffer.from(f.payload).readUInt32BE(0)})`,
        });
    }
  };

  #onData(f: Frame): void {
    if (f.payload.length > 0) {
      this.#write(WINDOW_UPDATE, 0, 0, u32(f.payload.length));
      this.#write(WINDOW_UPDATE, 0, f.streamId, u32(f.payload.length));
      if (!this.#pingOutstanding) {
        this.#pingOutstanding = true;
        this.#write(PING, 0, 0, new Uint8Array(8));
      }
    }
    const s = this.#streams.get(f.streamId);
    if (s === undefined) return;
    const data = dataPayload(f);
    if (isConnectionError(data)) return this.close(`server sent a bad DATA frame: ${data.message}`);
    const msgs = s.decoder.push(data);
    if (!Array.isArray(msgs)) return this.#end(f.streamId, { ok: false, message: "bad gRPC framing" });
    for (const m of msgs) s.onMessage(m);
    if (f.flags & FLAG_END_STREAM) {
      this.#end(f.streamId, { ok: false, message: "stream ended without trailers" });
    }
  }

  #onHeaders(block: HeaderBlock): void {
    // Decoded even when unused: the dynamic table must follow the server's.
    const fields = this.#decoder.decode(block.bytes);
    if (!block.endStream) return;
    const err = statusFromTrailers(Object.fromEntries(fields));
    this.#end(block.streamId, err === undefined ? { ok: true } : { ok: false, message: err.message });
  }

  #end(streamId: number, end: CallEnd): void {
    const s = this.#streams.get(streamId);
    if (s === undefined) return;
    this.#streams.delete(streamId);
    s.onEnd(end);
  }
}
