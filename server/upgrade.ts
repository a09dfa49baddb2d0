/**
 * HTTP/1.1 requests with an `Upgrade` header on the client port.
 *
 * etcd 3.4 wraps its gateway (/v3/, and /v3beta/ after its rewrite) in
 * grpc-websocket-proxy: a WebSocket there is one gateway call whose request body is the
 * client's messages, each followed by a newline, and whose response lines come back as
 * text messages; when the call ends the proxy drops the connection without a close frame.
 * The token comes from a `Sec-WebSocket-Protocol: Bearer, <token>` offer or a `token`
 * cookie, as `Authorization: Bearer <token>`.
 *
 * Any other upgrade (curl --http2's h2c offer, a WebSocket elsewhere) is answered as the
 * plain HTTP/1.1 request it also is, as Go's server does. (Bun's node:http hands every
 * request with an Upgrade header to 'upgrade' once anyone listens, body included.)
 */
import * as http from "node:http";
import type * as net from "node:net";
import type { Duplex } from "node:stream";
import type { WebSocket, WebSocketServer } from "ws";
import type { FetchHandler } from "./h2-fetch.ts";
import { type BodySource, requestBody } from "./request_body.ts";

type RequestListener = (req: http.IncomingMessage, res: http.ServerResponse) => void;
export type UpgradeListener = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;

/** The paths grpc-websocket-proxy wraps in etcd. */
const PROXIED = /^\/v3(beta)?\//;
const NEWLINE = new Uint8Array([0x0a]);
/** WebSocket.OPEN: the readyState of a connection whose messages are still wanted. */
const WEBSOCKET_OPEN = 1;
/** How long a refused request's connection stays for the client to read the answer. */
const REFUSED_LINGER_MS = 1000;
const TOO_LARGE = "HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/**
 * The 'upgrade' listener for the HTTP/1.1 server whose requests `onRequest` serves. A
 * request served as plain HTTP/1.1 has its body buffered here: one declaring more than
 * `maxBodyBytes` is refused (413) before any of it is read.
 */
export function upgradeListener(
  fetch: FetchHandler,
  onRequest: RequestListener,
  maxBodyBytes: number,
): UpgradeListener {
  let server: Promise<WebSocketServer> | null = null;
  return (req, socket, head) => {
    socket.on("error", ignore);
    const path = (req.url ?? "/").split("?")[0];
    if (req.headers.upgrade?.toLowerCase() !== "websocket" || !PROXIED.test(path)) {
      serveAsHttp1(req, socket, head, onRequest, maxBodyBytes);
      return;
    }
    // Loaded on first use: most servers never see a WebSocket.
    server ??= import("ws").then(({ WebSocketServer }) =>
      new WebSocketServer({
        noServer: true,
        // grpc-websocket-proxy answers "Bearer" when the offer starts with it, else nothing.
        handleProtocols: (_offered: Set<string>, r: http.IncomingMessage) =>
          String(r.headers["sec-websocket-protocol"] ?? "").startsWith("Bearer") ? "Bearer" : false,
      })
    );
    // Once the connection is gone, what it sent and nobody read is dropped: ws would parse
    // all of it at 'close' and emit every message in one go (a client that sent without
    // reading leaves MBs: 150,000 messages, 0.1-0.25 s with every other client waiting),
    // for a call that is over.
    socket.prependListener("close", () => dropUnread(socket));
    server.then((wss) => wss.handleUpgrade(req, socket, head, (ws) => bridge(ws, req, fetch)));
  };
}

/** Runs the gateway call a WebSocket stands for. */
function bridge(ws: WebSocket, req: http.IncomingMessage, fetch: FetchHandler): void {
  ws.on("error", ignore);
  const hungUp = new AbortController();
  ws.on("close", () => hungUp.abort());
  // The messages, each and a newline, read no further ahead than the call (the socket
  // pauses), so a client that sends without reading answers is pushed back.
  const body = requestBody(messagesOf(ws));
  const scheme = (req.socket as net.Socket & { encrypted?: boolean }).encrypted ? "https" : "http";
  const request = new Request(`${scheme}://${req.headers.host ?? "localhost"}${req.url ?? "/"}`, {
    method: "POST", // the proxy's request mutator in etcd: streams are POSTs
    headers: proxiedHeaders(req),
    body,
    signal: hungUp.signal,
    duplex: "half",
  } as RequestInit);
  (async () => {
    try {
      // Only the connection (TLS or not, for the host check): the call's body is the
      // socket's messages, not the upgrade request's, so the gateway must not read `req`.
      const res = await fetch(request, { incoming: { socket: req.socket } });
      if (res.body !== null) await sendLines(res.body, ws, hungUp.signal);
    } catch {
      // the call failed or the socket went away: the connection just ends, as in etcd
    }
    ws.terminate();
  })();
}

