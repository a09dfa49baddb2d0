/**
 * One server-side HTTP/2 stream: the request headers, the request body as 'data' and 'end'
 * events, and the response (headers, data, trailers). It keeps the names and events of the
 * node:http2 stream the gRPC layer and the JSON gateway were written against (respond,
 * write, end, 'data' | 'end' | 'close' | 'drain'), and adds pre-encoded header blocks and
 * `end(data, trailers)` so that a whole gRPC response is one call and one socket write.
 * The connection (server/h2/connection.ts) owns the framing and the flow-control windows.
 */
import { EventEmitter } from "node:events";
import { ErrorCode } from "../../h2/frame.ts";
import { encodeHeaderBlock, type OutgoingHeaders, type RequestHeaders } from "./headers.ts";

/** What a stream needs from its connection. */
export interface StreamOwner {
  /** Queues a HEADERS frame (and CONTINUATIONs) with `block`. */
  sendHeaders(stream: H2Stream, block: Uint8Array, endStream: boolean): void;
  /** Sends what the windows allow of the stream's pending data, then its end once all is out. */
  sendPending(stream: H2Stream): void;
  /** Ends the stream with RST_STREAM. */
  reset(stream: H2Stream, code: number): void;
  /** Request bytes were handed to a listener: the peer may send that much more. */
  consumed(stream: H2Stream, counted: number): void;
  /** True while the socket's own buffer is over its high-water mark. */
  readonly writeBlocked: boolean;
  readonly socket: unknown;
}

/**
 * A stream's request events as direct calls: the gRPC layer takes them this way, which
 * spares registering three listeners per call.
 */
export interface StreamEvents {
  onData(chunk: Uint8Array): void;
  onEnd(): void;
  /** The stream is finished or reset (also when the connection is gone). */
  onClose(): void;
}

/** Bytes a stream may hold back (flow control) before `write` asks the writer to wait. */
const HIGH_WATER = 64 * 1024;

const encoder = new TextEncoder();

export class H2Stream extends EventEmitter {
  readonly id: number;
  readonly headers: RequestHeaders;
  readonly #owner: StreamOwner;

  // The connection's bookkeeping, public to it (this module and the connection are one unit).
  /** What the peer lets us send on this stream. */
  sendWindow: number;
  /** What we still let the peer send, and what it sent since we last raised the window. */
  recvWindow: number;
  recvUnacked = 0;
  /** Response bytes waiting for window. */
  readonly pending: Uint8Array[] = [];
  pendingBytes = 0;
  /** Set by `end`: the trailers (null: END_STREAM on the last DATA) to send after `pending`. */
  ending: { readonly trailers: Uint8Array | null } | null = null;
  remoteEnded = false;
  /** Our END_STREAM was framed. */
  localEnded = false;
  #headersSent = false;
  #closed = false;
  #needDrain = false;
  /** RST_STREAM code that closed the stream, null while open or when it finished normally. */
  rstCode: number | null = null;
  /**
   * Request bytes (and their flow-control cost) held until someone listens, as a paused
   * node stream holds them: a handler may attach its listeners after an await. The peer
   * gets window back only for bytes delivered, so what is held stays under one window.
   */
  #inbox: { chunk: Uint8Array; counted: number }[] | null = null;
  #endHeld = false;
  #paused = false;
  #handler: StreamEvents | null = null;

  constructor(
    owner: StreamOwner,
    init: { id: number; headers: RequestHeaders; sendWindow: number; recvWindow: number },
  ) {
    super();
    this.#owner = owner;
    this.id = init.id;
    this.headers = init.headers;
    this.sendWindow = init.sendWindow;
    this.recvWindow = init.recvWindow;
  }

  get headersSent(): boolean {
    return this.#headersSent;
  }

  /** True once the stream is finished or reset: nothing more can be sent. */
  get closed(): boolean {
    return this.#closed;
  }

  get destroyed(): boolean {
    return this.#closed;
  }

  get writableNeedDrain(): boolean {
    return this.#needDrain;
  }

  /** The connection's socket (a TLSSocket for https: the peer certificate). */
  get socket(): unknown {
    return this.#owner.socket;
  }

