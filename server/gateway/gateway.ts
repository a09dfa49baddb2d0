/**
 * The JSON gateway on the client port: every HTTP route of etcd's gateway calls the same
 * in-process handler a gRPC call reaches (`GrpcServer.callUnary` / `callStreaming`), so
 * validation, auth and metrics behave the same whichever way a request comes in.
 */
import type { Context, Hono } from "hono";
import type { DescMessage } from "@bufbuild/protobuf";
import { Code, type EtcdError, etcdError, isEtcdError } from "../../api/errors.ts";
import {
  type CallContext,
  type GrpcServer,
  MAX_QUEUED_REQUESTS,
  type MethodInfo,
  type StreamSink,
} from "../grpc/server.ts";
import { AsyncQueue } from "../grpc/queue.ts";
import { GATEWAY_PREFIXES, grpcPathFor } from "./routes.ts";
import {
  decodeMessage,
  decodeValue,
  encodeError,
  encodeMessage,
  encodeStreamError,
  encodeStreamResult,
  httpStatusOf,
} from "./json.ts";
import { type BodyValue, JsonBody, maxJsonBytes } from "./body.ts";
import { frameErrorMessage } from "../../api/grpc-frame.ts";
import { type BodySource, requestBody } from "../request_body.ts";
import { yieldEvery } from "../turns.ts";

/**
 * The longest a stream's requests are handed to its call without the event loop getting
 * a turn. A read holds thousands of requests (Bun reads 512 KiB at a time: 35,000
 * keep-alives), and handling, answering and writing each is all promise callbacks, so
 * without a turn they ran in one go; a client that reads no answers is only pushed back
 * once the socket buffers hold ~4 MB of them, and every other client waited 0.3-0.9 s.
 */
const REQUESTS_TURN_MS = 5;

/** grpc-gateway forwards the gRPC response headers as Grpc-Metadata-*; etcd always has this one. */
const JSON_HEADERS = {
  "Content-Type": "application/json",
  "Grpc-Metadata-Content-Type": "application/grpc",
} as const;

/** Registers the gateway's routes (all prefixes) on `app`. */
export function gatewayRoutes(app: Hono, grpc: GrpcServer): void {
  const handle = (c: Context) => serveGateway(c, grpc);
  for (const prefix of GATEWAY_PREFIXES) app.all(`${prefix}*`, handle);
}

async function serveGateway(c: Context, grpc: GrpcServer): Promise<Response> {
  const grpcPath = grpcPathFor(c.req.path);
  if (grpcPath === null) return plain("Not Found\n", 404);
  if (c.req.method !== "POST") return plain("Method Not Allowed\n", 405);
  const info = grpc.method(grpcPath);
  const headers = jsonHeaders(c);
  if (isEtcdError(info)) return errorResponse(info, headers);
  const ctx = callContext(c, grpcPath);
  const maxBytes = maxJsonBytes(grpc.maxRecvMessageBytes);
  const declared = Number(c.req.header("content-length") ?? 0);
  if (info.kind === "unary" && declared > maxBytes) {
    // Refused before any of it is read: one value is all a unary call takes.
    const tooLarge = frameErrorMessage({ frameError: "too-large", size: declared, max: maxBytes });
    return errorResponse(etcdError(Code.ResourceExhausted, tooLarge), headers);
  }
  const body = new JsonBody(bodyOf(c), maxBytes);
  if (info.kind === "unary") {
    const req = await firstMessage(info.input, body, Code.InvalidArgument);
    if (isEtcdError(req)) return errorResponse(req, headers);
    const res = await grpc.callUnary(grpcPath, req, ctx);
    if (isEtcdError(res)) return errorResponse(res, headers);
    return new Response(encodeMessage(info.output, res), { status: 200, headers });
  }
  let input: unknown;
  if (info.kind === "server_streaming") {
    input = await firstMessage(info.input, body, Code.InvalidArgument);
    if (isEtcdError(input)) return errorResponse(input, headers);
  } else {
    // grpc-gateway decodes the first request before it answers: a bad one is a plain
    // error (code Unknown); later bad ones just end the requests.
    const head = await body.next();
    if ("error" in head) return errorResponse(etcdError(head.code ?? Code.Unknown, head.error), headers);
    input = requestStream(head, body, info);
  }
  return await streamResponse(
    info.output,
    { ctx, headers },
    (out) => grpc.callStreaming(grpcPath, input, out, ctx),
  );
}

/**
 * The request body. Over HTTP/1.1 it is read from the request itself (`c.env.incoming`
 * from @hono/node-server), pausing it when the call does not keep up; elsewhere (HTTP/2,
 * a WebSocket) the Request's body already pushes back.
 */
function bodyOf(c: Context): ReadableStream<Uint8Array> | null {
  const incoming = (c.env as { incoming?: IncomingBody } | undefined)?.incoming;
  // An upgrade request served as HTTP/1.1 (server/upgrade.ts) comes with its body read.
  if (incoming === undefined || typeof incoming.pause !== "function" || incoming.rawBody !== undefined) {
    return c.req.raw.body;
  }
  const socket = incoming.socket;
  // Bun's IncomingMessage may keep reading its socket while paused: pause the socket too
  // (HTTP/1.1 has one request at a time on it).
  return requestBody({
    on: incoming.on.bind(incoming),
    pause: () => {
      incoming.pause();
      socket?.pause();
    },
    resume: () => {
      incoming.resume();
      socket?.resume();
    },
  });
}