/**
 * A WebSocket's messages as a body source, each followed by a newline. The messages of one
 * socket read go as one chunk: Bun emits all of them at once, pausing or not (26,000
 * keep-alives per 512 KiB read), and as two chunks each they took 26-39 ms to queue and
 * 86-98 ms more to read back, every other client waiting meanwhile (as one: 10-12 ms).
 */
function messagesOf(ws: WebSocket): BodySource {
  let batch: Uint8Array[] = [];
  let deliver: (chunk: Uint8Array) => void = ignore;
  const flush = () => {
    if (batch.length === 0) return;
    const chunk = Buffer.concat(batch);
    batch = [];
    deliver(chunk);
  };
  return {
    on(event: "data" | "end" | "close", listener: (chunk: Uint8Array) => void) {
      if (event === "close") {
        ws.on("close", () => {
          flush();
          (listener as () => void)();
        });
      } else if (event === "data") {
        deliver = listener;
        ws.on("message", (data: Buffer | ArrayBuffer | Buffer[]) => {
          // Messages parsed while the connection closes are for a call that is over.
          if (ws.readyState !== WEBSOCKET_OPEN) return;
          if (batch.length === 0) queueMicrotask(flush);
          batch.push(bytesOf(data), NEWLINE);
        });
      }
    },
    pause: () => ws.pause(),
    resume: () => ws.resume(),
  };
}

/** Reads and drops whatever `socket` has buffered. */
function dropUnread(socket: Duplex): void {
  while (socket.read() !== null) { /* dropped */ }
}

/** grpc-websocket-proxy forwards only Origin and Referer, and makes the token a bearer. */
function proxiedHeaders(req: http.IncomingMessage): Headers {
  const out = new Headers();
  for (const name of ["origin", "referer"]) {
    const v = req.headers[name];
    if (typeof v === "string") out.set(name, v);
  }
  const offer = req.headers["sec-websocket-protocol"];
  const bearer = typeof offer === "string" ? /Bearer,(.*)$/s.exec(offer) : null;
  if (bearer !== null) out.set("authorization", `Bearer ${bearer[1].trim()}`);
  const cookie = /(?:^|;\s*)token=([^;]*)/.exec(String(req.headers.cookie ?? ""));
  if (cookie !== null) out.set("authorization", `Bearer ${cookie[1]}`);
  return out;
}

/** Each non-empty line of `body` as one text message, waiting for each to be written. */
async function sendLines(
  body: ReadableStream<Uint8Array>,
  ws: WebSocket,
  hungUp: AbortSignal,
): Promise<void> {
  const dec = new TextDecoder();
  let buf = "";
  const send = (line: string) =>
    line === "" ? Promise.resolve() : new Promise<void>((resolve) => ws.send(line, () => resolve()));
  for await (const chunk of body) {
    if (hungUp.aborted) return;
    buf += dec.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      await send(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  }
  await send(buf);
}

/**
 * Serves an upgrade request as an ordinary one on its socket, then closes the connection
 * (the parser gave the socket up). Its body is what came with the head, plus whatever
 * `Content-Length` says is still to come.
 */
function serveAsHttp1(
  req: http.IncomingMessage,
  socket: Duplex,
  head: Buffer,
  onRequest: RequestListener,
  maxBodyBytes: number,
): void {
  const length = Number(req.headers["content-length"] ?? 0) || 0;
  if (length > maxBodyBytes) {
    // The rest of the body is never read; a client that does not close goes after a moment.
    socket.end(TOO_LARGE);
    setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref?.();
    return;
  }
  const chunks = [head];
  let have = head.length;
  const serve = () => {
    socket.off("data", more);
    // @hono/node-server takes a buffered body from here instead of reading the request.
    (req as { rawBody?: Buffer }).rawBody = Buffer.concat(chunks).subarray(0, length);
    const res = new http.ServerResponse(req);
    res.assignSocket(socket as net.Socket);
    res.shouldKeepAlive = false;
    res.on("finish", () => socket.end());
    onRequest(req, res);
  };
  const more = (chunk: Buffer) => {
    chunks.push(chunk);
    have += chunk.length;
    if (have >= length) serve();
  };
  if (have >= length) serve();
  else socket.on("data", more);
}

function bytesOf(data: Buffer | ArrayBuffer | Buffer[]): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data);
}

function ignore(): void {}
