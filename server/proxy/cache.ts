/**
 * The proxy's cache of range responses (etcd's grpcproxy/cache): serializable ranges are
 * answered from it when the same request was answered before; every range response the
 * proxy sees fills it; the proxy's own writes (put, delete, txn) drop the entries whose
 * range they touch. Writes made elsewhere are not seen: a serializable read through the
 * proxy may be stale by them, the staleness etcd's proxy accepts. Linearizable ranges
 * always go upstream. Least recently used entries go beyond 2048, etcd's size.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import {
  type RangeRequest,
  RangeRequestSchema,
  type RangeResponse,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";

const DEFAULT_MAX_ENTRIES = 2048;

interface Entry {
  readonly key: Uint8Array;
  /** Empty: the key alone; "\0": every key from `key` on. */
  readonly end: Uint8Array;
  readonly response: RangeResponse;
}

/** Whether [aKey, aEnd) and [bKey, bEnd) share a key (etcd's range conventions). */
function overlaps(aKey: Uint8Array, aEnd: Uint8Array, bKey: Uint8Array, bEnd: Uint8Array): boolean {
  const cmp = (x: Uint8Array, y: Uint8Array) => Buffer.compare(x, y);
  const toEnd = (e: Uint8Array) => e.length === 1 && e[0] === 0;
  // Each as [start, end] with end exclusive; a single key's end is the key plus a zero byte.
  const endOf = (k: Uint8Array, e: Uint8Array) => e.length === 0 ? Buffer.concat([k, Buffer.from([0])]) : e;
  const aE = endOf(aKey, aEnd);
  const bE = endOf(bKey, bEnd);
  const aBeforeB = !toEnd(aEnd) && cmp(aE, bKey) <= 0;
  const bBeforeA = !toEnd(bEnd) && cmp(bE, aKey) <= 0;
  return !aBeforeB && !bBeforeA;
}

export class RangeCache {
  readonly #entries = new Map<string, Entry>();
  readonly #max: number;
  hits = 0;
  misses = 0;

  constructor(max = DEFAULT_MAX_ENTRIES) {
    this.#max = max;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The identity of a request, as if serializable (a linearizable answer fills its entry). */
  #id(r: RangeRequest): string | null {
    if (r.revision !== 0n) return null; // history is not cached: a compaction could make it wrong
    return Buffer.from(toBinary(RangeRequestSchema, create(RangeRequestSchema, { ...r, serializable: true })))
      .toString("latin1");
  }

  /** A cached response to a serializable `r`, counted as a hit or a miss. */
  get(r: RangeRequest): RangeResponse | undefined {
    const id = this.#id(r);
    const e = id === null ? undefined : this.#entries.get(id);
    if (e === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.#entries.delete(id!); // most recently used goes last
    this.#entries.set(id!, e);
    return e.response;
  }

  add(r: RangeRequest, response: RangeResponse): void {
    const id = this.#id(r);
    if (id === null) return;
    this.#entries.delete(id);
    this.#entries.set(id, { key: r.key, end: r.rangeEnd, response });
    if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
  }

  /** Drops every entry whose range shares a key with [key, end). */
  invalidate(key: Uint8Array, end: Uint8Array): void {
    for (const [id, e] of this.#entries) {
      if (overlaps(e.key, e.end, key, end)) this.#entries.delete(id);
    }
  }
}
