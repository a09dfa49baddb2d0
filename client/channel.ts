/**
 * One endpoint's HTTP/2 connection and the raw (byte-level) gRPC calls on it.
 * The typed layer (client.ts) picks a channel per call and handles failover; this module
 * only knows how to connect, keep the connection alive and move framed bytes.
 */
import type http2 from "node:http2";
import { encodeFrame, FrameDecoder, frameErrorMessage } from "../api/grpc-frame.ts";
import { Code, encodeGrpcTimeout, GrpcError, statusFromHttp, statusFromTrailers } from "./status.ts";

/**
 * TLS settings for https:// endpoints. Accepted now so callers can be written against the
 * final API; a TLS connection is attempted only when an endpoint's scheme is https.
 */
export interface TlsOptions {
  /** PEM CA bundle that signs the servers' certificates (default: the system roots). */
  ca?: string | Uint8Array;
  /** PEM client certificate and key, for servers that require client certificates. */
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
  /** Skip server certificate verification (testing only, like etcdctl's flag). */
  insecureSkipVerify?: boolean;
  /** Name to verify the server certificate against, when it differs from the host. */
  serverName?: string;
}

/** How a channel connects. Durations in milliseconds. */
export interface ChannelOptions {
  dialTimeoutMs: number;
  /** Interval of HTTP/2 pings while calls are open; 0 disables keepalive. */
  keepAliveTimeMs: number;
  keepAliveTimeoutMs: number;
  tls?: TlsOptions;
}

/** Request metadata for one call (lower-case header names). */
export type Metadata = Record<string, string>;

/** Byte-level call options: where and how long. */
export interface RawCallOptions {
  path: string;
  metadata?: Metadata;
  /** Absolute deadline (Date.now() based); sent to the server as grpc-timeout. */
  deadline?: number;
  signal?: AbortSignal;
}

// grpc-go never pings more often than every 10s, and etcd's server answers more frequent
// pings with GOAWAY(too_many_pings); etcdctl's 2s default is clamped the same way.
const minKeepAliveMs = 10_000;

// RST_STREAM CANCEL (http2.constants.NGHTTP2_CANCEL, without loading the module for it).
const nghttp2Cancel = 8;

// How many decoded messages a reader may leave unconsumed before we stop reading the socket.
const readHighWater = 32;

/** Normalises "host:port", "http://host:port" or "https://host:port" to an http(s) URL origin. */
export function endpointUrl(endpoint: string): string {
  const e = endpoint.trim();
  if (e.startsWith("http://") || e.startsWith("https://")) return e.replace(/\/+$/, "");
  if (e.startsWith("unix://") || e.startsWith("unixs://")) return e;
  return `http://${e}`;
}

/**
 * The socket file a unix:// or unixs:// endpoint names, as clientv3 reads it (host and
 * path: `unix://localhost:2379` is the file `localhost:2379`), or null for TCP endpoints.
 */
export function unixSocketFile(endpoint: string): string | null {
  if (!endpoint.startsWith("unix://") && !endpoint.startsWith("unixs://")) return null;
  const url = new URL(endpoint);
  return url.host + url.pathname;
}

/**
 * A lazily connected HTTP/2 session to one endpoint. Reconnects on the next call after the
 * session dies. Not shared between Client instances.
 */
export class Channel {
  readonly endpoint: string;
  readonly #url: string;
  readonly #opts: ChannelOptions;
  #session: http2.ClientHttp2Session | undefined;
  #connecting: Promise<http2.ClientHttp2Session> | undefined;
  #openCalls = 0;
  #pingTimer: ReturnType<typeof setInterval> | undefined;

  constructor(endpoint: string, opts: ChannelOptions) {
    this.endpoint = endpoint;
    this.#url = endpointUrl(endpoint);
    this.#opts = opts;
  }

  /**
   * Resolves with a connected session, or rejects with a local Unavailable/DeadlineExceeded
   * GrpcError (nothing was sent, so the caller may try another endpoint).
   */
  connect(deadline?: number): Promise<http2.ClientHttp2Session> {
    const s = this.#session;
    if (s && !s.closed && !s.destroyed) return Promise.resolve(s);
    this.#connecting ??= this.#dial(deadline).finally(() => (this.#connecting = undefined));
    return this.#connecting;
  }

