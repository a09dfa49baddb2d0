/**
 * The proxy's Watch service with coalescing (etcd's grpcproxy watch_broadcast.go): client
 * watchers that ask for the same thing (range, filters, prev_kv, fragment, progress
 * notifications, the same caller's token) from "now" (no start revision) share one
 * upstream watcher, a Broadcast; each event response upstream is copied to every member
 * under the member's own watch ID. A watcher joining an established broadcast gets its
 * `created` response from the proxy with the broadcast's last revision, and every event
 * after it. A watcher with a start revision gets an upstream watcher of its own, so it
 * sees exactly the history it asked for.
 */
import { create } from "@bufbuild/protobuf";
import {
  type ResponseHeader,
  Watch,
  type WatchCreateRequest,
  type WatchRequest,
  type WatchResponse,
  WatchResponseSchema,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { BidiStream, Client } from "../../client/client.ts";
import type { BidiHandler, CallContext, StreamSink } from "../grpc/server.ts";
import { upstreamCall } from "./forward.ts";
import { Code, etcdError } from "../../api/errors.ts";
import type { Namespace } from "./namespace.ts";

/** What the proxy counts about coalescing (etcd's etcd_grpc_proxy_* metrics). */
export interface WatchStats {
  /** Client watchers that share an upstream watcher with an earlier one. */
  watchersCoalescing(): number;
  /** Event responses delivered to coalesced watchers without an upstream watcher of their own. */
  readonly eventsCoalescing: number;
}

/**
 * Responses a client stream may have queued unread before the proxy drops it, as etcd's
 * proxy drops a stream whose 1024-response channel is full: one slow client must not make
 * the proxy hold every event for it.
 */
const MAX_UNREAD = 1024;

/** A client's watch stream as broadcasts write to it: dropped when it reads too slowly. */
class ClientSink {
  readonly #out: StreamSink<WatchResponse>;
  readonly #onSlow: () => void;
  #unread = 0;
  #waiting = false;
  dropped = false;

  constructor(out: StreamSink<WatchResponse>, onSlow: () => void) {
    this.#out = out;
    this.#onSlow = onSlow;
  }

  get closed(): boolean {
    return this.dropped || this.#out.closed;
  }

  send(msg: WatchResponse): void {
    if (this.closed) return;
    if (this.#out.send(msg)) return;
    if (++this.#unread > MAX_UNREAD) {
      this.dropped = true;
      this.#onSlow();
      return;
    }
    if (this.#waiting) return;
    this.#waiting = true;
    void this.#out.drained().then(() => {
      this.#waiting = false;
      this.#unread = 0;
    });
  }
}

/** One client watcher: where its responses go and under which ID. */
interface Member {
  readonly id: bigint;
  readonly out: ClientSink;
}

/** One upstream watcher and the client watchers it serves. */
class Broadcast {
  readonly members = new Set<Member>();
  /** The header of the upstream's last response: null until it says created. */
  header: ResponseHeader | null = null;
  readonly #upstream: BidiStream<unknown, WatchResponse>;
  readonly #onEnd: () => void;
  readonly #onEvents: (n: number) => void;
  readonly #view: (r: WatchResponse) => WatchResponse;

  constructor(
    upstream: BidiStream<unknown, WatchResponse>,
    create: WatchCreateRequest,
    hooks: {
      onEnd: () => void;
      onEvents: (deliveredToOthers: number) => void;
      /** The namespace's view of a response (its keys unprefixed). */
      view: (r: WatchResponse) => WatchResponse;
    },
  ) {
    this.#upstream = upstream;
    this.#onEnd = hooks.onEnd;
    this.#onEvents = hooks.onEvents;
    this.#view = hooks.view;
    void upstream.send({ requestUnion: { case: "createRequest", value: { ...create, watchId: 0n } } });
    void this.#pump();
  }

  add(m: Member): void {
    this.members.add(m);
    // Established: the upstream's created response is past, so the proxy answers it.
    if (this.header !== null) {
      m.out.send(create(WatchResponseSchema, { header: this.header, watchId: m.id, created: true }));
    }
  }

  /** Removes a member; the upstream watcher goes when its last member does. */
  remove(m: Member): void {
    this.members.delete(m);
    if (this.members.size === 0) this.close();
  }

  close(): void {
    this.#onEnd();
    this.#upstream.cancel();
  }

  async #pump(): Promise<void> {
    try {
      for await (const upstream of this.#upstream) {
        const r = this.#view(upstream);
        if (r.header !== undefined) this.header = r.header;
        if (r.events.length > 0) this.#onEvents(this.members.size - 1);
        for (const m of this.members) {
          if (m.out.closed) continue;
          m.out.send({ ...r, watchId: m.id });
        }
        if (r.canceled) break;
      }
    } catch {
      // The upstream stream failed: the members learn it below, as a cancellation.
    }
    if (this.members.size > 0) {
      for (const m of this.members) {
        if (!m.out.closed) {
          m.out.send(
            create(WatchResponseSchema, { header: this.header ?? undefined, watchId: m.id, canceled: true }),
          );
        }
      }
    }
    this.#onEnd();
  }
}

