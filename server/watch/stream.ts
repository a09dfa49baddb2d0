/**
 * One client's Watch stream (etcd's serverWatchStream): many watchers on one bidi call.
 * Reads create / cancel / progress requests, answers them as etcd 3.4 does, and carries
 * the hub's event responses to the client, honouring HTTP/2 backpressure: when the
 * client stops reading, the stream says so (`blocked`) and the hub stops pushing.
 */
import type {
  ResponseHeader,
  WatchCreateRequest,
  WatchRequest,
  WatchResponse,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { StreamSink } from "../grpc/server.ts";
import type { EncodedField } from "./encode.ts";
import { eventFilter } from "./filters.ts";
import type { WatchHub } from "./hub.ts";
import { type WatchRange, watchRange } from "./range.ts";
import { Watcher, type WatcherSink } from "./watcher.ts";
import { ResponseWriter } from "./writer.ts";

/** clientv3.InvalidWatchID: answers that belong to no watcher. */
const NO_WATCHER = -1n;
const EMPTY_RANGE = "mvcc: watcher range is empty";
const DUPLICATE_ID = "mvcc: duplicate watch ID provided on the WatchStream";

export interface WatchStreamOptions {
  readonly hub: WatchHub;
  readonly header: (revision: bigint) => ResponseHeader;
  /** Fragmenting watchers split responses of this size or more (etcd: max-request-bytes + 512 KiB). */
  readonly maxResponseBytes: number;
  /** Progress notifications for idle progress_notify watchers; 0 disables. */
  readonly progressIntervalMs: number;
  /** For the interval's jitter (up to a tenth more, as etcd adds); injectable for tests. */
  readonly random?: () => number;
  /** Auth: the cancel reason for a create request the caller may not make, else null. */
  readonly permit?: (c: WatchCreateRequest) => string | null;
}

/** A Watch call's state: its watchers by id, the id counter, and whether the client reads. */
export class WatchStream implements WatcherSink {
  readonly #out: ResponseWriter;
  readonly #opts: WatchStreamOptions;
  readonly #hub: WatchHub;
  readonly #watchers = new Map<bigint, Watcher>();
  #nextId = 0n;
  /** A progress request waits until every watcher of the stream has caught up. */
  #progressWanted = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(out: StreamSink<WatchResponse>, opts: WatchStreamOptions) {
    this.#opts = opts;
    this.#hub = opts.hub;
    this.#out = new ResponseWriter(out, () => {
      if (!this.#closed) this.#hub.wake();
      this.#answerProgressIfCaughtUp();
    });
  }

  get blocked(): boolean {
    return this.#out.blocked;
  }

  /**
   * Serves requests until the client goes away. A half-close does not end the call: as in
   * etcd, watchers keep delivering until the client cancels.
   */
  async serve(input: AsyncIterable<WatchRequest>, signal: AbortSignal): Promise<void> {
    this.#startProgressTimer();
    try {
      for await (const req of input) {
        if (this.#closed) break;
        // Control answers are bounded by the client's own reading.
        if (this.#out.blocked) await this.#out.drained();
        this.#handle(req);
      }
      if (!signal.aborted) {
        await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      }
    } finally {
      this.close();
    }
  }

  /** Removes every watcher of the stream from the hub. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    for (const w of this.#watchers.values()) this.#hub.remove(w);
    this.#watchers.clear();
  }

  #handle(req: WatchRequest): void {
    const u = req.requestUnion;
    switch (u.case) {
      case "createRequest":
        return this.#create(u.value);
      case "cancelRequest":
        return this.#cancel(u.value.watchId);
      case "progressRequest":
        this.#progressWanted = true;
        return this.#answerProgressIfCaughtUp();
      default:
        // etcd ignores requests it does not know rather than ending the stream.
        return;
    }
  }

  #create(c: Extract<WatchRequest["requestUnion"], { case: "createRequest" }>["value"]): void {
    const rev = this.#hub.currentRevision();
    const denied = this.#opts.permit?.(c) ?? null;
    if (denied !== null) return this.#refuse(rev, denied);
    const range = watchRange(c.key, c.rangeEnd);
    if (range === null) return this.#refuse(rev, EMPTY_RANGE);
    let id = c.watchId;
    if (id === 0n) {
      while (this.#watchers.has(this.#nextId)) this.#nextId++;
      id = this.#nextId++;
    } else if (this.#watchers.has(id)) return this.#refuse(rev, DUPLICATE_ID);
    const w = new Watcher({
      id,
      range,
      filter: eventFilter(c.filters),
      prevKv: c.prevKv,
      progressNotify: c.progressNotify,
      fragment: c.fragment,
    }, this);
    this.#watchers.set(id, w);
    // Created goes out before the hub can feed the watcher anything.
    this.#control({ revision: rev, watchId: id, created: true });
    this.#hub.add(w, c.startRevision === 0n ? rev + 1n : c.startRevision);
  }

  /**
   * Cancels the watchers `denied` picks, telling the client `reason` (auth: the reader
   * lost its permission on the range).
   */
  cancelWhere(reason: string, denied: (range: WatchRange) => boolean): void {
    for (const [id, w] of this.#watchers) {
      if (!denied(w.spec.range)) continue;
      this.#hub.remove(w);
      this.#watchers.delete(id);
      this.#control({
        revision: this.#hub.currentRevision(),
        watchId: id,
        canceled: true,
        cancelReason: reason,
      });
    }
    this.#answerProgressIfCaughtUp();
  }

  #refuse(rev: bigint, reason: string): void {
    this.#control({
      revision: rev,
      watchId: NO_WATCHER,
      created: true,
      canceled: true,
      cancelReason: reason,
    });
  }

  #cancel(id: bigint): void {
    const w = this.#watchers.get(id);
    if (w === undefined) return; // etcd answers nothing for an unknown id
    this.#hub.remove(w);
    this.#watchers.delete(id);
    this.#control({ revision: this.#hub.currentRevision(), watchId: id, canceled: true });
    this.#answerProgressIfCaughtUp();
  }

  #answerProgressIfCaughtUp(): void {
    if (!this.#progressWanted) return;
    for (const w of this.#watchers.values()) if (w.state === "unsynced") return;
    this.#progressWanted = false;
    this.#control({ revision: this.#hub.currentRevision(), watchId: NO_WATCHER });
  }

  #startProgressTimer(): void {
    const ms = this.#opts.progressIntervalMs;
    if (ms <= 0) return;
    const jitter = Math.floor((this.#opts.random ?? Math.random)() * (ms / 10));
    this.#timer = setInterval(() => this.#progressTick(), ms + jitter);
    this.#timer.unref?.();
  }

  /** etcd's progress ticker: a synced, idle progress_notify watcher hears the current revision. */
  #progressTick(): void {
    if (this.#closed) return;
    for (const w of this.#watchers.values()) {
      if (!w.spec.progressNotify) continue;
      if (w.progressDue && !this.#out.blocked && this.#hub.isSynced(w)) {
        this.#control({ revision: this.#hub.currentRevision(), watchId: w.spec.id });
      }
      w.progressDue = true;
    }
  }

  sendEvents(w: Watcher, header: EncodedField, events: readonly EncodedField[]): void {
    if (this.#closed) return;
    this.#out.events({
      header,
      watchId: w.spec.id,
      watchIdField: w.idField,
      events,
      fragment: w.spec.fragment,
      maxBytes: this.#opts.maxResponseBytes,
    });
    w.progressDue = false;
  }

  sendCompacted(w: Watcher, compactRevision: bigint): void {
    // etcd 3.4 sends this with the zero revision in its header.
    this.#control({ revision: 0n, watchId: w.spec.id, canceled: true, compactRevision });
    this.#answerProgressIfCaughtUp();
  }

  sendCanceled(w: Watcher, reason: string): void {
    this.#watchers.delete(w.spec.id);
    this.#control({
      revision: this.#hub.currentRevision(),
      watchId: w.spec.id,
      canceled: true,
      cancelReason: reason,
    });
    this.#answerProgressIfCaughtUp();
  }

  caughtUp(_w: Watcher): void {
    this.#answerProgressIfCaughtUp();
  }

  flush(): void {
    this.#out.flush();
  }

  #control(r: {
    revision: bigint;
    watchId: bigint;
    created?: boolean;
    canceled?: boolean;
    cancelReason?: string;
    compactRevision?: bigint;
  }): void {
    if (this.#closed) return;
    this.#out.control({
      $typeName: "etcdserverpb.WatchResponse",
      header: this.#opts.header(r.revision),
      watchId: r.watchId,
      created: r.created ?? false,
      canceled: r.canceled ?? false,
      compactRevision: r.compactRevision ?? 0n,
      cancelReason: r.cancelReason ?? "",
      fragment: false,
      events: [],
    });
  }
}
