/**
 * The peer transport: Raft messages between members on --listen-peer-urls.
 *
 * Messages to a peer go on one long-lived stream (peer-stream.ts), written in batches as
 * Raft hands them out. A failed stream is reported to Raft as unreachable and its queued
 * messages are dropped — Raft retries on its own schedule, which is what makes dropping
 * safe — and is redialled after a short pause. Snapshots, the membership for joining
 * members and lease forwarding use plain HTTP on the same port. Every connection carries
 * the cluster ID; a member of another cluster is refused (etcd answers 412 the same way),
 * a removed member 410.
 */
import { bind, isSecure } from "./listen.ts";
import { type PeerClientTls, peerFetch } from "./peer_dial.ts";
import { refuseCertificates, type ServerTls } from "./tls.ts";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as tls from "node:tls";
import type * as net from "node:net";
import type { Duplex } from "node:stream";
import { acceptPeerStream, PeerStream } from "./peer-stream.ts";
import * as path from "node:path";
import { getRequestListener } from "@hono/node-server";
import { Hono } from "hono";
import { decodeMessage, encodeMessage, type Message, MessageType } from "../raft/mod.ts";
import { log } from "./log.ts";
import { idHex } from "./ids.ts";
import type { MemberRecord } from "../store/mvcc.ts";

const CLUSTER_HEADER = "X-Etcd-Cluster-ID";
/** The sender's member ID (etcd sends the same header). */
const FROM_HEADER = "X-Server-From";
/** MsgSnap with a copy of the store as the body; the message itself rides in a header. */
const SNAPSHOT_PATH = "/raft/snapshot";
const SNAPSHOT_MESSAGE_HEADER = "X-Etcdts-Raft-Message";
/** The membership, for a member joining with --initial-cluster-state existing. */
export const MEMBERS_PATH = "/members";

/** A handler of an extra POST route on the peer port: request body in, response out. */
/** A POST handler on the peer port: the body and the request's path (for `:param` routes). */
export type PeerRoute = (body: Uint8Array, path: string) => Promise<Response>;

export interface PeerTransportOptions {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  /** Peer URLs by member ID (this member's own entry is ignored). */
  readonly peers: ReadonlyMap<bigint, readonly string[]>;
  readonly onMessage: (m: Message) => void;
  readonly onUnreachable: (id: bigint) => void;
  /** The current membership, served to joining members. */
  readonly members?: () => readonly MemberRecord[];
  /** Whether `id` was removed from the cluster: its messages are refused with 410 Gone. */
  readonly isRemoved?: (id: bigint) => boolean;
  /** A peer answered 410 Gone: this member was removed from the cluster. */
  readonly onRemoved?: () => void;
  /** A MsgSnap arrived with its store copy, saved at `dbFile`. */
  readonly onSnapshot?: (m: Message, dbFile: string) => void;
  /** Where received store copies are written. */
  readonly snapDir?: string;
  /** Peer TLS (--peer-cert-file ...): the listener's options and what this member presents to peers. */
  readonly tls?: PeerTls;
}

/** Both halves of peer TLS: serving https and dialling peers with this member's certificate. */
export interface PeerTls {
  readonly server: ServerTls;
  /** Our certificate as client certificate, the CA to check peers with. */
  readonly client: PeerClientTls;
}

interface Outbox {
  readonly urls: readonly string[];
  queue: Uint8Array[];
  /** The open (or opening) message stream to this peer. */
  stream: PeerStream | null;
  /** After a failure, skip sending until this time (the peer is probably down). */
  retryAt: number;
  nextUrl: number;
}

/** Sends and receives Raft messages between members. */
export class PeerTransport {
  readonly #opts: PeerTransportOptions;
  readonly #outboxes = new Map<bigint, Outbox>();
  /** What listens: an HTTP(S) server, or the TLS front of a filtered one. */
  readonly #servers: net.Server[] = [];
  readonly #routes = new Map<string, PeerRoute>();
  /** Incoming message streams, closed with the transport. */
  readonly #incoming = new Set<Duplex>();
  #closed = false;
  /** When the last heartbeat to each peer left, for the round trip its answer closes. */
  readonly #heartbeatSent = new Map<bigint, number>();
  /** Told each heartbeat's round trip to `to` in seconds (etcd_network_peer_round_trip_time_seconds). */
  observeRoundTrip: ((to: bigint, seconds: number) => void) | undefined;

  constructor(opts: PeerTransportOptions) {
    this.#opts = opts;
    this.setPeers(opts.peers);
  }

