/**
 * The JSON gateway on the client port: every HTTP route of etcd's gateway calls the same
 * in-process handler a gRPC call reaches (`GrpcServer.callUnary` / `callStreaming`), so
 * validation, auth and metrics behave the same whichever way a request comes in.
 */
import type { Context, Hono } from "hono";
import type { DescMessage } from "@bufbuild/protobuf";
import { Code, type EtcdError, etcdError, isEtcdError } from "../../api/errors.ts";
import type { CallContext, GrpcServer, MethodInfo, StreamSink } from "../grpc/server.ts";
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
  JsonValueSplitter,
} from "./json.ts";

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
  if (c.req.method === "OPTIONS") return new Response(null, { status: 200 });
  if (c.req.method !== "POST") return plain("Method Not Allowed\n", 405);
  const info = grpc.method(grpcPath);
  if (isEtcdError(info)) return errorResponse(info);
  const ctx = callContext(c, grpcPath);
  if (info.kind === "unary") {
    const req = decodeMessage(info.input, await c.req.text());
    if (isEtcdError(req)) return errorResponse(req);
    const res = await grpc.callUnary(grpcPath, req, ctx);
    if (isEtcdError(res)) return errorResponse(res);
    return new Response(encodeMessage(info.output, res), { status: 200, headers: JSON_HEADERS });
  }
  let input: unknown;
  if (info.kind === "server_streaming") {
    input = decodeMessage(info.input, await c.req.text());
    if (isEtcdError(input)) return errorResponse(input);
  } else {
    input = requestStream(c.req.raw, info);
  }
  return await streamResponse(info.output, ctx, (out) => grpc.callStreaming(grpcPath, input, out, ctx));
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

/** The request messages of a client/bidi stream, parsed from the body as its bytes arrive. */
function requestStream(req: Request, info: MethodInfo): AsyncQueue<unknown> {
  const queue = new AsyncQueue<unknown>();
  const body = req.body;
  if (body === null) {
    queue.end();
    return queue;
  }
  (async () => {
    const splitter = new JsonValueSplitter();
    const decoder = new TextDecoder();
    try {
      for await (const chunk of body) {
        for (const v of splitter.push(decoder.decode(chunk, { stream: true }))) {
          const msg = decodeValue(info.input, v);
          // grpc-gateway stops sending on a bad request and leaves the stream open.
          if (isEtcdError(msg)) return;
          queue.push(msg);
        }
      }
    } catch {
      // a malformed body or a dropped connection ends the requests, as in grpc-gateway
    } finally {
      queue.end();
    }
  })();
  return queue;
}

/**
 * Streams a call's responses as newline-delimited JSON. The status line waits for the
 * first response or the end, so an error before any response gets its HTTP status.
 */
function streamResponse(
  output: DescMessage,
  ctx: CallContext & { readonly abort: () => void },
  run: (out: StreamSink<unknown>) => Promise<EtcdError | void>,
): Promise<Response> {
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
  const respond = (status: number) => started(new Response(body, { status, headers: JSON_HEADERS }));
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

function errorResponse(err: EtcdError): Response {
  return new Response(encodeError(err), { status: httpStatusOf(err.code), headers: JSON_HEADERS });
}

function plain(text: string, status: number): Response {
  return new Response(text, {
    status,
    headers: { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff" },
  });
}
