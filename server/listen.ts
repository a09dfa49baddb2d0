/**
 * Client-port listeners: gRPC (HTTP/2, h2c) and plain HTTP/1.1 share each port. The
 * first bytes of a connection decide: the HTTP/2 preface goes to our HTTP/2 layer
 * (server/h2/), anything else to the HTTP/1.1 app (which answers garbage with 400 and
 * closes). With TLS, ALPN decides.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as tls from "node:tls";
import { getRequestListener } from "@hono/node-server";
import { CLIENT_PREFACE } from "../h2/frame.ts";
import { H2Connection } from "./h2/connection.ts";
import type { H2Stream } from "./h2/stream.ts";
import type { KeepaliveSettings } from "./h2/keepalive.ts";
import { upgradeListener } from "./upgrade.ts";
import { refuseCertificates, type ServerTls } from "./tls.ts";

export interface ClientListenerOptions {
  readonly onStream: (stream: H2Stream) => void;
  readonly fetch: (req: Request) => Response | Promise<Response>;
  readonly maxConcurrentStreams: number;
  /** gRPC keepalive for every HTTP/2 connection (server/h2/keepalive.ts). */
  readonly keepalive?: KeepaliveSettings;
  /** The largest HTTP/1.1 request body buffered whole (an upgrade request served as plain HTTP/1.1). */
  readonly maxBodyBytes: number;
  /** For https:// URLs (server/tls.ts): ALPN picks gRPC (h2) or HTTP/1.1 instead of sniffing. */
  readonly tls?: ServerTls | null;
  /**
   * Connections are accepted at once but served only once this resolves: as etcd does, a
   * member answers nothing (not even /health) before it has published itself to the cluster.
   */
  readonly ready?: Promise<void>;
}

export interface Listening {
  readonly url: URL;
  close(): Promise<void>;
}

/** The start of HTTP/2's client preface, enough to tell it from an HTTP/1.1 request line. */
const PREFACE = CLIENT_PREFACE.subarray(0, "PRI * HTTP/2.0".length);

function ignore(): void {}

/** A URL's host as `listen()` takes it: localhost as IPv4 loopback, an IPv6 address without brackets. */
export function bindHost(url: URL): string {
  return url.hostname === "localhost" ? "127.0.0.1" : url.hostname.replace(/^\[|\]$/g, "");
}

/** Whether a listen URL serves TLS: https://, or a unix socket as unixs://. */
export function isSecure(url: URL): boolean {
  return url.protocol === "https:" || url.protocol === "unixs:";
}

/**
 * Where a listen URL binds: a TCP host and port, or for unix:// and unixs:// the socket
 * file etcd names by it: `unix://host:port` is a file called `host:port` in the working
 * directory, `unix:///abs/path` that path. etcd's client listeners take host and path
 * (embed/etcd.go), its peer listeners the host alone (pkg/transport/listener.go).
 */
export function bindAddress(
  url: URL,
  opts: { defaultPort: number; side: "client" | "peer" },
): { path: string } | { host: string; port: number } {
  if (url.protocol === "unix:" || url.protocol === "unixs:") {
    return { path: opts.side === "client" ? url.host + url.pathname : url.host };
  }
  return { host: bindHost(url), port: Number(url.port || opts.defaultPort) };
}

/** How etcd's logs name a listener's address: host:port, or a unix socket's file. */
export function listenAddress(url: URL, side: "client" | "peer"): string {
  const at = bindAddress(url, { defaultPort: 0, side });
  return "path" in at ? at.path : url.host;
}

/**
 * Binds `server` where `url` says; resolves with the URL it listens on, whose port is the
 * one the system chose when the URL asked for port 0 (as etcd's logs name it). A unix
 * socket's file is removed when the server closes, as Go's listener does.
 */
export function bind(
  server: net.Server,
  url: URL,
  opts: { defaultPort: number; side: "client" | "peer" },
): Promise<URL> {
  const at = bindAddress(url, opts);
  if ("path" in at) {
    // etcd's peer listener replaces a stale socket file; its client listener does not.
    if (opts.side === "peer") fs.rmSync(at.path, { force: true });
    server.once("close", () => fs.rmSync(at.path, { force: true }));
  }
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    const done = () => {
      server.off("error", reject);
      const bound = new URL(url.href);
      if ("port" in at && at.port === 0) bound.port = String((server.address() as net.AddressInfo).port);
      resolve(bound);
    };
    if ("path" in at) server.listen(at.path, done);
    else server.listen(at.port, at.host, done);
  });
}

/** Starts serving on `url` (http(s):// or unix(s)://); resolves once bound. */

export function listenClient(url: URL, opts: ClientListenerOptions): Promise<Listening> {
  const h2Conns = new Set<H2Connection>();
  const serveH2 = (socket: net.Socket, initial?: Buffer) => {
    const conn = new H2Connection(socket, {
      maxConcurrentStreams: opts.maxConcurrentStreams,
      onStream: opts.onStream,
      initial,
      keepalive: opts.keepalive,
    });
    h2Conns.add(conn);
    socket.on("close", () => h2Conns.delete(conn));
  };
  const onRequest = getRequestListener(opts.fetch);
  const h1 = http.createServer(onRequest);
  h1.on("upgrade", upgradeListener(opts.fetch, onRequest, opts.maxBodyBytes)); // WebSocket gateway calls, h2c offers
  h1.on("clientError", (_err, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\n\r\n");
    else socket.destroy();
  });
  const sockets = new Set<net.Socket>();
  // Until ready, a connection's bytes wait in the kernel and its socket's buffers (nothing reads them).
  let isReady = opts.ready === undefined;
  opts.ready?.then(() => (isReady = true));
  const whenReady = (socket: net.Socket, serve: () => void) => {
    if (isReady) serve();
    else opts.ready!.then(() => socket.destroyed || serve());
  };
  const onTls = (socket: tls.TLSSocket) => {
    if (socket.destroyed) return; // refused by refuseCertificates
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", ignore);
    socket.setNoDelay(true);
    whenReady(socket, () => {
      if (socket.alpnProtocol === "h2") serveH2(socket);
      else h1.emit("connection", socket);
    });
  };
  if (isSecure(url) && !opts.tls) {
    return Promise.reject(new Error(`${url.href}: https needs --cert-file and --key-file, or --auto-tls`));
  }
  const tcp = isSecure(url) ? tls.createServer(opts.tls!, onTls) : net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", ignore);
    socket.setNoDelay(true);
    let head: Buffer = Buffer.alloc(0);
    const sniff = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const n = Math.min(head.length, PREFACE.length);
      const isH2 = head.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (isH2 && head.length < PREFACE.length) return; // need more bytes to decide
      socket.off("data", sniff);
      // Our HTTP/2 layer takes the bytes read so far as they are; node:http wants them back.
      if (isH2) serveH2(socket, head);
      else {
        socket.pause();
        socket.unshift(head);
        h1.emit("connection", socket);
        socket.resume();
      }
    };
    whenReady(socket, () => socket.on("data", sniff));
  });
  if (tcp instanceof tls.Server) refuseCertificates(tcp, opts.tls!);
  // A failed handshake (untrusted or revoked client certificate) only ends that connection.
  tcp.on("tlsClientError", ignore);
  return bind(tcp, url, { defaultPort: 2379, side: "client" }).then((bound) => ({
    url: bound,
    close: () =>
      new Promise<void>((done) => {
        tcp.close(() => done());
        for (const c of h2Conns) c.close();
        for (const s of sockets) s.destroy();
        h1.close();
      }),
  }));
}