  /** Sends the response headers: an object, or a block from `encodeHeaderBlock`. */
  respond(headers: OutgoingHeaders | Uint8Array, opts?: { readonly endStream?: boolean }): void {
    if (this.#closed || this.#headersSent) return;
    this.#headersSent = true;
    const block = headers instanceof Uint8Array ? headers : encodeHeaderBlock(headers);
    const end = opts?.endStream === true;
    if (end) {
      this.ending = { trailers: null };
      this.localEnded = true;
    }
    this.#owner.sendHeaders(this, block, end);
  }

  /** Queues response bytes; false means wait for 'drain' before writing more. */
  write(chunk: Uint8Array | string): boolean {
    if (this.#closed || this.ending !== null) return false;
    if (!this.#headersSent) this.respond({ ":status": 200 });
    const bytes = typeof chunk === "string" ? encoder.encode(chunk) : chunk;
    if (bytes.length > 0) {
      this.pending.push(bytes);
      this.pendingBytes += bytes.length;
      this.#owner.sendPending(this);
    }
    if (this.pendingBytes > HIGH_WATER || this.#owner.writeBlocked) this.#needDrain = true;
    return !this.#needDrain;
  }

  /**
   * Ends the response after `chunk` (or its pieces, sent one after the other), with
   * `trailers` (an object or a pre-encoded block) if given.
   */
  end(chunk?: Uint8Array | string | readonly Uint8Array[], trailers?: OutgoingHeaders | Uint8Array): void {
    if (this.#closed || this.ending !== null) return;
    if (!this.#headersSent) this.respond({ ":status": 200 });
    if (Array.isArray(chunk)) { for (const piece of chunk) this.#pend(piece); }
    else if (chunk !== undefined) {
      this.#pend(typeof chunk === "string" ? encoder.encode(chunk) : chunk as Uint8Array);
    }
    const block = trailers === undefined
      ? null
      : trailers instanceof Uint8Array
      ? trailers
      : encodeHeaderBlock(trailers);
    this.ending = { trailers: block };
    this.#owner.sendPending(this);
  }

  #pend(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
  }

  /** Resets the stream (RST_STREAM, CANCEL unless told). */
  close(code: number = ErrorCode.CANCEL): void {
    if (!this.#closed) this.#owner.reset(this, code);
  }

  /**
   * Stops handing request bytes on: they are held, and the peer gets no window back for
   * them, so within one stream window flow control makes it wait. A consumer that cannot
   * keep up pauses rather than buffering requests without limit.
   */
  pause(): this {
    this.#paused = true;
    return this;
  }

  /** Hands on what `pause` held, and what comes next. */
  resume(): this {
    if (!this.#paused) return this;
    this.#paused = false;
    if (this.#inbox !== null || this.#endHeld) queueMicrotask(() => this.#release());
    return this;
  }

  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    super.on(event, listener);
    if ((event === "data" || event === "end") && (this.#inbox !== null || this.#endHeld)) {
      queueMicrotask(() => this.#release());
    }
    return this;
  }

  override once(event: string | symbol, listener: (...args: any[]) => void): this {
    return this.on(event, onceWrap(this, event, listener));
  }

  override addListener(event: string | symbol, listener: (...args: any[]) => void): this {
    return this.on(event, listener);
  }

  /** Sends the request's events to `handler` instead of to listeners. */
  attach(handler: StreamEvents): void {
    this.#handler = handler;
    if (this.#inbox !== null || this.#endHeld) queueMicrotask(() => this.#release());
  }

  /** Called by the connection with request body bytes; `counted` is their flow-control cost. */
  deliver(chunk: Uint8Array, counted: number): void {
    if (this.#inbox !== null) this.#inbox.push({ chunk, counted });
    else if (this.#paused) this.#inbox = [{ chunk, counted }];
    else if (this.#handler !== null) {
      this.#handler.onData(chunk);
      this.#owner.consumed(this, counted);
    } else if (this.listenerCount("data") > 0) {
      this.emit("data", chunk);
      this.#owner.consumed(this, counted);
    } else this.#inbox = [{ chunk, counted }];
  }

  /** Called by the connection when the request body is complete. */
  deliverEnd(): void {
    if (this.#inbox !== null || this.#paused) this.#endHeld = true;
    else if (this.#handler !== null) this.#handler.onEnd();
    else if (this.listenerCount("data") > 0 || this.listenerCount("end") > 0) this.emit("end");
    else this.#endHeld = true;
  }

  #release(): void {
    if (this.#closed && this.#inbox === null && !this.#endHeld) return;
    if (this.#paused) return;
    const inbox = this.#inbox ?? [];
    this.#inbox = null;
    for (let i = 0; i < inbox.length; i++) {
      const { chunk, counted } = inbox[i];
      if (this.#handler !== null) this.#handler.onData(chunk);
      else this.emit("data", chunk);
      this.#owner.consumed(this, counted);
      if (this.#paused && !this.#closed) {
        // The consumer paused again: hold the rest (and anything delivered meanwhile).
        const rest = inbox.slice(i + 1);
        this.#inbox = this.#inbox === null ? rest : rest.concat(this.#inbox);
        if (this.#inbox.length === 0 && !this.#endHeld) this.#inbox = null;
        return;
      }
    }
    if (this.#endHeld) {
      this.#endHeld = false;
      if (this.#handler !== null) this.#handler.onEnd();
      else this.emit("end");
    }
  }

  /** Called by the connection once the stream is done; emits 'close' once. */
  markClosed(rstCode: number | null): void {
    if (this.#closed) return;
    this.#closed = true;
    this.rstCode = rstCode;
    this.pending.length = 0;
    this.pendingBytes = 0;
    this.#handler?.onClose();
    this.emit("close");
  }

  /** Called by the connection when window or socket room opened up. */
  maybeDrain(): void {
    if (!this.#needDrain || this.#closed) return;
    if (this.pendingBytes > HIGH_WATER || this.#owner.writeBlocked) return;
    this.#needDrain = false;
    this.emit("drain");
  }
}

// deno-lint-ignore no-explicit-any
function onceWrap(em: EventEmitter, event: string | symbol, listener: (...args: any[]) => void) {
  // deno-lint-ignore no-explicit-any
  const wrapped = (...args: any[]) => {
    em.off(event, wrapped);
    listener(...args);
  };
  // Lets `off(event, listener)` find it, as node's once does.
  (wrapped as { listener?: unknown }).listener = listener;
  return wrapped;
}