  #dial(deadline?: number): Promise<http2.ClientHttp2Session> {
    let url = this.#url;
    const socketFile = unixSocketFile(url);
    if (socketFile !== null) url = url.startsWith("unixs://") ? "https://localhost" : "http://localhost";
    if (!url.startsWith("http://") && !url.startsWith("https://")) {
      return Promise.reject(
        new GrpcError(Code.Unavailable, `unsupported endpoint scheme: ${this.endpoint}`, { local: true }),
      );
    }
    const tls = this.#opts.tls;
    const connectOpts: http2.SecureClientSessionOptions = url.startsWith("https://")
      ? {
        ca: tls?.ca as string | undefined,
        cert: tls?.cert as string | undefined,
        key: tls?.key as string | undefined,
        rejectUnauthorized: !tls?.insecureSkipVerify,
        servername: tls?.serverName,
      }
      : {};
    const budget = Math.min(
      this.#opts.dialTimeoutMs,
      deadline === undefined ? Infinity : Math.max(0, deadline - Date.now()),
    );
    // node:http2 costs ~6 ms to load and set up in the compiled binary: only when a session is made.
    // A fully qualified name ("host.", as SRV targets come) names the same host, but
    // getaddrinfo finds names listed only in /etc/hosts ("localhost") without the dot.
    const dialUrl = url.replace(/^(https?:\/\/[^/:[\]]+)\.(?=[:/]|$)/, "$1");
    return import("node:http2").then(async ({ default: h2 }) => {
      if (socketFile === null) return this.#connectWith(h2, dialUrl, connectOpts, budget);
      const [net, tlsMod] = await Promise.all([import("node:net"), import("node:tls")]);
      const secure = url.startsWith("https://");
      const createConnection = () =>
        secure
          ? tlsMod.connect(
            {
              ...connectOpts,
              path: socketFile,
              ALPNProtocols: ["h2"],
            } as import("node:tls").ConnectionOptions,
          )
          : net.connect(socketFile);
      return this.#connectWith(h2, url, { ...connectOpts, createConnection }, budget);
    });
  }

  #connectWith(
    h2: typeof import("node:http2"),
    url: string,
    connectOpts: http2.SecureClientSessionOptions,
    budget: number,
  ): Promise<http2.ClientHttp2Session> {
    return new Promise((resolve, reject) => {
      const session = h2.connect(url, connectOpts);
      const timer = setTimeout(() => {
        session.destroy();
        reject(new GrpcError(Code.DeadlineExceeded, "context deadline exceeded", { local: true }));
      }, budget);
      const fail = (err: Error & { code?: string }) => {
        clearTimeout(timer);
        session.destroy();
        reject(
          new GrpcError(
            Code.Unavailable,
            `connection error: desc = "transport: Error while dialing ${err.message}"`,
            {
              local: true,
            },
          ),
        );
      };
      session.once("error", fail);
      session.once("connect", () => {
        clearTimeout(timer);
        session.off("error", fail);
        // Bun reports ECONNRESET when a peer goes away; the affected streams fail on their own.
        session.on("error", () => {});
        session.once("close", () => {
          if (this.#session === session) this.#session = undefined;
        });
        session.once("goaway", () => {
          if (this.#session === session) this.#session = undefined;
        });
        this.#session = session;
        this.#syncUnref();
        resolve(session);
      });
    });
  }

  /**
   * Opens a call on this channel. The returned call is usable at once; its status settles
   * with a local error if the connection cannot be made.
   */
  async open(opts: RawCallOptions): Promise<RawCall> {
    const session = await this.connect(opts.deadline);
    const headers: http2.OutgoingHttpHeaders = {
      ":method": "POST",
      ":path": opts.path,
      "content-type": "application/grpc",
      "te": "trailers",
      "user-agent": "etcdts-client",
      ...opts.metadata,
    };
    if (opts.deadline !== undefined) headers["grpc-timeout"] = encodeGrpcTimeout(opts.deadline - Date.now());
    const stream = session.request(headers, { endStream: false });
    this.#openCalls++;
    this.#syncUnref();
    const call = new RawCall(stream, opts);
    call.status.finally(() => {
      this.#openCalls--;
      this.#syncUnref();
    });
    return call;
  }

  // An idle session must not keep the process alive (a CLI exits when its work is done),
  // and keepalive pings only run while calls are open, as in grpc-go's default policy.
  #syncUnref(): void {
    const s = this.#session;
    if (!s) return;
    const busy = this.#openCalls > 0;
    if (busy) s.ref();
    else s.unref();
    if (busy && this.#opts.keepAliveTimeMs > 0 && this.#pingTimer === undefined) {
      const every = Math.max(this.#opts.keepAliveTimeMs, minKeepAliveMs);
      this.#pingTimer = setInterval(() => this.#ping(s), every);
      this.#pingTimer.unref?.();
    } else if (!busy && this.#pingTimer !== undefined) {
      clearInterval(this.#pingTimer);
      this.#pingTimer = undefined;
    }
  }

  #ping(s: http2.ClientHttp2Session): void {
    if (s.destroyed) return;
    const timer = setTimeout(
      () => s.destroy(new Error("keepalive ping timed out")),
      this.#opts.keepAliveTimeoutMs,
    );
    timer.unref?.();
    s.ping((err) => {
      clearTimeout(timer);
      if (err) s.destroy(err);
    });
  }

  /** Closes the session; open calls are cancelled. */
  close(): void {
    if (this.#pingTimer !== undefined) clearInterval(this.#pingTimer);
    this.#pingTimer = undefined;
    this.#session?.destroy();
    this.#session = undefined;
  }
}

/**
 * One gRPC call's byte stream: write framed request messages, read response messages,
 * then the status. Reading is pull-based with backpressure (the socket is paused when the
 * reader falls behind); writing resolves once the bytes are accepted by the stream.
 */
export class RawCall {
  readonly #stream: http2.ClientHttp2Stream;
  readonly #decoder = new FrameDecoder();
  readonly #queue: Uint8Array[] = [];
  #wake: (() => void) | undefined;
  #settled: GrpcError | null | undefined; // undefined: open; null: OK
  #resolveStatus!: (e: GrpcError | undefined) => void;
  /** Settles when the call ends: undefined for OK, the error otherwise. Never rejects. */
  readonly status: Promise<GrpcError | undefined>;

  constructor(stream: http2.ClientHttp2Stream, opts: RawCallOptions) {
    this.#stream = stream;
    this.status = new Promise((r) => (this.#resolveStatus = r));
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (opts.deadline !== undefined) {
      timer = setTimeout(
        () => this.#finish(new GrpcError(Code.DeadlineExceeded, "context deadline exceeded")),
        Math.max(0, opts.deadline - Date.now()),
      );
    }
    const onAbort = () => this.#finish(new GrpcError(Code.Canceled, "context canceled"));
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    this.status.finally(() => {
      if (timer !== undefined) clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
    });

    stream.on("response", (headers) => {
      const httpStatus = Number(headers[":status"]);
      if (headers["grpc-status"] !== undefined) {
        this.#finish(statusFromTrailers(headers) ?? null); // trailers-only response
      } else if (httpStatus !== 200) {
        this.#finish(statusFromHttp(httpStatus));
      }
    });
    stream.on("data", (chunk: Uint8Array) => {
      const got = this.#decoder.push(chunk);
      if (!Array.isArray(got)) {
        this.#finish(new GrpcError(Code.Internal, frameErrorMessage(got)));
        return;
      }
      this.#queue.push(...got);
      if (this.#queue.length >= readHighWater) stream.pause();
      this.#notify();
    });
    stream.on("trailers", (trailers) => this.#finish(statusFromTrailers(trailers) ?? null));
    stream.on("end", () => {
      if (this.#settled === undefined) {
        this.#finish(new GrpcError(Code.Internal, "server closed the stream without sending trailers"));
      }
    });
    stream.on("error", (err: Error) => {
      this.#finish(new GrpcError(Code.Unavailable, `transport: ${err.message}`));
    });
    stream.on("close", () => {
      if (this.#settled === undefined) {
        const code = stream.rstCode ?? 0;
        this.#finish(
          new GrpcError(code === 8 ? Code.Canceled : Code.Unavailable, `stream closed with code ${code}`),
        );
      }
    });
  }

  #finish(err: GrpcError | null): void {
    if (this.#settled !== undefined) return;
    this.#settled = err;
    if (err !== null && !this.#stream.destroyed) this.#stream.close(nghttp2Cancel);
    this.#resolveStatus(err ?? undefined);
    this.#notify();
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  /** Sends one serialized message; resolves when the stream can take more (backpressure). */
  async send(message: Uint8Array): Promise<void> {
    if (this.#settled !== undefined) {
      throw this.#settled ?? new GrpcError(Code.Internal, "call already finished");
    }
    if (!this.#stream.write(encodeFrame(message))) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.#stream.off("drain", done);
          this.#stream.off("close", done);
          resolve();
        };
        this.#stream.once("drain", done);
        this.#stream.once("close", done);
      });
    }
  }

  /** Half-closes: the server sees the end of the request stream. */
  closeSend(): void {
    if (this.#settled === undefined && !this.#stream.writableEnded) this.#stream.end();
  }

  /** Cancels the call (RST_STREAM CANCEL); the status becomes Canceled. */
  cancel(): void {
    this.#finish(new GrpcError(Code.Canceled, "context canceled"));
  }

  /**
   * Next response message, or undefined when the stream has ended (then read `status`).
   * Messages already received are delivered even if the call failed afterwards.
   */
  async read(): Promise<Uint8Array | undefined> {
    for (;;) {
      const m = this.#queue.shift();
      if (m !== undefined) {
        if (this.#queue.length < readHighWater / 2 && this.#stream.isPaused()) this.#stream.resume();
        return m;
      }
      if (this.#settled !== undefined) return undefined;
      await new Promise<void>((r) => (this.#wake = r));
    }
  }
}
