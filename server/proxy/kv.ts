/**
 * The proxy's KV service: forwarded upstream, through the --namespace mapping when one is
 * given (requests prefixed on the way up, responses unprefixed on the way down), with
 * serializable ranges answered from the proxy's cache (cache.ts) when it can.
 */
import { KV, type TxnRequest } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { RangeCache } from "./cache.ts";
import type { Client } from "../../client/client.ts";
import { type EtcdError, isEtcdError } from "../../api/errors.ts";
import type { CallContext, ImplOf } from "../grpc/server.ts";
import { forwardService } from "./forward.ts";
import type { Namespace } from "./namespace.ts";

type KvImpl = ImplOf<typeof KV>;

/** Wraps one unary method: the request mapped (or refused) before, the response mapped after. */
function mapped<I, O>(
  call: (req: I, ctx: CallContext) => O | EtcdError | Promise<O | EtcdError>,
  req: (r: I) => I | EtcdError,
  res: (r: O) => O,
): (r: I, ctx: CallContext) => Promise<unknown> {
  return async (r, ctx) => {
    const up = req(r);
    if (isEtcdError(up)) return up;
    const out = await call(up, ctx);
    return isEtcdError(out) ? out : res(out);
  };
}

/** Drops what a txn's compares and writes may change from the cache, nested txns too. */
function invalidateTxn(cache: RangeCache, t: TxnRequest): void {
  for (const c of t.compare) cache.invalidate(c.key, c.rangeEnd);
  for (const op of [...t.success, ...t.failure]) {
    const q = op.request;
    if (q.case === "requestPut") cache.invalidate(q.value.key, new Uint8Array());
    else if (q.case === "requestDeleteRange") cache.invalidate(q.value.key, q.value.rangeEnd);
    else if (q.case === "requestTxn") invalidateTxn(cache, q.value);
  }
}

/** `kv` with serializable ranges answered from `cache` and writes dropping what they touch. */
function withCache(kv: KvImpl, cache: RangeCache): KvImpl {
  return {
    ...kv,
    range: async (r, ctx) => {
      if (r.serializable) {
        const hit = cache.get(r);
        if (hit !== undefined) return hit;
      }
      const out = await kv.range(r, ctx);
      if (!isEtcdError(out)) cache.add(r, out);
      return out;
    },
    put: (r, ctx) => {
      cache.invalidate(r.key, new Uint8Array());
      return kv.put(r, ctx);
    },
    deleteRange: (r, ctx) => {
      cache.invalidate(r.key, r.rangeEnd);
      return kv.deleteRange(r, ctx);
    },
    txn: (r, ctx) => {
      invalidateTxn(cache, r);
      return kv.txn(r, ctx);
    },
  };
}

/**
 * --experimental-serializable-ordering (clientv3/ordering): a serializable range is never
 * answered from an older revision than one the proxy already saw. Where etcd's ordering
 * KV switches endpoints and retries, this asks again linearizably, which cannot be older.
 */
function ordered(kv: KvImpl): KvImpl {
  let highest = 0n;
  const seen = <T extends { header?: { revision: bigint } } | EtcdError>(r: T): T => {
    if (!isEtcdError(r) && r.header !== undefined && r.header.revision > highest) highest = r.header.revision;
    return r;
  };
  return {
    ...kv,
    range: async (r, ctx) => {
      const out = seen(await kv.range(r, ctx));
      if (!r.serializable || isEtcdError(out) || (out.header?.revision ?? 0n) >= highest) return out;
      return seen(await kv.range({ ...r, serializable: false }, ctx));
    },
    put: async (r, ctx) => seen(await kv.put(r, ctx)),
    deleteRange: async (r, ctx) => seen(await kv.deleteRange(r, ctx)),
    txn: async (r, ctx) => seen(await kv.txn(r, ctx)),
  };
}

export function kvProxy(
  client: Client,
  opts: { ns: Namespace | null; cache: RangeCache; serializableOrdering: boolean },
): KvImpl {
  const forward = forwardService(KV, client);
  const upstream = opts.ns === null ? forward : namespaced(forward, opts.ns);
  return withCache(opts.serializableOrdering ? ordered(upstream) : upstream, opts.cache);
}

function namespaced(forward: KvImpl, ns: Namespace): KvImpl {
  return {
    ...forward,
    range: mapped(forward.range, (r) => ns.range(r), (r) => ns.rangeResponse(r)),
    put: mapped(forward.put, (r) => ns.put(r), (r) => ns.putResponse(r)),
    deleteRange: mapped(forward.deleteRange, (r) => ns.deleteRange(r), (r) => ns.deleteRangeResponse(r)),
    txn: mapped(forward.txn, (r) => ns.txn(r), (r) => ns.txnResponse(r)),
  } as KvImpl;
}
