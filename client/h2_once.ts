/**
 * One gRPC call on a connection of its own, speaking just enough HTTP/2 over a raw Bun TCP
 * socket: preface, SETTINGS, one request stream, flow control both ways, PING and SETTINGS
 * acks, GOAWAY/RST_STREAM, HPACK-decoded headers and trailers. A unary call, or a
 * server-streaming one whose responses go to a sink as they arrive.
 *
 * Why: a CLI call (`etcdts put k v`) makes exactly one call and exits. Loading node:http2
 * and setting up its session costs ~6 ms of a ~20 ms budget in the compiled binary (etcdctl
 * does the whole put in ~15 ms); this path costs well under 1 ms. `snapshot save` streams
 * ~100 MB: node:http2 took ~0.3 s more of its CPU than etcdctl's whole save, this path
 * about as much as etcdctl. Long-lived clients, bidirectional streams, TLS and unix sockets
 * keep using the node:http2 Channel (client/channel.ts).
 */
import {
  CLIENT_PREFACE,
  type ConnectionError,
  CONTINUATION,
  DATA,
  dataPayload,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  encodeFrame,
  encodeSettings,
  FLAG_ACK,
  FLAG_END_STREAM,
  type Frame,
  FrameReader,
  GOAWAY,
  type HeaderBlock,
  headerBlockFrames,
  HeaderBlockReader,
  HEADERS,
  isConnectionError,
  MAX_WINDOW,
  PING,
  readSettings,
  readWindowIncrement,
  RST_STREAM,
  SendWindows,
  Setting,
  SETTINGS,
  u32,
  WINDOW_UPDATE,
} from "../h2/frame.ts";
import { encodeFrame as grpcMessage, FrameDecoder, frameErrorMessage } from "../api/grpc-frame.ts";
import type { Metadata } from "./channel.ts";
import { encodeHeaders, type HeaderField, HpackDecoder } from "../h2/hpack.ts";
import { Code, encodeGrpcTimeout, GrpcError, statusFromHttp, statusFromTrailers } from "./status.ts";

/** Where and how long; `deadline` is absolute (Date.now() based). */
export interface OnceOptions {
  /** "/etcdserverpb.KV/Put". */
  path: string;
  metadata?: Metadata;
  deadline?: number;
  signal?: AbortSignal;
  /** Bound on establishing the connection (also bounded by the deadline). */
  dialTimeoutMs: number;
}

/** Whether `url` (an endpointUrl) can make one-shot calls: plain http:// only. */
export function supportsOnce(url: string): boolean {
  return url.startsWith("http://");
}

/**
 * Makes one unary call to `url` ("http://host:port") and resolves with the response
 * message. Rejects with a GrpcError; `local: true` means the request was certainly not
 * processed (no connection, or the server refused the stream), so another endpoint may be tried.
 */
export async function unaryOnce(url: string, request: Uint8Array, opts: OnceOptions): Promise<Uint8Array> {
  let reply: Uint8Array | undefined;
  await new OneShotCall(url, request, opts, (m) => {
    reply ??= m;
  }).result;
  if (reply === undefined) throw new GrpcError(Code.Internal, "server sent no response message");
  return reply;
}

/**
 * Makes one server-streaming call to `url`, handing each response message to `onMessage`
 * as it arrives; resolves when the call ends with OK. `onMessage` runs synchronously in the
 * socket's data callback: while it works nothing more is read, so a slow sink (a disk)
 * holds the sender back instead of responses piling up here. What `onMessage` throws
 * ends the call and rejects with it; otherwise rejects as `unaryOnce` does.
 */
export function serverStreamOnce(
  url: string,
  request: Uint8Array,
  opts: OnceOptions,
  onMessage: (m: Uint8Array) => void,
): Promise<void> {
  return new OneShotCall(url, request, opts, onMessage).result;
}

const stream = 1;

/**
 * Response bytes taken before the windows are opened by as much again. The client opens
 * both windows to the maximum (2 GiB) at once; topping them up as it reads lets a
 * stream (a snapshot) run past that, at one WINDOW_UPDATE pair per MiB.
 */
const WINDOW_REFILL = 1 << 20;

type Socket = Bun.Socket<undefined>;

class OneShotCall {
  readonly result: Promise<void>;
  #resolve!: () => void;
  #reject!: (e: Error) => void;
  #done = false;
  #socket: Socket | undefined;
  #connected = false;
  readonly #timers: ReturnType<typeof setTimeout>[] = [];
  readonly #opts: OnceOptions;
  readonly #onMessage: (m: Uint8Array) => void;

  // Outbound: bytes not yet accepted by the socket, and request DATA waiting for window.
  #out: Uint8Array[] = [];
  #body: Uint8Array;
  readonly #send = new SendWindows();
  #streamWindow = DEFAULT_WINDOW;