  /** Follows a membership change: new peers get an outbox, removed ones lose theirs. */
  setPeers(peers: ReadonlyMap<bigint, readonly string[]>): void {
    for (const [id, box] of this.#outboxes) {
      if (peers.has(id)) continue;
      box.stream?.close();
      this.#outboxes.delete(id);
    }
    for (const [id, urls] of peers) {
      if (id === this.#opts.memberId || urls.length === 0) continue;
      const box = this.#outboxes.get(id);
      if (box === undefined) {
        this.#outboxes.set(id, { urls, queue: [], stream: null, retryAt: 0, nextUrl: 0 });
      } else if (box.urls.join(",") !== urls.join(",")) {
        box.stream?.close();
        this.#outboxes.set(id, { ...box, urls, stream: null });
      }
    }
  }

  /** The HTTP app for the peer port. */
  app(): Hono {
    const app = new Hono();
    const expected = idHex(this.#opts.clusterId);
    app.get(MEMBERS_PATH, (c) => {
      const members = (this.#opts.members?.() ?? []).map((m) => ({
        id: idHex(m.id),
        name: m.name,
        peerURLs: m.peerUrls,
        clientURLs: m.clientUrls,
        isLearner: m.isLearner,
      }));
      c.header(CLUSTER_HEADER, expected);
      return c.json(members);
    });
    let received = 0;
    app.post(SNAPSHOT_PATH, async (c) => {
      if (c.req.header(CLUSTER_HEADER) !== expected) return c.text("cluster ID mismatch", 412);
      const header = c.req.header(SNAPSHOT_MESSAGE_HEADER);
      const dir = this.#opts.snapDir;
      if (header === undefined || dir === undefined || this.#opts.onSnapshot === undefined) {
        return c.text("snapshot not accepted here", 400);
      }
      let m: Message;
      try {
        m = decodeMessage(Buffer.from(header, "base64"));
      } catch {
        return c.text("malformed raft message", 400);
      }
      const file = path.join(dir, `in-${m.snapshot?.metadata.index ?? 0}-${++received}.db`);
      const body = new Uint8Array(await c.req.arrayBuffer());
      const fd = fs.openSync(file, "w");
      try {
        fs.writeSync(fd, body);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      this.#opts.onSnapshot(m, file);
      return c.body(null, 204);
    });
    for (const [path, handler] of this.#routes) {
      app.post(path, async (c) => {
        if (c.req.header(CLUSTER_HEADER) !== expected) return c.text("cluster ID mismatch", 412);
        return await handler(new Uint8Array(await c.req.arrayBuffer()), c.req.path);
      });
    }
    return app;
  }

  /**
   * Adds a POST route beside /raft (lease keep-alives forwarded to the leader use
   * /leases, as in etcd). Register before `listen`.
   */
  route(path: string, handler: PeerRoute): void {
    this.#routes.set(path, handler);
  }

  /**
   * POSTs `body` to `path` on member `id`, trying its peer URLs in turn; null when none
   * answered (the caller decides whether to retry).
   */
  async post(id: bigint, path: string, body: Uint8Array, signal?: AbortSignal): Promise<Response | null> {
    const urls = this.#outboxes.get(id)?.urls ?? [];
    for (const u of urls) {
      try {
        return await this.#fetch(u + path, {
          method: "POST",
          body,
          headers: {
            [CLUSTER_HEADER]: idHex(this.#opts.clusterId),
            "Content-Type": "application/octet-stream",
          },
          signal: signal ?? AbortSignal.timeout(5000),
        });
      } catch {
        // try the next URL
      }
    }
    return null;
  }

