/**
 * The server side of one HTTP/2 connection (RFC 9113) over a socket: SETTINGS and their
 * ACKs, PING, both directions of flow control, HEADERS + CONTINUATION through HPACK, DATA,
 * RST_STREAM, GOAWAY, the concurrent-stream limit and each stream's state.
 *
 * Why not node:http2: in Bun its JS stream wrappers, header objects and per-write syscalls
 * were ~29% of the server's CPU per put. Here a request is a header object and 'data'
 * events, and every frame produced in one event-loop turn leaves in one socket write.
 *
 * A misbehaving client costs only its own connection (GOAWAY with the error, then close)
 * or its stream (RST_STREAM); nothing here throws into the event loop.
 */
import { HpackDecoder, HpackError } from "../../h2/hpack.ts";
import {
  type ConnectionError,
  CONTINUATION,
  DATA,
  dataPayload,
  DEFAULT_WINDOW,
  encodeFrame,
  encodeSettings,
  ErrorCode,
  FLAG_ACK,
  FLAG_END_STREAM,
  type Frame,
  frameHeader,
  FrameReader,
  GOAWAY,
  goawayPayload,
  type HeaderBlock,
  headerBlockFrames,
  HeaderBlockReader,
  HEADERS,
  isConnectionError,
  MAX_WINDOW,
  PING,
  PRIORITY,
  PUSH_PROMISE,
  readSettings,
  readWindowIncrement,
  RST_STREAM,
  SendWindows,
  Setting,
  SETTINGS,
  u32,
  WINDOW_UPDATE,
} from "../../h2/frame.ts";
import { MalformedHeaders, requestHeaders } from "./headers.ts";
import { H2Stream, type StreamOwner } from "./stream.ts";
import { errorFields, log } from "../log.ts";
import { type KeepaliveSettings, PingPolicy, ServerPinger } from "./keepalive.ts";
import { joinBuffers, joinInto } from "./join_buffers.ts";

/** The socket side a connection needs: a net.Socket or tls.TLSSocket. */
export interface H2Socket {
  /** `done` once the socket no longer needs `data` (written, or the socket failed). */
  write(data: Uint8Array, done?: () => void): boolean;
  end(): void;
  destroy(): void;
  /** Stops reading (a failed connection reads nothing more while its GOAWAY goes out). */
  pause(): unknown;
  on(event: "data", fn: (chunk: Buffer) => void): unknown;
  on(event: "close" | "drain", fn: () => void): unknown;
}

export interface H2ConnectionOptions {
  /** SETTINGS_MAX_CONCURRENT_STREAMS: more open streams get RST_STREAM REFUSED_STREAM. */
  readonly maxConcurrentStreams: number;
  /** Called for each new request stream; attach 'data'/'end' listeners before returning. */
  readonly onStream: (stream: H2Stream) => void;
  /** Bytes already read from the socket (the sniffed preface). */
  readonly initial?: Buffer;
  /** gRPC keepalive (./keepalive.ts); without it, no pings are sent and none are judged. */
  readonly keepalive?: KeepaliveSettings;
  /** How long a PING ACK may wait for other frames (default PING_ACK_DELAY_MS; tests set it). */
  readonly pingAckDelayMs?: number;
}

/** What we let a client send on one stream before it must wait for WINDOW_UPDATE. */
const STREAM_WINDOW = 1 << 20;
/** What we let a client send on the whole connection. */
const CONNECTION_WINDOW = 1 << 24;
/**
 * PING/SETTINGS ACKs and RST_STREAMs we may queue while the peer is not reading what we
 * write (x/net/http2's maxQueuedControlFrames): past it the connection ends with
 * ENHANCE_YOUR_CALM instead of the socket buffering answers without limit.
 */
