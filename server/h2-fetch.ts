/**
 * Serves one HTTP/2 request stream with a fetch handler (hono's `app.fetch`): the JSON
 * gateway, probes, /metrics and /ui answer over h2c and TLS h2 exactly as over HTTP/1.1.
 *
 * It touches only the stream members every HTTP/2 server offers (`respond`, `write`,
 * `end`, `on('data'|'end'|'close'|'drain')`, `destroyed`/`closed`) and the request's
 * header object, so it does not care whose HTTP/2 layer it runs on. Response bodies are
 * streamed with backpressure (a /v3/watch answer never ends on its own); a stream the
 * client resets aborts the request's signal, which cancels the call behind it.
 */

import { requestBody } from "./request_body.ts";

/** The part of an HTTP/2 server stream this needs. */
export interface H2ServerStream {
  respond(headers: Record<string, string | number | string[]>): void;
  write(chunk: Uint8Array): boolean;
  end(chunk?: Uint8Array): void;
  on(event: "data", listener: (chunk: Uint8Array) => void): unknown;
  on(event: "end" | "close" | "drain", listener: () => void): unknown;
  /** Stops and restarts handing on request bytes (flow control makes the client wait). */
  pause(): unknown;
  resume(): unknown;
  readonly destroyed: boolean;
  readonly closed: boolean;
}

/** Request headers as HTTP/2 servers hand them over: pseudo-headers plus lower-case fields. */
export type H2RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/**
 * `env` is what @hono/node-server hands a handler: `incoming.socket` is the connection's
 * socket (its `encrypted` says TLS, which etcd's DNS-rebinding check trusts).
 */
export type FetchHandler = (req: Request, env?: FetchEnv) => Response | Promise<Response>;

/** The connection a request came on. */
export interface FetchEnv {
  readonly incoming: { readonly socket: unknown };
}

/** Header fields HTTP/2 forbids (RFC 9113 §8.2.2); a fetch handler may still set them. */
const CONNECTION_SPECIFIC = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);

/** Answers `stream` with what `fetch` makes of its request; never throws. */
export async function serveH2Fetch(
  stream: H2ServerStream,
  headers: H2RequestHeaders,
  fetch: FetchHandler,
  env?: FetchEnv,
): Promise<void> {
  const aborted = new AbortController();
  let finished = false;
  stream.on("close", () => {
    if (!finished) aborted.abort();
  });
  const method = first(headers[":method"]) ?? "GET";
  let response: Response;
  try {
    response = await fetch(requestOf(stream, headers, method, aborted.signal), env);
  } catch (e) {
    response = new Response(`internal error: ${(e as Error)?.message ?? e}\n`, { status: 500 });
  }
  if (stream.destroyed || stream.closed) {
    await response.body?.cancel().catch(ignore);
    return;
  }
  stream.respond(responseHeaders(response));
  const body = method === "HEAD" ? null : response.body;
  if (body === null) {
    await response.body?.cancel().catch(ignore);
    finished = true;
    stream.end();
    return;
  }
  await pipeBody(body, stream, aborted.signal);
  finished = true;
}

function requestOf(
  stream: H2ServerStream,
  headers: H2RequestHeaders,
  method: string,
  signal: AbortSignal,
): Request {
  const scheme = first(headers[":scheme"]) ?? "http";
  const authority = first(headers[":authority"]) ?? first(headers.host) ?? "localhost";
  const url = `${scheme}://${authority}${first(headers[":path"]) ?? "/"}`;
  const fields = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(":") || value === undefined) continue;
    // HTTP/2 may split cookies into several fields; one header joins them with "; ".
    if (Array.isArray(value)) fields.set(name, value.join(name === "cookie" ? "; " : ", "));
    else fields.set(name, value);
  }
  if (!fields.has("host")) fields.set("host", authority);
  if (method === "GET" || method === "HEAD") {
    stream.on("data", ignore); // a body the method does not take is read and dropped
    return new Request(url, { method, headers: fields, signal });
  }
  return new Request(
    url,
    { method, headers: fields, signal, body: requestBody(stream), duplex: "half" } as RequestInit,
  );
}

function responseHeaders(response: Response): Record<string, string | number | string[]> {
  const out: Record<string, string | number | string[]> = { ":status": response.status };
  for (const [name, value] of response.headers) {
    if (CONNECTION_SPECIFIC.has(name)) continue;
    const had = out[name];
    if (had === undefined) out[name] = value;
    else out[name] = Array.isArray(had) ? [...had, value] : [String(had), value];
  }
  return out;
}

/** Copies `body` to the stream, waiting for 'drain' when the stream's buffer is full. */
async function pipeBody(
  body: ReadableStream<Uint8Array>,
  stream: H2ServerStream,
  closed: AbortSignal,
): Promise<void> {
  const reader = body.getReader();
  let wake: (() => void) | null = null;
  const resume = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  stream.on("drain", resume);
  closed.addEventListener("abort", () => {
    resume();
    reader.cancel().catch(ignore);
  }, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (closed.aborted) return;
      if (done) break;
      if (!stream.write(value)) await new Promise<void>((r) => (wake = r));
      if (closed.aborted) return;
    }
    stream.end();
  } catch {
    // the body failed midway: end what was sent, as a dropped upstream would
    if (!stream.destroyed) stream.end();
  }
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function ignore(): void {}