function coalescingKey(c: WatchCreateRequest, ctx: CallContext): string | null {
  if (c.startRevision !== 0n) return null;
  const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
  const token = typeof ctx.headers.token === "string" ? ctx.headers.token : "";
  return [hex(c.key), hex(c.rangeEnd), c.prevKv, c.fragment, c.progressNotify, c.filters.join(","), token]
    .join("|");
}

/** The Watch service of a proxy in front of `client`'s cluster, and its coalescing counts. */
export function watchProxy(
  client: Client,
  ns: Namespace | null,
): { watch: BidiHandler<WatchRequest, WatchResponse>; stats: WatchStats } {
  const broadcasts = new Map<string, Broadcast>();
  let eventsCoalescing = 0;
  const stats: WatchStats = {
    watchersCoalescing: () =>
      [...broadcasts.values()].reduce((n, b) => n + Math.max(0, b.members.size - 1), 0),
    get eventsCoalescing() {
      return eventsCoalescing;
    },
  };
  const upstreamWatch = client.service(Watch).watch;

  function join(asked: WatchCreateRequest, m: Member, ctx: CallContext): Broadcast {
    const c = ns === null ? asked : ns.watchCreate(asked);
    const key = coalescingKey(c, ctx);
    const existing = key === null ? undefined : broadcasts.get(key);
    if (existing !== undefined) {
      existing.add(m);
      return existing;
    }
    const b: Broadcast = new Broadcast(upstreamWatch(upstreamCall(ctx)), c, {
      onEnd: () => {
        if (key !== null && broadcasts.get(key) === b) broadcasts.delete(key);
      },
      onEvents: (n) => (eventsCoalescing += n),
      view: ns === null ? (r) => r : (r) => ns.watchResponse(r),
    });
    if (key !== null) broadcasts.set(key, b);
    b.add(m);
    return b;
  }

  const watch: BidiHandler<WatchRequest, WatchResponse> = async (input, stream, ctx) => {
    const mine = new Map<bigint, { member: Member; broadcast: Broadcast }>();
    const slow = new AbortController();
    const out = new ClientSink(stream, () => slow.abort());
    const ended = AbortSignal.any([ctx.signal, slow.signal]);
    let nextId = 0n;
    const reading = (async () => {
      for await (const req of input) {
        if (ended.aborted) return;
        const u = req.requestUnion;
        if (u.case === "createRequest") {
          const id = u.value.watchId !== 0n ? u.value.watchId : nextId++;
          const member = { id, out };
          mine.set(id, { member, broadcast: join(u.value, member, ctx) });
        } else if (u.case === "cancelRequest") {
          const w = mine.get(u.value.watchId);
          if (w === undefined) continue;
          mine.delete(u.value.watchId);
          w.broadcast.remove(w.member);
          out.send(create(WatchResponseSchema, {
            header: w.broadcast.header ?? undefined,
            watchId: w.member.id,
            canceled: true,
          }));
        }
      }
    })().catch(() => {});
    // A client that half-closes still gets its events, as from etcd: until it goes, or is
    // dropped for reading too slowly.
    if (!ended.aborted) await new Promise((r) => ended.addEventListener("abort", r, { once: true }));
    for (const w of mine.values()) w.broadcast.remove(w.member);
    mine.clear();
    void reading;
    if (slow.signal.aborted) return etcdError(Code.Canceled, "context canceled");
  };
  return { watch, stats };
}
