/**
 * Long-lived one-way message streams between members. A POST per batch of Raft messages
 * cost the leader about a fifth of its CPU in HTTP machinery (fetch, request parsing,
 * response writing); instead each member opens one connection to each peer, upgrades it
 * from HTTP (so the peer port, its TLS and the cluster-ID check stay as they are) and then
 * writes length-prefixed messages on it, like etcd's stream transport.
 */
import type * as net from "node:net";
import { type PeerClientTls, peerSocket } from "./peer_dial.ts";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { encodeFrames, FrameDecoder } from "../api/grpc-frame.ts";

/** The path and protocol name of the upgrade. */
export const STREAM_PATH = "/raft/stream";
const PROTOCOL = "etcdts-raft";
/** A peer that stopped reading: past this much unsent data the stream is given up. */
const MAX_BUFFERED = 64 * 1024 * 1024;

/** Why a stream closed: refused as a removed member, or any other failure. */
export type StreamEnd = "removed" | "failed";

/** The sending end of a stream to one peer. */
export class PeerStream {
  readonly #socket: net.Socket;
  #ready = false;
  #ended = false;
  readonly #onReady: () => void;
  readonly #onEnd: (why: StreamEnd) => void;

  /**
   * Dials `url` and asks to upgrade; `onReady` once messages may be written, `onEnd` once
   * (also when the upgrade is refused).
   */
  constructor(
    url: URL,
    opts: {
      clusterIdHex: string;
      fromHex: string;
      tls?: PeerClientTls;
      onReady: () => void;
      onEnd: (why: StreamEnd) => void;
    },
  ) {
    this.#onReady = opts.onReady;
    this.#onEnd = opts.onEnd;
    const hello = () =>
      this.#socket.write(
        `GET ${STREAM_PATH} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: Upgrade\r\nUpgrade: ${PROTOCOL}\r\n` +
          `X-Etcd-Cluster-ID: ${opts.clusterIdHex}\r\nX-Server-From: ${opts.fromHex}\r\n\r\n`,
      );
    this.#socket = peerSocket(url, opts.tls, hello);
    this.#socket.setNoDelay(true);
    let head = "";
    const onData = (d: Buffer) => {
      head += d.toString("latin1");
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) {
        if (head.length > 8192) this.#end("failed");
        return;
      }
      this.#socket.off("data", onData);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      if (status !== 101) return this.#end(status === 410 ? "removed" : "failed");
      this.#ready = true;
      // The peer never writes after the upgrade; anything more is a broken peer.
      this.#socket.on("data", () => this.#end("failed"));
      this.#onReady();
    };
    this.#socket.on("data", onData);
    this.#socket.on("error", () => this.#end("failed"));
    this.#socket.on("close", () => this.#end("failed"));
    this.#socket.setTimeout(10_000, () => {
      if (!this.#ready) this.#end("failed");
    });
  }

  get ready(): boolean {
    return this.#ready && !this.#ended;
  }

  /** Writes encoded messages as one chunk; false if the stream is not usable. */
  write(messages: readonly Uint8Array[]): boolean {
    if (!this.ready) return false;
    if (this.#socket.writableLength > MAX_BUFFERED) {
      this.#end("failed");
      return false;
    }
    this.#socket.write(encodeFrames(messages));
    return true;
  }

  close(): void {
    this.#ended = true;
    this.#socket.destroy();
  }

  #end(why: StreamEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#socket.destroy();
    this.#onEnd(why);
  }
}

/**
 * Serves an upgrade request on the peer port: checks the cluster and the sender, then
 * hands every message on the stream to `onMessage` until the connection ends.
 */
export function acceptPeerStream(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  opts: {
    clusterIdHex: string;
    isRemoved: (id: bigint) => boolean;
    onMessage: (bytes: Uint8Array) => boolean;
  },
): void {
  const refuse = (status: string) => {
    socket.end(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  };
  if (req.url !== STREAM_PATH || req.headers.upgrade !== PROTOCOL) return refuse("404 Not Found");
  if (req.headers["x-etcd-cluster-id"] !== opts.clusterIdHex) return refuse("412 Precondition Failed");
  const from = String(req.headers["x-server-from"] ?? "");
  if (/^[0-9a-f]{1,16}$/.test(from) && opts.isRemoved(BigInt(`0x${from}`))) return refuse("410 Gone");
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${PROTOCOL}\r\nConnection: Upgrade\r\n\r\n`);
  (socket as net.Socket).setNoDelay?.(true);
  const decoder = new FrameDecoder(512 * 1024 * 1024);
  const take = (chunk: Uint8Array) => {
    const msgs = decoder.push(chunk);
    if (!Array.isArray(msgs)) return socket.destroy();
    for (const m of msgs) if (!opts.onMessage(m)) return socket.destroy();
  };
  if (head.length > 0) take(head);
  socket.on("data", take);
  socket.on("error", () => socket.destroy());
}