const MAX_UNREAD_ANSWERS = 10_000;
const NO_PAYLOAD = new Uint8Array(0);
/**
 * Bytes handed to the socket per event-loop turn. A big response is queued up to the
 * client's window at once (grpc-go grows it to 16 MiB); joined and written in one go, three
 * concurrent 100 MB range-alls held the loop for 0.1-0.6 s at a time and another client's
 * reads waited that long.
 */
const FLUSH_TURN_BYTES = 1 << 20;
/**
 * How long a PING's ACK may wait for other frames to leave with it. A grpc-go client sends
 * a PING (to estimate its bandwidth-delay product) whenever data arrives and none is
 * outstanding, so with requests in flight every written batch of responses drew a PING,
 * and its ACK, written alone, was half of all socket writes with 64 clients. The ACK now
 * goes out with the next frames written, or after this long on a quiet connection. RFC 9113
 * asks that PING responses be given priority over other frames: nothing queued after the
 * ACK leaves before it.
 */
const PING_ACK_DELAY_MS = 2;
/** The payload of our keepalive PING (grpc-go sends zeros too). */
const KEEPALIVE_PING = new Uint8Array(8);

export class H2Connection implements StreamOwner {
  readonly socket: H2Socket;
  readonly #opts: H2ConnectionOptions;
  readonly #reader = new FrameReader();
  readonly #hpack = new HpackDecoder();
  readonly #streams = new Map<number, H2Stream>();
  /** Streams with data waiting for window, in the order they started waiting. */
  readonly #blocked = new Set<H2Stream>();
  #lastStreamId = 0;
  #gotSettings = false;
  readonly #blocks = new HeaderBlockReader();
  #closed = false;
  /** The peer's SETTINGS and connection window: what our sending must respect. */
  readonly #send = new SendWindows();
  #recvWindow = CONNECTION_WINDOW;
  #recvUnacked = 0;
  /** Frames produced this turn, written together. */
  #out: Uint8Array[] = [];
  #flushScheduled = false;
  /** Flushes a PING ACK that no other frame came to take along (see PING_ACK_DELAY_MS). */
  #ackTimer: ReturnType<typeof setTimeout> | null = null;
  #writeBlocked = false;
  /** Answers to the peer queued since the socket backed up (see #queueAnswer). */
  #unreadAnswers = 0;
  readonly #pinger: ServerPinger | null = null;
  readonly #pingPolicy: PingPolicy | null = null;
  #keepaliveTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(socket: H2Socket, opts: H2ConnectionOptions) {
    this.socket = socket;
    this.#opts = opts;
    this.#queue(encodeFrame({
      type: SETTINGS,
      flags: 0,
      streamId: 0,
      payload: encodeSettings([
        [Setting.MAX_CONCURRENT_STREAMS, Math.min(opts.maxConcurrentStreams, 2 ** 32 - 1)],
        [Setting.INITIAL_WINDOW_SIZE, STREAM_WINDOW],
      ]),
    }));
    this.#queue(encodeFrame({
      type: WINDOW_UPDATE,
      flags: 0,
      streamId: 0,
      payload: u32(CONNECTION_WINDOW - DEFAULT_WINDOW),
    }));
    socket.on("data", (chunk) => this.#read(chunk));
    socket.on("drain", () => this.#onSocketDrain());
    socket.on("close", () => this.#onSocketClose());
    if (opts.keepalive !== undefined) {
      this.#pinger = new ServerPinger(opts.keepalive, performance.now());
      this.#pingPolicy = new PingPolicy(opts.keepalive);
      this.#armKeepalive(this.#pinger.firstDelayMs);
    }
    if (opts.initial !== undefined && opts.initial.length > 0) this.#read(opts.initial);
  }

  get writeBlocked(): boolean {
    return this.#writeBlocked;
  }

  /** Open streams (for tests and diagnostics). */
  get streamCount(): number {
    return this.#streams.size;
  }

  /** Server shutdown: GOAWAY(NO_ERROR) and close. */
  close(): void {
    this.#fail({ code: ErrorCode.NO_ERROR, message: "server shutting down" });
  }

  // ---- reading ----

  #read(chunk: Buffer): void {
    if (this.#closed) return;
    this.#pinger?.read(performance.now());
    let err: ConnectionError | null;
    try {
      err = this.#reader.push(chunk, this.#onFrame);
    } catch (e) {
      // A bug below (ours or a handler's) costs this connection, never the process.
      log.error("HTTP/2 connection failed", errorFields(e));
      err = { code: ErrorCode.INTERNAL_ERROR, message: "internal error" };
    }
    if (err !== null) this.#fail(err);
  }

  readonly #onFrame = (f: Frame): void => {
    if (this.#closed) return;
    const err = this.#frame(f);
    if (err !== null) this.#fail(err);
    else if (this.#unreadAnswers > MAX_UNREAD_ANSWERS) {
      this.#fail({ code: ErrorCode.ENHANCE_YOUR_CALM, message: "too many control frames not read" });
    }
  };

  #frame(f: Frame): ConnectionError | null {
    if (!this.#gotSettings) {
      if (f.type !== SETTINGS || (f.flags & FLAG_ACK) !== 0) return protocolError("expected SETTINGS first");
      this.#gotSettings = true;
    }
    const interleaved = this.#blocks.interleaved(f);
    if (interleaved !== null) return interleaved;
    switch (f.type) {
      case DATA:
        return this.#onData(f);
      case HEADERS:
        return this.#onHeaders(f);
      case CONTINUATION:
        return this.#onHeaderBlock(this.#blocks.continuation(f));
      case SETTINGS:
        return this.#onSettings(f);
      case WINDOW_UPDATE:
        return this.#onWindowUpdate(f);
      case PING:
        if (f.streamId !== 0) return protocolError("PING on a stream");
        if (f.payload.length !== 8) return { code: ErrorCode.FRAME_SIZE_ERROR, message: "PING size" };
        if ((f.flags & FLAG_ACK) !== 0) return null;
        this.#queueAnswer(
          encodeFrame({ ...f, flags: FLAG_ACK }),
          this.#opts.pingAckDelayMs ?? PING_ACK_DELAY_MS,
        );
        if (this.#pingPolicy !== null && !this.#pingPolicy.ping(performance.now(), this.#streams.size)) {
          log.warn("too many pings from the client, closing the connection");
          return { code: ErrorCode.ENHANCE_YOUR_CALM, message: "too_many_pings" };
        }
        return null;
      case RST_STREAM:
        return this.#onReset(f);
      case PRIORITY:
        if (f.streamId === 0) return protocolError("PRIORITY on stream 0");
        return f.payload.length === 5 ? null : { code: ErrorCode.FRAME_SIZE_ERROR, message: "PRIORITY size" };
      case GOAWAY:
        return null; // the client stops opening streams; the ones open finish
      case PUSH_PROMISE:
        return protocolError("PUSH_PROMISE from a client");
      default:
        return null; // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  #onSettings(f: Frame): ConnectionError | null {
    const values = readSettings(f);
    if (values === null || isConnectionError(values)) return values;
    const delta = this.#send.applySettings(values);
    if (delta !== 0) { for (const s of this.#streams.values()) s.sendWindow += delta; }
    this.#queueAnswer(encodeFrame({ type: SETTINGS, flags: FLAG_ACK, streamId: 0, payload: NO_PAYLOAD }));
    this.#resumeBlocked();
    return null;
  }

  #onWindowUpdate(f: Frame): ConnectionError | null {
    const inc = readWindowIncrement(f);
    if (isConnectionError(inc)) return inc;
    if (f.streamId === 0) {
      if (inc === 0) return protocolError("WINDOW_UPDATE of 0");
      if (!this.#send.growConnection(inc)) {
        return { code: ErrorCode.FLOW_CONTROL_ERROR, message: "connection window overflow" };
      }
      this.#resumeBlocked();
      return null;
    }
    const s = this.#streams.get(f.streamId);
    // A finished stream, or (leniently: RFC 9113 would end the connection) one not opened
    // yet: a client library that sets a window before it sends the request's HEADERS must
    // not cost every call on the connection.
    if (s === undefined) return null;
    if (inc === 0) {
      this.reset(s, ErrorCode.PROTOCOL_ERROR);
      return null;
    }
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW) {
      this.reset(s, ErrorCode.FLOW_CONTROL_ERROR);
      return null;
    }
    if (s.pending.length > 0 || s.ending !== null) this.sendPending(s);
    s.maybeDrain();
    return null;
  }

  #onReset(f: Frame): ConnectionError | null {
    if (f.streamId === 0) return protocolError("RST_STREAM on stream 0");
    if (f.payload.length !== 4) return { code: ErrorCode.FRAME_SIZE_ERROR, message: "RST_STREAM size" };
    // Unknown ids are ignored, idle ones included (a request cancelled before its HEADERS
    // went out): the same leniency as for WINDOW_UPDATE.
    const s = this.#streams.get(f.streamId);
    if (s !== undefined) this.#closeStream(s, Buffer.from(f.payload).readUInt32BE(0));
    return null;
  }

  #onHeaders(f: Frame): ConnectionError | null {
    if (f.streamId === 0 || f.streamId % 2 === 0) return protocolError("HEADERS on an invalid stream id");
    return this.#onHeaderBlock(this.#blocks.headers(f));
  }

  /** A whole header block, null while CONTINUATIONs are awaited, or a connection error. */
  #onHeaderBlock(block: HeaderBlock | null | ConnectionError): ConnectionError | null {
    if (block === null || isConnectionError(block)) return block;
    // Every block is decoded, even for streams we refuse: HPACK state is per connection.
    let fields;
    try {
      fields = this.#hpack.decode(block.bytes);
    } catch (e) {
      if (e instanceof HpackError) return { code: ErrorCode.COMPRESSION_ERROR, message: e.message };
      throw e;
    }
    const id = block.streamId;
    const open = this.#streams.get(id);
    if (open !== undefined) {
      // Trailers from the client: they must end its side.
      if (!block.endStream || open.remoteEnded) {
        this.reset(open, ErrorCode.PROTOCOL_ERROR);
        return null;
      }
      this.#remoteEnd(open);
      return null;
    }
    if (id <= this.#lastStreamId) {
      // A closed stream, or one opened out of order: refuse that request only (RFC 9113
      // would end the connection, and every call on it).
      this.#queueReset(id, ErrorCode.STREAM_CLOSED);
      return null;
    }
    this.#lastStreamId = id;
    if (this.#streams.size >= this.#opts.maxConcurrentStreams) {
      this.#queueReset(id, ErrorCode.REFUSED_STREAM);
      return null;
    }
    const headers = requestHeaders(fields);
    if (headers instanceof MalformedHeaders) {
      this.#queueReset(id, ErrorCode.PROTOCOL_ERROR);
      return null;
    }
    const s = new H2Stream(this, {
      id,
      headers,
      sendWindow: this.#send.initialStream,
      recvWindow: STREAM_WINDOW,
    });
    this.#streams.set(id, s);
    try {
      this.#opts.onStream(s);
    } catch (e) {
      log.error("HTTP/2 stream handler failed", errorFields(e));
      this.reset(s, ErrorCode.INTERNAL_ERROR);
      return null;
    }
    if (block.endStream && !s.closed) this.#remoteEnd(s);
    return null;
  }

  #onData(f: Frame): ConnectionError | null {
    if (f.streamId === 0) return protocolError("DATA on stream 0");
    let p = f.payload;
    // Flow control counts the whole payload, padding included (RFC 9113 §6.9).
    const counted = p.length;
    this.#recvWindow -= counted;
    if (this.#recvWindow < 0) {
      return { code: ErrorCode.FLOW_CONTROL_ERROR, message: "connection window exceeded" };
    }
    this.#recvUnacked += counted;
    if (this.#recvUnacked >= CONNECTION_WINDOW / 2) {
      this.#queue(
        encodeFrame({ type: WINDOW_UPDATE, flags: 0, streamId: 0, payload: u32(this.#recvUnacked) }),
      );
      this.#recvWindow += this.#recvUnacked;
      this.#recvUnacked = 0;
    }
    const data = dataPayload(f);
    if (isConnectionError(data)) return data;
    p = data;
    const s = this.#streams.get(f.streamId);
    if (s === undefined) {
      if (f.streamId > this.#lastStreamId) return protocolError("DATA on idle stream");
      return null; // a stream we already finished or reset: the client had not seen it yet
    }
    if (s.remoteEnded) {
      this.reset(s, ErrorCode.STREAM_CLOSED);
      return null;
    }
    s.recvWindow -= counted;
    if (s.recvWindow < 0) {
      this.reset(s, ErrorCode.FLOW_CONTROL_ERROR);
      return null;
    }
    const ends = (f.flags & FLAG_END_STREAM) !== 0;
    if (ends) s.remoteEnded = true; // no window to give back any more
    if (p.length > 0) s.deliver(p, counted);
    else this.consumed(s, counted);
    if (ends && !s.closed) this.#remoteEnd(s);
    return null;
  }

  #remoteEnd(s: H2Stream): void {
    s.remoteEnded = true;
    s.deliverEnd();
    if (s.localEnded) this.#closeStream(s, null);
  }

  consumed(s: H2Stream, counted: number): void {
    if (s.remoteEnded || s.closed || counted === 0) return;
    s.recvUnacked += counted;
    if (s.recvUnacked >= STREAM_WINDOW / 2) {
      this.#queue(
        encodeFrame({ type: WINDOW_UPDATE, flags: 0, streamId: s.id, payload: u32(s.recvUnacked) }),
      );
      s.recvWindow += s.recvUnacked;
      s.recvUnacked = 0;
    }
  }

  // ---- writing (StreamOwner) ----

  sendHeaders(s: H2Stream, block: Uint8Array, endStream: boolean): void {
    if (this.#closed) return;
    this.#queueHeaderBlock(s.id, block, endStream);
    if (endStream) this.#localEnd(s);
  }

  sendPending(s: H2Stream): void {
    if (this.#closed || s.closed) return;
    const ending = s.ending;
    while (s.pending.length > 0) {
      const allowed = this.#send.allowed(s.sendWindow);
      if (allowed <= 0) {
        this.#blocked.add(s);
        return;
      }
      // One DATA frame carries as many of the pending pieces as it may: a response written
      // in pieces (a read worker's, with its big values between small field headers) would
      // otherwise cost a frame, and its 9-byte header, per piece of a few bytes.
      const frame: Uint8Array[] = [];
      let n = 0;
      while (s.pending.length > 0 && n < allowed) {
        const head = s.pending[0];
        const take = Math.min(head.length, allowed - n);
        if (take === head.length) s.pending.shift();
        else s.pending[0] = head.subarray(take);
        frame.push(take === head.length ? head : head.subarray(0, take));
        n += take;
      }
      s.pendingBytes -= n;
      s.sendWindow -= n;
      this.#send.sent(n);
      this.#pingPolicy?.wrote();
      const last = s.pending.length === 0 && ending !== null && ending.trailers === null;
      this.#queue(frameHeader(n, { type: DATA, flags: last ? FLAG_END_STREAM : 0, streamId: s.id }));
      for (const piece of frame) this.#queue(piece);
      if (last) {
        this.#blocked.delete(s);
        this.#localEnd(s);
        return;
      }
    }
    this.#blocked.delete(s);
    if (ending === null || s.localEnded) return;
    if (ending.trailers !== null) this.#queueHeaderBlock(s.id, ending.trailers, true);
    else this.#queue(frameHeader(0, { type: DATA, flags: FLAG_END_STREAM, streamId: s.id }));
    this.#localEnd(s);
  }

  reset(s: H2Stream, code: number): void {
    if (s.closed) return;
    this.#queueReset(s.id, code);
    this.#closeStream(s, code);
  }

  #localEnd(s: H2Stream): void {
    s.localEnded = true;
    if (s.remoteEnded) {
      this.#closeStream(s, null);
      return;
    }
    // Our response is complete while the client is still sending: like grpc-go, tell it to
    // stop (RST_STREAM NO_ERROR after the END_STREAM) rather than read what it sends.
    this.#queueReset(s.id, ErrorCode.NO_ERROR);
    this.#closeStream(s, null);
  }

  #closeStream(s: H2Stream, rstCode: number | null): void {
    this.#streams.delete(s.id);
    this.#blocked.delete(s);
    s.markClosed(rstCode);
  }

  #queueHeaderBlock(streamId: number, block: Uint8Array, endStream: boolean): void {
    this.#pingPolicy?.wrote();
    for (const b of headerBlockFrames(block, { streamId, maxFrameSize: this.#send.maxFrame, endStream })) {
      this.#queue(b);
    }
  }

  #queueReset(streamId: number, code: number): void {
    this.#queueAnswer(encodeFrame({ type: RST_STREAM, flags: 0, streamId, payload: u32(code) }));
  }

  /**
   * Queues a frame that answers the peer outside flow control (PING and SETTINGS ACKs,
   * RST_STREAM). While the socket is backed up, those are counted: a peer that makes us
   * answer without reading the answers loses the connection (checked in #onFrame).
   */
  #queueAnswer(bytes: Uint8Array, mayWaitMs = 0): void {
    if (this.#writeBlocked) this.#unreadAnswers++;
    if (mayWaitMs === 0) return this.#queue(bytes);
    if (this.#closed) return;
    this.#out.push(bytes);
    if (this.#flushScheduled || this.#ackTimer !== null) return;
    this.#ackTimer = setTimeout(this.#onAckTimer, mayWaitMs);
    this.#ackTimer.unref?.();
  }

  readonly #onAckTimer = (): void => {
    this.#ackTimer = null;
    this.#scheduleFlush(queueMicrotask);
  };

  #resumeBlocked(): void {
    for (const s of [...this.#blocked]) {
      if (this.#send.connection <= 0) break;
      this.sendPending(s);
      s.maybeDrain();
    }
  }

  #queue(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#out.push(bytes);
    this.#scheduleFlush(queueMicrotask);
  }

  /** Flushes with `when` (this turn's end, or a later turn), unless a flush is already due. */
  #scheduleFlush(when: (flush: () => void) => void): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    when(this.#flush);
  }

  /**
   * Hands what is queued to the socket, FLUSH_TURN_BYTES per event-loop turn, and nothing
   * while the socket is backed up (its drain flushes again): what the socket does not take
   * stays here, where it costs no copy.
   */
  readonly #flush = (): void => {
    this.#flushScheduled = false;
    if (this.#out.length === 0 || this.#writeBlocked) return;
    // A waiting ACK leaves now (or in the next turn's flush, scheduled below): its timer would
    // otherwise fire later and send the next PING's ACK alone, before the answer it could join.
    if (this.#ackTimer !== null) {
      clearTimeout(this.#ackTimer);
      this.#ackTimer = null;
    }
    const out = this.#out;
    let n = 0;
    for (let bytes = 0; n < out.length && bytes < FLUSH_TURN_BYTES; n++) bytes += out[n].length;
    this.#out = n === out.length ? [] : out.slice(n);
    this.#write(n === out.length ? out : out.slice(0, n));
    if (this.#out.length > 0 && !this.#writeBlocked) this.#scheduleFlush(setImmediate);
  };

  /** Writes everything queued at once, backed up or not (the last words before a close). */
  #flushAll(): void {
    const out = this.#out;
    this.#out = [];
    if (out.length > 0) this.#write(out);
  }

  #write(pieces: readonly Uint8Array[]): void {
    try {
      if (!this.#writeJoined(pieces)) this.#writeBlocked = true;
    } catch {
      this.#onSocketClose();
    }
  }

  /**
   * One socket write of `pieces`; several are joined, from a page up in a pooled buffer when
   * one is free (join_buffers.ts).
   */
  #writeJoined(pieces: readonly Uint8Array[]): boolean {
    if (pieces.length === 1) return this.socket.write(pieces[0]);
    let bytes = 0;
    for (const p of pieces) bytes += p.length;
    const pooled = joinBuffers.take(bytes);
    if (pooled === null) return this.socket.write(Buffer.concat(pieces, bytes));
    try {
      return this.socket.write(joinInto(pooled.buf, pieces), pooled.release);
    } catch (e) {
      // The socket may still hold it: never reused, but its place in the pool is freed.
      pooled.discard();
      throw e;
    }
  }

  #onSocketDrain(): void {
    this.#writeBlocked = false;
    this.#unreadAnswers = 0;
    if (this.#out.length > 0) this.#scheduleFlush(queueMicrotask);
    for (const s of this.#streams.values()) s.maybeDrain();
  }

  #armKeepalive(delayMs: number): void {
    this.#keepaliveTimer = setTimeout(this.#onKeepalive, delayMs);
    this.#keepaliveTimer.unref?.();
  }

  readonly #onKeepalive = (): void => {
    this.#keepaliveTimer = null;
    if (this.#closed || this.#pinger === null) return;
    const step = this.#pinger.fire(performance.now());
    if (step.close) {
      // grpc-go closes the transport without a GOAWAY: the peer is not reading anyway.
      log.info("closing a client connection whose keepalive ping was not answered");
      this.#closed = true;
      this.#out = [];
      for (const s of [...this.#streams.values()]) this.#closeStream(s, ErrorCode.CANCEL);
      this.socket.destroy();
      return;
    }
    if (step.ping) this.#queue(encodeFrame({ type: PING, flags: 0, streamId: 0, payload: KEEPALIVE_PING }));
    this.#armKeepalive(step.delayMs);
  };

  /** Stops the connection's timers: it is closing. */
  #stopTimers(): void {
    if (this.#keepaliveTimer !== null) clearTimeout(this.#keepaliveTimer);
    this.#keepaliveTimer = null;
    if (this.#ackTimer !== null) clearTimeout(this.#ackTimer);
    this.#ackTimer = null;
  }

  /** Ends the connection: GOAWAY with `err`, then the socket closes. */
  #fail(err: ConnectionError): void {
    if (this.#closed) return;
    this.#stopTimers();
    this.#queue(encodeFrame({
      type: GOAWAY,
      flags: 0,
      streamId: 0,
      payload: goawayPayload(this.#lastStreamId, err),
    }));
    this.#flushAll();
    this.#closed = true;
    for (const s of [...this.#streams.values()]) this.#closeStream(s, ErrorCode.CANCEL);
    try {
      this.socket.pause();
      this.socket.end();
    } catch {
      // already gone
    }
    // A client that never closes its side does not keep the socket.
    setTimeout(() => this.socket.destroy(), 1000).unref?.();
  }

  #onSocketClose(): void {
    this.#stopTimers();
    if (this.#closed) return;
    this.#closed = true;
    this.#out = [];
    for (const s of [...this.#streams.values()]) this.#closeStream(s, ErrorCode.CANCEL);
  }
}

function protocolError(message: string): ConnectionError {
  return { code: ErrorCode.PROTOCOL_ERROR, message };
}