  /** Serves the peer port on `url`; resolves with the URL bound (its real port if it asked for 0). */
  listen(url: URL): Promise<URL> {
    const listener = getRequestListener(this.app().fetch);
    const tlsOpts = this.#opts.tls?.server;
    const secure = isSecure(url);
    if (secure && tlsOpts === undefined) {
      return Promise.reject(
        new Error(`${url.href}: https peer URL without --peer-cert-file/--peer-auto-tls`),
      );
    }
    const filtered = secure && tlsOpts?.admits !== undefined;
    const server = secure && !filtered ? https.createServer(tlsOpts!, listener) : http.createServer(listener);
    // Bun's https sockets do not show the client's certificate, node:tls ones do: with a
    // certificate filter, a TLS server in front checks it after the handshake (etcd refuses
    // in the handshake) and hands what it admits to a plain HTTP server.
    const bound: net.Server = !filtered ? server : tls.createServer(tlsOpts!, (socket) => {
      if (socket.destroyed) return; // refused by refuseCertificates below
      this.#incoming.add(socket);
      socket.once("close", () => this.#incoming.delete(socket));
      server.emit("connection", socket);
    });
    if (bound instanceof https.Server || bound instanceof tls.Server) refuseCertificates(bound, tlsOpts!);
    server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      if (this.#closed) return socket.destroy();
      this.#incoming.add(socket);
      socket.once("close", () => this.#incoming.delete(socket));
      acceptPeerStream(req, socket, head, {
        clusterIdHex: idHex(this.#opts.clusterId),
        isRemoved: (id) => this.#opts.isRemoved?.(id) ?? false,
        onMessage: (bytes) => {
          let m: Message;
          try {
            m = decodeMessage(bytes);
          } catch {
            return false;
          }
          if (m.type === MessageType.MsgHeartbeatResp) this.#heartbeatAnswered(m.from);
          this.#opts.onMessage(m);
          return true;
        },
      });
    });
    server.keepAliveTimeout = 60_000;
    this.#servers.push(bound);
    return bind(bound, url, { defaultPort: 2380, side: "peer" });
  }

  /** fetch with this member's peer TLS settings for https peers. */
  #fetch(url: string, init: RequestInit): Promise<Response> {
    // Every request names its sender (tests' fault proxies cut links by it).
    init = {
      ...init,
      headers: { ...(init.headers as Record<string, string>), [FROM_HEADER]: idHex(this.#opts.memberId) },
    };
    return peerFetch(url, init, this.#opts.tls?.client);
  }

  /** Queues messages for their recipients; returns at once. */
  send(messages: readonly Message[]): void {
    if (this.#closed) return;
    const touched = new Set<bigint>();
    for (const m of messages) {
      const box = this.#outboxes.get(m.to);
      if (box === undefined) continue;
      box.queue.push(encodeMessage(m));
      touched.add(m.to);
      if (m.type === MessageType.MsgHeartbeat) this.#heartbeatSent.set(m.to, performance.now());
    }
    for (const id of touched) this.#flush(id);
  }

  #heartbeatAnswered(from: bigint): void {
    const sent = this.#heartbeatSent.get(from);
    if (sent === undefined) return;
    this.#heartbeatSent.delete(from);
    this.observeRoundTrip?.(from, (performance.now() - sent) / 1000);
  }

  #flush(id: bigint): void {
    const box = this.#outboxes.get(id);
    if (box === undefined || box.queue.length === 0) return;
    const stream = box.stream;
    if (stream?.ready) {
      stream.write(box.queue);
      box.queue = [];
      return;
    }
    if (stream !== null) {
      // Connecting: keep what Raft sent meanwhile, but not without bound.
      if (box.queue.length > 4096) {
        box.queue = [];
        this.#opts.onUnreachable(id);
      }
      return;
    }
    if (Date.now() < box.retryAt) {
      box.queue = [];
      this.#opts.onUnreachable(id);
      return;
    }
    this.#open(id, box);
  }

  /**
   * How many peers have an open stream (etcd's ActivePeers). Streams open on demand, so
   * this also dials every peer without one, outside its back-off after a failure: at
   * start, before any message is sent, this is how a member learns its peers are up.
   */
  activePeers(): number {
    if (this.#closed) return 0;
    let active = 0;
    for (const [id, box] of this.#outboxes) {
      if (box.stream?.ready) active++;
      else if (box.stream === null && Date.now() >= box.retryAt) this.#open(id, box);
    }
    return active;
  }

  /** Opens the message stream to `id`; what is queued leaves once it is ready. */
  #open(id: bigint, box: Outbox): void {
    const url = new URL(box.urls[box.nextUrl % box.urls.length]);
    box.stream = new PeerStream(url, {
      clusterIdHex: idHex(this.#opts.clusterId),
      fromHex: idHex(this.#opts.memberId),
      tls: url.protocol === "https:" ? this.#opts.tls?.client : undefined,
      onReady: () => this.#flush(id),
      onEnd: (why) => {
        if (this.#outboxes.get(id) === box) {
          box.stream = null;
          box.queue = [];
          box.retryAt = Date.now() + 100;
          box.nextUrl++;
        }
        if (why === "removed") this.#opts.onRemoved?.();
        if (!this.#closed) this.#opts.onUnreachable(id);
      },
    });
  }

  /** Streams a MsgSnap and the store copy at `dbFile` to its recipient; resolves whether it arrived. */
  async sendSnapshot(m: Message, dbFile: string): Promise<boolean> {
    const box = this.#outboxes.get(m.to);
    if (box === undefined || this.#closed) return false;
    const url = box.urls[box.nextUrl % box.urls.length] + SNAPSHOT_PATH;
    try {
      const r = await this.#fetch(url, {
        method: "POST",
        body: Bun.file(dbFile),
        headers: {
          [CLUSTER_HEADER]: idHex(this.#opts.clusterId),
          [FROM_HEADER]: idHex(this.#opts.memberId),
          [SNAPSHOT_MESSAGE_HEADER]: Buffer.from(encodeMessage(m)).toString("base64"),
          "Content-Type": "application/octet-stream",
        },
        signal: AbortSignal.timeout(120_000),
      });
      await r.arrayBuffer();
      if (r.status !== 204) log.warn(`sending a snapshot to ${idHex(m.to)} failed: ${r.status}`);
      return r.status === 204;
    } catch (e) {
      log.warn(`sending a snapshot to ${idHex(m.to)} failed: ${(e as Error).message}`);
      return false;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const box of this.#outboxes.values()) box.stream?.close();
    for (const socket of this.#incoming) socket.destroy();
    const closing = this.#servers.map((s) => new Promise<void>((r) => s.close(() => r())));
    for (const s of this.#servers) (s as Partial<http.Server>).closeAllConnections?.();
    await Promise.all(closing);
  }
}