/** What the gateway takes from @hono/node-server's `incoming` (node:http's IncomingMessage). */
type IncomingBody = BodySource & {
  readonly rawBody?: unknown;
  readonly socket?: { pause(): unknown; resume(): unknown };
};

/** The first value of the body as a request message; an empty body is the empty message. */
async function firstMessage(
  schema: DescMessage,
  body: JsonBody,
  code: Exclude<Code, 0>,
): Promise<unknown | EtcdError> {
  const head = await body.next();
  body.drain();
  if ("error" in head) return etcdError(head.code ?? code, head.error);
  return "end" in head ? decodeMessage(schema, "") : decodeValue(schema, head.value);
}

/**
 * etcd's gateway dials its own gRPC server; over TLS that server's HTTP handler adds its
 * CORS and Trailer headers to the gRPC response, and the gateway forwards them all.
 */
function jsonHeaders(c: Context): ResponseInit["headers"] {
  if (!c.req.url.startsWith("https:")) return JSON_HEADERS;
  return [
    ["Content-Type", "application/json"],
    ["Grpc-Metadata-Access-Control-Allow-Headers", "accept, content-type, authorization"],
    ["Grpc-Metadata-Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE"],
    ["Grpc-Metadata-Access-Control-Allow-Origin", "*"],
    ["Grpc-Metadata-Content-Type", "application/grpc"],
    ["Grpc-Metadata-Trailer", "Grpc-Status"],
    ["Grpc-Metadata-Trailer", "Grpc-Message"],
    ["Grpc-Metadata-Trailer", "Grpc-Status-Details-Bin"],
  ];
}

/** The gRPC call context of an HTTP request: the bearer of `Authorization` is the auth token. */
function callContext(c: Context, path: string): CallContext & { readonly abort: () => void } {
  const ac = new AbortController();
  const reqSignal = c.req.raw.signal;
  if (reqSignal.aborted) ac.abort();
  else reqSignal.addEventListener("abort", () => ac.abort(), { once: true });
  const headers: Record<string, string> = {};
  const token = c.req.header("authorization");
  // etcd reads the token from gRPC metadata "token", or "authorization" as the gateway sends it.
  if (token !== undefined) {
    headers.token = token;
    headers.authorization = token;
  }
  return { path, headers, signal: ac.signal, abort: () => ac.abort() };
}

/** The request messages of a client/bidi stream: `head`, then the body's values as they arrive. */
function requestStream(head: BodyValue, body: JsonBody, info: MethodInfo): AsyncQueue<unknown> {
  const queue = new AsyncQueue<unknown>({ highWater: MAX_QUEUED_REQUESTS });
  (async () => {
    const turn = yieldEvery(REQUESTS_TURN_MS);
    for (let v = head; "value" in v; v = await body.next()) {
      const msg = decodeValue(info.input, v.value);
      // grpc-gateway stops sending on a bad request and leaves the stream open.
      if (isEtcdError(msg)) break;
      queue.push(msg);
      // A handler that is not keeping up (its client reads no responses) stops the body
      // being read, as a gRPC call stops reading its stream.
      if (queue.full) await queue.room();
      const wait = turn();
      if (wait !== null) await wait;
    }
    body.drain();
    queue.end();
  })();
  return queue;
}

/**
 * Streams a call's responses as newline-delimited JSON. The status line waits for the
 * first response or the end, so an error before any response gets its HTTP status.
 */
function streamResponse(
  output: DescMessage,
  call: {
    readonly ctx: CallContext & { readonly abort: () => void };
    readonly headers: ResponseInit["headers"];
  },
  run: (out: StreamSink<unknown>) => Promise<EtcdError | void>,
): Promise<Response> {
  const { ctx, headers } = call;
  const enc = new TextEncoder();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let closed = false;
  let wake: (() => void) | null = null;
  let started!: (r: Response) => void;
  const first = new Promise<Response>((resolve) => (started = resolve));
  const body = new ReadableStream<Uint8Array>({
    start: (c) => void (controller = c),
    pull: () => {
      const w = wake;
      wake = null;
      w?.();
    },
    cancel: () => {
      closed = true;
      ctx.abort();
      wake?.();
    },
  }, { highWaterMark: 16 });
  const respond = (status: number) => started(new Response(body, { status, headers }));
  const sink: StreamSink<unknown> = {
    send(msg) {
      if (closed) return false;
      controller.enqueue(enc.encode(encodeStreamResult(output, msg)));
      respond(200);
      return (controller.desiredSize ?? 1) > 0;
    },
    drained() {
      if (closed || (controller.desiredSize ?? 1) > 0) return Promise.resolve();
      return new Promise((resolve) => (wake = resolve));
    },
    get closed() {
      return closed || ctx.signal.aborted;
    },
  };
  run(sink).then(
    (err) => finish(err ?? null),
    (e) => finish(etcdError(Code.Internal, `etcdts: internal error: ${(e as Error)?.message ?? e}`)),
  );
  function finish(err: EtcdError | null): void {
    if (!closed) {
      if (err !== null) controller.enqueue(enc.encode(encodeStreamError(err)));
      closed = true;
      controller.close();
    }
    respond(err === null ? 200 : httpStatusOf(err.code));
  }
  return first;
}

function errorResponse(err: EtcdError, headers: ResponseInit["headers"]): Response {
  return new Response(encodeError(err), { status: httpStatusOf(err.code), headers });
}

function plain(text: string, status: number): Response {
  return new Response(text, {
    status,
    headers: { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff" },
  });
}
