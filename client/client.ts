/**
 * A typed etcd v3 gRPC client over node:http2, driven by the generated protobuf-es
 * service descriptors (pass `KV`, `Watch`, `Lease`, ... from proto/gen).
 *
 * Why our own and not @connectrpc/connect-node: a CLI call pays for every module it loads,
 * and this layer is a few hundred lines over node:http2 (see design notes).
 *
 * ```ts
 * import { KV, Watch } from "../proto/gen/etcdserverpb/rpc_pb.ts";
 * const client = new Client({ endpoints: ["127.0.0.1:2379"], callTimeoutMs: 5000 });
 * const kv = client.service(KV);
 * const res = await kv.range({ key: new TextEncoder().encode("foo") });  // throws GrpcError
 * const watch = client.service(Watch).watch();                           // bidi stream
 * await watch.send({ requestUnion: { case: "createRequest", value: { key } } });
 * for await (const ev of watch) { ... }
 * client.close();
 * ```
 */
import type {
  DescMessage,
  DescMethod,
  DescService,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { decodeAuthenticateToken, encodeAuthenticateRequest } from "../wire/etcd.ts";
import { Channel, endpointUrl, type Metadata, type RawCall, type TlsOptions } from "./channel.ts";
import { type OnceOptions, serverStreamOnce, supportsOnce, unaryOnce } from "./h2_once.ts";
import { Code, GrpcError } from "./status.ts";
import { Errors } from "../api/errors.ts";

export type { Metadata, TlsOptions };

// The protobuf runtime costs ~15 ms to load in the compiled binary; the CLI's put/get/del
// use unaryBytes with their own codec and never need it. Typed calls load it on first use
// (a caller holding a generated descriptor has loaded it already, so this is a lookup).
const protobufRuntime = () => import("@bufbuild/protobuf");

/** Connection settings. Durations are milliseconds; defaults are etcdctl's. */
export interface ClientOptions {
  /** "host:port", "http://host:port" or "https://host:port"; tried in order, failing over on unavailability. */
  endpoints: string[];
  /** Bound on establishing one connection (default 2000). */
  dialTimeoutMs?: number;
  /** Default per-call timeout, sent as grpc-timeout (default: none). */
  callTimeoutMs?: number;
  /** HTTP/2 ping interval while calls are open (default 2000, clamped to ≥10s like grpc-go; 0 disables). */
  keepAliveTimeMs?: number;
  /** How long to wait for a ping ack before dropping the connection (default 6000). */
  keepAliveTimeoutMs?: number;
  /** etcd auth token, sent as the `token` metadata on every call (see `setToken`). */
  token?: string;
  /** TLS settings for https:// endpoints. */
  tls?: TlsOptions;
  /** Extra metadata sent on every call. */
  metadata?: Metadata;
  /**
   * Make each `unaryBytes` and `serverStreamBytes` call on a short connection of its own
   * (client/h2_once.ts) instead of the shared node:http2 session, for processes that make
   * one call and exit (the CLI's put/get/del, snapshot save): node:http2 is then never
   * loaded. Only http:// endpoints; others, bidirectional streams and typed calls use the
   * shared session as usual.
   */
  oneShot?: boolean;
  /**
   * Credentials: the client calls Auth/Authenticate before its first call and again, once
   * per call, when the server says the token is invalid or stale (as clientv3 does).
   */
  user?: { name: string; password: string };
  /**
   * Told of each failed attempt that clientv3 logs as "retrying of unary invoker failed":
   * a failed Authenticate, and an attempt retried after its token went stale.
   */
  onFailedAttempt?: (failure: FailedAttempt) => void;
}

/** One failed attempt of a unary call (see `ClientOptions.onFailedAttempt`). */
export interface FailedAttempt {
  /** The endpoint the attempt went to. */
  readonly endpoint: string;
  /** 0 for a call's first attempt. */
  readonly attempt: number;
  readonly error: GrpcError;
  /** "refresh": getting a new token to retry with failed, which ends the call. */
  readonly kind: "attempt" | "refresh";
}

/** Per-call settings. */
export interface CallOptions {
  /** Overrides the client's callTimeoutMs for this call. */
  timeoutMs?: number;
  signal?: AbortSignal;
  metadata?: Metadata;
  /**
   * Whether a server-side Unavailable may be retried on another endpoint. Connection
   * failures are always retried; an Unavailable from a server might follow a write that
   * was applied, so by default only read-only methods retry it.
   */
  retryUnavailable?: boolean;
}

/** A server-streaming call's responses. Iterating throws the call's GrpcError, if any, at the end. */
export interface ServerStream<O> extends AsyncIterable<O> {
  /** Next response, or undefined at the end (an error status rejects). */
  read(): Promise<O | undefined>;
  cancel(): void;
  /** Settles when the call ends: undefined for OK. Never rejects. */
  readonly status: Promise<GrpcError | undefined>;
}

/** A bidirectional stream (watch, lease keep-alive). `send` resolves when the stream can take more. */
export interface BidiStream<I, O> extends ServerStream<O> {
  send(message: I): Promise<void>;
  /** Half-closes the request side. */
  closeSend(): void;
}

type MethodFn<M extends GenServiceMethods[string]> = M["methodKind"] extends "unary"
  ? (req: MessageInitShape<M["input"]>, opts?: CallOptions) => Promise<MessageShape<M["output"]>>
  : M["methodKind"] extends "server_streaming"
    ? (req: MessageInitShape<M["input"]>, opts?: CallOptions) => ServerStream<MessageShape<M["output"]>>
  : (opts?: CallOptions) => BidiStream<MessageInitShape<M["input"]>, MessageShape<M["output"]>>;

/** The typed stub for a generated service: one function per RPC, named by its localName. */
export type ServiceClient<S> = S extends GenService<infer M> ? { [K in keyof M]: MethodFn<M[K]> } : never;

// Read-only RPCs: retrying them on another endpoint after a server Unavailable is harmless.
const readOnlyMethods = new Set([
  "Range",
  "MemberList",
  "Status",
  "Hash",
  "HashKV",
  "Alarm",
  "AuthStatus",
  "UserGet",
  "UserList",
  "RoleGet",
  "RoleList",
  "LeaseTimeToLive",
  "LeaseLeases",
]);

/** What a learner answers to calls only voters serve (etcd's ErrGPRCNotSupportedForLearner). */
const LEARNER_REFUSAL = "etcdserver: rpc not supported for learner";

/**
 * Whether a server's refusal may be retried on another endpoint: Unavailable for read-only
 * calls, and a learner's refusal for any call (it refused before doing anything).
 */
function mayRetryElsewhere(err: GrpcError, opts: CallOptions): boolean {
  return err.code === Code.Unavailable && (opts.retryUnavailable === true || err.message === LEARNER_REFUSAL);
}

// Between rounds over all endpoints, wait this long (doubling, capped) before trying again.
const retryBackoffMs = [50, 100, 200, 400, 800];

/** The gRPC path of a method: "/etcdserverpb.KV/Range". */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/**
 * A connection pool over the configured endpoints. Calls go to the endpoint that last
 * worked; when it is unreachable the next one is tried, round after round, until the
 * call's deadline (or one round, when the call has none).
 */
export class Client {
  readonly #opts: ClientOptions;
  readonly #channels: Channel[];
  #pinned = 0;
  #token: string | undefined;
  /** The server said auth is disabled: call without a token, as clientv3 then does. */
  #authOff = false;
  #authenticating: Promise<void> | undefined;

  constructor(opts: ClientOptions) {
    if (opts.endpoints.length === 0) throw new Error("etcd client: no endpoints");
    this.#opts = opts;
    this.#token = opts.token;
    this.#channels = opts.endpoints.map((e) =>
      new Channel(e, {
        dialTimeoutMs: opts.dialTimeoutMs ?? 2000,
        keepAliveTimeMs: opts.keepAliveTimeMs ?? 2000,
        keepAliveTimeoutMs: opts.keepAliveTimeoutMs ?? 6000,
        tls: opts.tls,
      })
    );
  }

  /** The configured endpoints, in order. */
  get endpoints(): readonly string[] {
    return this.#channels.map((c) => c.endpoint);
  }

  /** Sets (or clears) the auth token sent with later calls, e.g. after Auth/Authenticate. */
  setToken(token: string | undefined): void {
    this.#token = token;
  }

  /** A typed stub for a generated service descriptor. */
  service<S extends DescService>(service: S): ServiceClient<S> {
    const stub: Record<string, unknown> = {};
    for (const m of service.methods) {
      stub[m.localName] = m.methodKind === "unary"
        ? (req: never, opts?: CallOptions) => this.unary(m, req, opts)
        : m.methodKind === "server_streaming"
        ? (req: never, opts?: CallOptions) => this.serverStream(m, req, opts)
        : (opts?: CallOptions) => this.bidiStream(m, opts);
    }
    return stub as ServiceClient<S>;
  }

  /** One request, one response. Rejects with GrpcError. */
  async unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethod & { input: I; output: O },
    req: MessageInitShape<I>,
    opts: CallOptions = {},
  ): Promise<MessageShape<O>> {
    const { create, fromBinary, toBinary } = await protobufRuntime();
    const bytes = toBinary(method.input, create(method.input, req as never));
    const reply = await this.unaryBytes(methodPath(method), bytes, {
      retryUnavailable: readOnlyMethods.has(method.name),
      ...opts,
    });
    return fromBinary(method.output, reply) as MessageShape<O>;
  }

  /**
   * A unary call on already-serialized bytes, for callers with their own codec (the CLI's
   * hot path avoids loading the generated descriptors). `path` is "/etcdserverpb.KV/Put".
   */
  async unaryBytes(path: string, request: Uint8Array, opts: CallOptions = {}): Promise<Uint8Array> {
    // clientv3's retry interceptor, for what concerns tokens: a call refused for a stale
    // token (or for none, when it has credentials) gets a new one and is tried again, up
    // to 100 attempts 25 ms apart, all within the call's one deadline.
    const deadline = this.#deadline(opts);
    await this.#ensureToken(opts);
    for (let attempt = 0;; attempt++) {
      if (attempt > 0) await retryPause(timeLeft(deadline));
      const call = { ...opts, timeoutMs: timeLeft(deadline) ?? opts.timeoutMs };
      try {
        return await this.#unaryBytes(path, request, call);
      } catch (e) {
        if (!(e instanceof GrpcError && this.#refreshesToken(e)) || attempt + 1 >= AUTH_RETRY_ATTEMPTS) {
          throw e;
        }
        this.#reportFailure(e, attempt, "attempt");
        await this.#refreshToken(call, attempt);
      }
    }
  }

  // clientv3's refreshToken: forget the token and get a new one; without credentials
  // (a client known by its certificate) there is nothing to refresh, only to retry.
  async #refreshToken(opts: CallOptions, attempt: number): Promise<void> {
    if (this.#opts.user === undefined) return;
    this.#token = undefined;
    this.#authOff = false;
    try {
      await this.#ensureToken(opts);
    } catch (e) {
      if (e instanceof GrpcError) this.#reportFailure(e, attempt, "refresh");
      throw e;
    }
  }

  /** Gets a token now (clientv3 does at dial); a no-op without credentials or with a token. */
  authenticate(opts: CallOptions = {}): Promise<void> {
    return this.#ensureToken(opts);
  }

  // clientv3's shouldRefreshToken: with credentials, a stale or unknown token, or none
  // while auth is on. Without, only a stale auth revision is worth another try, and only
  // for a client known by its certificate (its revision is the server's current one); a
  // token given as is would be refused again.
  #refreshesToken(e: GrpcError): boolean {
    if (this.#opts.user === undefined) {
      return e.message === Errors.AuthOldRevision.message && this.#token === undefined;
    }
    return e.message === Errors.UserEmpty.message || e.message === Errors.InvalidAuthToken.message ||
      e.message === Errors.AuthOldRevision.message;
  }

  #reportFailure(error: GrpcError, attempt: number, kind: FailedAttempt["kind"]): void {
    this.#opts.onFailedAttempt?.({ endpoint: this.#channels[this.#pinned].endpoint, attempt, error, kind });
  }

  // Authenticates once for all concurrent callers when there is no token yet (or anew when
  // `fresh`: clientv3 does for every stream it opens). A server with auth disabled leaves
  // the client without a token, as clientv3 is after dialing one.
  async #ensureToken(opts: CallOptions, fresh = false): Promise<void> {
    const user = this.#opts.user;
    if (user === undefined || (!fresh && (this.#token !== undefined || this.#authOff))) return;
    this.#authenticating ??= (async () => {
      try {
        const reply = await this.#unaryBytes(AUTHENTICATE, encodeAuthenticateRequest(user), {
          timeoutMs: opts.timeoutMs,
          signal: opts.signal,
          metadata: {},
          noToken: true,
        } as CallOptions);
        this.#token = decodeAuthenticateToken(reply);
      } catch (e) {
        if (!(e instanceof GrpcError)) throw e;
        this.#reportFailure(e, 0, "attempt");
        if (e.message !== Errors.AuthNotEnabled.message) throw e;
        this.#token = undefined;
        this.#authOff = true;
      }
    })().finally(() => (this.#authenticating = undefined));
    await this.#authenticating;
  }

  async #unaryBytes(path: string, request: Uint8Array, opts: CallOptions): Promise<Uint8Array> {
    const deadline = this.#deadline(opts);
    const urls = this.#channels.map((c) => endpointUrl(c.endpoint));
    if (this.#opts.oneShot && urls.every(supportsOnce)) {
      return await this.#unaryOnce(urls, path, request, opts, deadline);
    }
    let tried = 0;
    for (;;) {
      const call = await this.#open(path, opts, deadline);
      await call.send(request).catch(() => {}); // a failed send shows up in the status
      call.closeSend();
      const reply = await call.read();
      const err = await call.status;
      if (!err) {
        if (reply === undefined) throw new GrpcError(Code.Internal, "server sent no response message");
        return reply;
      }
      tried++;
      if (!(mayRetryElsewhere(err, opts) && tried < this.#channels.length)) throw err;
      this.#pinned = (this.#pinned + 1) % this.#channels.length;
    }
  }

  /**
   * A server-streaming call on serialized bytes: each response goes to `onMessage` as it
   * arrives, synchronously (a sink that blocks, like a file write, holds the stream back);
   * resolves when the call ends with OK, rejects with its GrpcError or what `onMessage`
   * threw. For callers that write a stream out as it comes (`snapshot save`).
   */
  async serverStreamBytes(
    path: string,
    request: Uint8Array,
    onMessage: (m: Uint8Array) => void,
    opts: CallOptions = {},
  ): Promise<void> {
    const deadline = this.#deadline(opts);
    await this.#ensureToken(opts, true);
    const urls = this.#channels.map((c) => endpointUrl(c.endpoint));
    if (this.#opts.oneShot && urls.every(supportsOnce)) {
      const once = this.#onceOptions(path, opts, deadline);
      return await this.#firstReachable(
        opts,
        deadline,
        (idx) => serverStreamOnce(urls[idx], request, once, onMessage),
      );
    }
    const call = await this.#open(path, opts, deadline);
    await call.send(request).catch(() => {}); // a failed send shows up in the status
    call.closeSend();
    try {
      for (let m = await call.read(); m !== undefined; m = await call.read()) onMessage(m);
    } catch (e) {
      call.cancel();
      throw e;
    }
    const err = await call.status;
    if (err) throw err;
  }

  /** One request, a stream of responses. */
  serverStream<I extends DescMessage, O extends DescMessage>(
    method: DescMethod & { input: I; output: O },
    req: MessageInitShape<I>,
    opts: CallOptions = {},
  ): ServerStream<MessageShape<O>> {
    const s = this.bidiStream<I, O>(method, opts);
    s.send(req).then(() => s.closeSend(), () => {}); // a failed send shows up in the status
    return s;
  }

  /** A bidirectional stream; the connection is made in the background, errors surface on read/status. */
  bidiStream<I extends DescMessage, O extends DescMessage>(
    method: DescMethod & { input: I; output: O },
    opts: CallOptions = {},
  ): BidiStream<MessageInitShape<I>, MessageShape<O>> {
    const deadline = this.#deadline(opts);
    const opened = this.#ensureToken(opts, true).then(() => this.#open(methodPath(method), opts, deadline))
      .then(
        (call) => ({ call }),
        (error: GrpcError) => ({ error }),
      );
    return new TypedStream<I, O>(method, opened);
  }

  /** Closes every connection; open calls are cancelled. */
  close(): void {
    for (const c of this.#channels) c.close();
  }

  #deadline(opts: CallOptions): number | undefined {
    const t = opts.timeoutMs ?? this.#opts.callTimeoutMs;
    return t === undefined || t <= 0 ? undefined : Date.now() + t;
  }

  #metadata(opts: CallOptions): Metadata {
    const md: Metadata = { ...this.#opts.metadata, ...opts.metadata };
    if (this.#token !== undefined && !(opts as { noToken?: boolean }).noToken) md.token = this.#token;
    return md;
  }

  // Opens a call on the first reachable endpoint, starting at the pinned one.
  #open(path: string, opts: CallOptions, deadline: number | undefined): Promise<RawCall> {
    return this.#firstReachable(opts, deadline, (idx) =>
      this.#channels[idx].open({
        path,
        metadata: this.#metadata(opts),
        deadline,
        signal: opts.signal,
      }));
  }

  // unaryBytes on one-shot connections: the same failover, and the same retry of a server
  // Unavailable on the next endpoint for read-only calls.
  async #unaryOnce(
    urls: string[],
    path: string,
    request: Uint8Array,
    opts: CallOptions,
    deadline: number | undefined,
  ): Promise<Uint8Array> {
    const once = this.#onceOptions(path, opts, deadline);
    let tried = 0;
    for (;;) {
      try {
        return await this.#firstReachable(opts, deadline, (idx) => unaryOnce(urls[idx], request, once));
      } catch (e) {
        tried++;
        const retry = e instanceof GrpcError && mayRetryElsewhere(e, opts) && tried < urls.length;
        if (!retry) throw e;
        this.#pinned = (this.#pinned + 1) % urls.length;
      }
    }
  }

  #onceOptions(path: string, opts: CallOptions, deadline: number | undefined): OnceOptions {
    return {
      path,
      metadata: this.#metadata(opts),
      deadline,
      signal: opts.signal,
      dialTimeoutMs: this.#opts.dialTimeoutMs ?? 2000,
    };
  }

  // Runs `attempt` on the first endpoint that accepts it, starting at the pinned one; a local
  // failure (nothing was sent) moves on to the next, round after round until the deadline.
  async #firstReachable<T>(
    opts: CallOptions,
    deadline: number | undefined,
    attempt: (idx: number) => Promise<T>,
  ): Promise<T> {
    const n = this.#channels.length;
    let lastError: GrpcError | undefined;
    for (let round = 0;; round++) {
      for (let i = 0; i < n; i++) {
        const idx = (this.#pinned + i) % n;
        if (opts.signal?.aborted) throw new GrpcError(Code.Canceled, "context canceled", { local: true });
        if (deadline !== undefined && Date.now() >= deadline) {
          throw new GrpcError(Code.DeadlineExceeded, "context deadline exceeded", { local: true });
        }
        try {
          const result = await attempt(idx);
          this.#pinned = idx;
          return result;
        } catch (e) {
          if (!(e instanceof GrpcError && e.local)) throw e;
          lastError = e;
        }
      }
      // Without a deadline, one round decides; with one, keep trying like clientv3 does.
      if (deadline === undefined) throw lastError!;
      const wait = Math.min(
        retryBackoffMs[Math.min(round, retryBackoffMs.length - 1)],
        deadline - Date.now(),
      );
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }
}

const AUTHENTICATE = "/etcdserverpb.Auth/Authenticate";

/** clientv3's attempts per unary call (defaultUnaryMaxRetries). */
const AUTH_RETRY_ATTEMPTS = 100;

/** clientv3's pause between attempts: 25 ms, up to 10% more (never past the deadline). */
async function retryPause(msLeft: number | undefined): Promise<void> {
  const ms = Math.min(25 * (1 + Math.random() * 0.1), msLeft ?? Infinity);
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
}

/** Milliseconds to `deadline` (undefined without one); a deadline that passed is an error. */
function timeLeft(deadline: number | undefined): number | undefined {
  if (deadline === undefined) return undefined;
  const ms = deadline - Date.now();
  if (ms <= 0) throw new GrpcError(Code.DeadlineExceeded, "context deadline exceeded", { local: true });
  return ms;
}

class TypedStream<I extends DescMessage, O extends DescMessage>
  implements BidiStream<MessageInitShape<I>, MessageShape<O>> {
  readonly #method: DescMethod & { input: I; output: O };
  readonly #opened: Promise<{ call: RawCall; error?: undefined } | { error: GrpcError; call?: undefined }>;
  readonly status: Promise<GrpcError | undefined>;
  #cancelled = false;

  constructor(
    method: DescMethod & { input: I; output: O },
    opened: Promise<{ call: RawCall; error?: undefined } | { error: GrpcError; call?: undefined }>,
  ) {
    this.#method = method;
    this.#opened = opened;
    this.status = opened.then((o) => (o.call ? o.call.status : o.error));
  }

  async send(message: MessageInitShape<I>): Promise<void> {
    const o = await this.#opened;
    if (!o.call) throw o.error;
    const { create, toBinary } = await protobufRuntime();
    await o.call.send(toBinary(this.#method.input, create(this.#method.input, message as never)));
  }

  closeSend(): void {
    this.#opened.then((o) => o.call?.closeSend());
  }

  cancel(): void {
    this.#cancelled = true;
    this.#opened.then((o) => o.call?.cancel());
  }

  async read(): Promise<MessageShape<O> | undefined> {
    const o = await this.#opened;
    if (!o.call) throw o.error;
    const bytes = await o.call.read();
    if (bytes !== undefined) {
      return (await protobufRuntime()).fromBinary(this.#method.output, bytes) as MessageShape<O>;
    }
    const err = await o.call.status;
    if (err && !(this.#cancelled && err.code === Code.Canceled)) throw err;
    return undefined;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<MessageShape<O>> {
    for (;;) {
      const m = await this.read();
      if (m === undefined) return;
      yield m;
    }
  }
}