  // Inbound.
  readonly #frames = new FrameReader({ preface: false });
  readonly #hpack = new HpackDecoder();
  readonly #headerBlocks = new HeaderBlockReader();
  #sawHeaders = false;
  readonly #messages = new FrameDecoder();
  /** DATA bytes received since the windows were last topped up. */
  #unacknowledged = 0;

  constructor(url: string, request: Uint8Array, opts: OnceOptions, onMessage: (m: Uint8Array) => void) {
    this.#opts = opts;
    this.#onMessage = onMessage;
    this.#body = grpcMessage(request);
    this.result = new Promise((res, rej) => {
      this.#resolve = res;
      this.#reject = rej;
    });
    const u = new URL(url);
    const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = Number(u.port || 80);
    if (opts.signal?.aborted) {
      this.#fail(new GrpcError(Code.Canceled, "context canceled", { local: true }));
      return;
    }
    opts.signal?.addEventListener("abort", this.#onAbort, { once: true });
    const dialBudget = Math.min(
      opts.dialTimeoutMs,
      opts.deadline === undefined ? Infinity : Math.max(0, opts.deadline - Date.now()),
    );
    this.#timers.push(setTimeout(() => {
      if (!this.#connected) {
        this.#fail(new GrpcError(Code.DeadlineExceeded, "context deadline exceeded", { local: true }));
      }
    }, dialBudget));
    if (opts.deadline !== undefined) {
      this.#timers.push(setTimeout(
        () => this.#fail(new GrpcError(Code.DeadlineExceeded, "context deadline exceeded")),
        Math.max(0, opts.deadline - Date.now()),
      ));
    }
    this.#queueRequest(u.host);
    Bun.connect({
      hostname: host,
      port,
      socket: {
        open: (s) => this.#onOpen(s),
        data: (_s, d) => this.#onData(d),
        drain: () => this.#flush(),
        close: () => this.#onClose(),
        error: (_s, e) => this.#onClose(e),
      },
    }).catch((e: Error & { code?: string }) => {
      const why = e.message === "Failed to connect" && e.code
        ? `connect ${e.code} ${host}:${port}`
        : e.message;
      this.#fail(
        new GrpcError(Code.Unavailable, `connection error: desc = "transport: Error while dialing ${why}"`, {
          local: true,
        }),
      );
    });
  }

  readonly #onAbort = () => this.#fail(new GrpcError(Code.Canceled, "context canceled"));

  // Everything up to the request's DATA can be written before the server says anything.
  #queueRequest(authority: string): void {
    const o = this.#opts;
    const fields: HeaderField[] = [
      [":method", "POST"],
      [":scheme", "http"],
      [":path", o.path],
      [":authority", authority],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
      ["user-agent", "etcdts-client"],
      ...Object.entries(o.metadata ?? {}),
    ];
    if (o.deadline !== undefined) fields.push(["grpc-timeout", encodeGrpcTimeout(o.deadline - Date.now())]);
    const block = encodeHeaders(fields);
    this.#out.push(
      CLIENT_PREFACE,
      encodeFrame({
        type: SETTINGS,
        flags: 0,
        streamId: 0,
        payload: encodeSettings([[Setting.ENABLE_PUSH, 0], [Setting.INITIAL_WINDOW_SIZE, MAX_WINDOW]]),
      }),
      encodeFrame({ type: WINDOW_UPDATE, flags: 0, streamId: 0, payload: u32(MAX_WINDOW - DEFAULT_WINDOW) }),
    );
    const frames = headerBlockFrames(block, {
      streamId: stream,
      maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
      endStream: false,
    });
    this.#out.push(Buffer.concat(frames));
    this.#queueBody();
  }

  // Request DATA as far as both flow-control windows allow; END_STREAM on the last frame.
  #queueBody(): void {
    while (this.#body.length > 0) {
      const n = Math.min(this.#body.length, this.#send.allowed(this.#streamWindow));
      if (n <= 0) return;
      const chunk = this.#body.subarray(0, n);
      this.#body = this.#body.subarray(n);
      this.#send.sent(n);
      this.#streamWindow -= n;
      this.#out.push(encodeFrame({
        type: DATA,
        flags: this.#body.length === 0 ? FLAG_END_STREAM : 0,
        streamId: stream,
        payload: chunk,
      }));
    }
  }

  #onOpen(s: Socket): void {
    if (this.#done) {
      s.end();
      return;
    }
    this.#socket = s;
    this.#connected = true;
    this.#flush();
  }

  #flush(): void {
    const s = this.#socket;
    if (!s || this.#done) return;
    while (this.#out.length > 0) {
      const b = this.#out[0];
      const n = s.write(b);
      if (n < b.length) {
        this.#out[0] = b.subarray(Math.max(0, n));
        return; // the rest on 'drain'
      }
      this.#out.shift();
    }
  }

  #onData(d: Uint8Array): void {
    if (this.#done) return;
    const chunk = Buffer.isBuffer(d) ? d : Buffer.from(d.buffer, d.byteOffset, d.length);
    const err = this.#frames.push(chunk, (f) => {
      if (this.#done) return;
      try {
        this.#onFrame(f);
      } catch (e) {
        this.#fail(new GrpcError(Code.Internal, `transport: ${(e as Error).message}`));
      }
    });
    if (err !== null) this.#fail(new GrpcError(Code.Internal, `transport: ${err.message}`));
    this.#flush();
  }

  #onFrame(f: Frame): void {
    const { type, flags, streamId: id, payload: p } = f;
    switch (type) {
      case SETTINGS: {
        const values = readSettings(f);
        if (values === null) return;
        if (isConnectionError(values)) return this.#transportError(values);
        this.#streamWindow += this.#send.applySettings(values);
        this.#out.push(
          encodeFrame({ type: SETTINGS, flags: FLAG_ACK, streamId: 0, payload: new Uint8Array(0) }),
        );
        this.#queueBody();
        return;
      }
      case PING:
        if (!(flags & FLAG_ACK)) {
          this.#out.push(encodeFrame({ type: PING, flags: FLAG_ACK, streamId: 0, payload: p }));
        }
        return;
      case WINDOW_UPDATE: {
        const inc = readWindowIncrement(f);
        if (isConnectionError(inc)) return this.#transportError(inc);
        if (id === 0) this.#send.growConnection(inc);
        else if (id === stream) this.#streamWindow += inc;
        this.#queueBody();
        return;
      }
      case GOAWAY: {
        const last = new DataView(p.buffer, p.byteOffset).getUint32(0) & 0x7fffffff;
        // Our stream was not processed: safe to try another endpoint.
        if (last < stream) {
          this.#fail(new GrpcError(Code.Unavailable, "transport: the server sent GOAWAY", { local: true }));
        }
        return;
      }
      case RST_STREAM: {
        if (id !== stream) return;
        const code = new DataView(p.buffer, p.byteOffset).getUint32(0);
        const local = code === 7; // REFUSED_STREAM: not processed
        this.#fail(
          new GrpcError(code === 8 ? Code.Canceled : Code.Unavailable, `stream closed with code ${code}`, {
            local,
          }),
        );
        return;
      }
      case HEADERS:
      case CONTINUATION: {
        if (id !== stream) return;
        const block = this.#headerBlocks.read(f);
        if (block === null) return;
        if (isConnectionError(block)) return this.#transportError(block);
        return this.#onHeaderBlock(block);
      }
      case DATA: {
        if (id !== stream) return;
        const body = dataPayload(f);
        if (isConnectionError(body)) return this.#transportError(body);
        const got = this.#messages.push(body);
        if (!Array.isArray(got)) return this.#fail(new GrpcError(Code.Internal, frameErrorMessage(got)));
        for (const m of got) {
          try {
            this.#onMessage(m);
          } catch (e) {
            return this.#fail(e as Error);
          }
        }
        if (flags & FLAG_END_STREAM) return this.#onEnd();
        this.#unacknowledged += p.length;
        if (this.#unacknowledged >= WINDOW_REFILL) {
          const inc = u32(this.#unacknowledged);
          this.#unacknowledged = 0;
          this.#out.push(
            encodeFrame({ type: WINDOW_UPDATE, flags: 0, streamId: 0, payload: inc }),
            encodeFrame({ type: WINDOW_UPDATE, flags: 0, streamId: stream, payload: inc }),
          );
        }
        return;
      }
    }
  }

  #transportError(e: ConnectionError): void {
    this.#fail(new GrpcError(Code.Internal, `transport: ${e.message}`));
  }

  #onHeaderBlock(block: HeaderBlock): void {
    const headers: Record<string, string> = {};
    for (const [name, value] of this.#hpack.decode(block.bytes)) headers[name] ??= value;
    const first = !this.#sawHeaders;
    this.#sawHeaders = true;
    if (first && headers[":status"] !== "200" && headers["grpc-status"] === undefined) {
      return this.#fail(statusFromHttp(Number(headers[":status"])));
    }
    if (first && !block.endStream) return; // response headers; messages follow
    // Trailers, or a trailers-only response.
    const err = statusFromTrailers(headers);
    if (err) return this.#fail(err);
    this.#succeed();
  }

  #onEnd(): void {
    this.#fail(new GrpcError(Code.Internal, "server closed the stream without sending trailers"));
  }

  #onClose(e?: Error): void {
    if (this.#done) return;
    this.#fail(
      new GrpcError(Code.Unavailable, e ? `transport: ${e.message}` : "stream closed with code 0", {
        local: !this.#connected,
      }),
    );
  }

  #succeed(): void {
    if (this.#done) return;
    this.#cleanup();
    this.#resolve();
  }

  #fail(e: Error): void {
    if (this.#done) return;
    this.#cleanup();
    this.#reject(e);
  }

  #cleanup(): void {
    this.#done = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#opts.signal?.removeEventListener("abort", this.#onAbort);
    this.#socket?.end();
  }
}
