/**
 * --namespace (clientv3/namespace): the proxy's clients see a keyspace of their own. Keys
 * and ranges in requests get the prefix; keys in responses (kvs, prev_kv, events) lose it.
 * A range "from key to the end" ends at the end of the prefix. An empty key is refused
 * with etcd's error, as clientv3/namespace does: prefixed, it would no longer be empty.
 */
import type {
  Compare,
  DeleteRangeRequest,
  DeleteRangeResponse,
  LeaseTimeToLiveResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseOp,
  TxnRequest,
  TxnResponse,
  WatchCreateRequest,
  WatchResponse,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { KeyValue } from "../../proto/gen/mvccpb/kv_pb.ts";
import { Errors, type EtcdError, isEtcdError } from "../../api/errors.ts";
import { prefixEnd } from "../../api/keys.ts";

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Prefixes and unprefixes keys for one namespace. */
export class Namespace {
  readonly #prefix: Uint8Array;

  constructor(prefix: string) {
    this.#prefix = new TextEncoder().encode(prefix);
  }

  /**
   * A key and range end inside the namespace (clientv3/namespace's prefixInterval). "To the
   * end" ends at the first key after the prefix's keys; for a prefix ending in 0xff bytes
   * etcd's own increment lands one key further ("a\xff" → "b\x00", taking "b" in).
   */
  interval(key: Uint8Array, end: Uint8Array): { key: Uint8Array; rangeEnd: Uint8Array } {
    const rangeEnd = end.length === 1 && end[0] === 0
      ? prefixEnd(this.#prefix)
      : end.length > 0
      ? concat(this.#prefix, end)
      : end;
    return { key: concat(this.#prefix, key), rangeEnd };
  }

  #strip(key: Uint8Array): Uint8Array {
    return key.subarray(this.#prefix.length);
  }

  #kv(kv: KeyValue | undefined): KeyValue | undefined {
    return kv === undefined ? undefined : { ...kv, key: this.#strip(kv.key) };
  }

  range(r: RangeRequest): RangeRequest | EtcdError {
    return r.key.length === 0 ? Errors.EmptyKey : { ...r, ...this.interval(r.key, r.rangeEnd) };
  }
  put(r: PutRequest): PutRequest | EtcdError {
    return r.key.length === 0 ? Errors.EmptyKey : { ...r, key: concat(this.#prefix, r.key) };
  }
  deleteRange(r: DeleteRangeRequest): DeleteRangeRequest | EtcdError {
    return r.key.length === 0 ? Errors.EmptyKey : { ...r, ...this.interval(r.key, r.rangeEnd) };
  }
  txn(r: TxnRequest): TxnRequest | EtcdError {
    const compare: Compare[] = r.compare.map((c) => ({ ...c, ...this.interval(c.key, c.rangeEnd) }));
    const success: RequestOp[] = [];
    const failure: RequestOp[] = [];
    for (const [from, to] of [[r.success, success], [r.failure, failure]] as const) {
      for (const op of from) {
        const o = this.#op(op);
        if (isEtcdError(o)) return o;
        to.push(o);
      }
    }
    return { ...r, compare, success, failure };
  }
  #op(op: RequestOp): RequestOp | EtcdError {
    const q = op.request;
    const value = q.case === "requestRange"
      ? this.range(q.value)
      : q.case === "requestPut"
      ? this.put(q.value)
      : q.case === "requestDeleteRange"
      ? this.deleteRange(q.value)
      : q.case === "requestTxn"
      ? this.txn(q.value)
      : undefined;
    if (value === undefined) return op;
    if (isEtcdError(value)) return value;
    return { ...op, request: { case: q.case, value } as RequestOp["request"] };
  }

  rangeResponse(r: RangeResponse): RangeResponse {
    return { ...r, kvs: r.kvs.map((kv) => this.#kv(kv)!) };
  }
  putResponse(r: PutResponse): PutResponse {
    return { ...r, prevKv: this.#kv(r.prevKv) };
  }
  deleteRangeResponse(r: DeleteRangeResponse): DeleteRangeResponse {
    return { ...r, prevKvs: r.prevKvs.map((kv) => this.#kv(kv)!) };
  }
  txnResponse(r: TxnResponse): TxnResponse {
    return { ...r, responses: r.responses.map((op) => this.#responseOp(op)) };
  }
  #responseOp(op: ResponseOp): ResponseOp {
    const p = op.response;
    const value = p.case === "responseRange"
      ? this.rangeResponse(p.value)
      : p.case === "responsePut"
      ? this.putResponse(p.value)
      : p.case === "responseDeleteRange"
      ? this.deleteRangeResponse(p.value)
      : p.case === "responseTxn"
      ? this.txnResponse(p.value)
      : undefined;
    return value === undefined ? op : { ...op, response: { case: p.case, value } as ResponseOp["response"] };
  }

  /** A lease's keys as the namespace sees them: its own, unprefixed; others' left out. */
  leaseTimeToLive(r: LeaseTimeToLiveResponse): LeaseTimeToLiveResponse {
    const p = this.#prefix;
    const own = r.keys.filter((k) => k.length >= p.length && Buffer.from(k.subarray(0, p.length)).equals(p));
    return { ...r, keys: own.map((k) => this.#strip(k)) };
  }

  watchCreate(c: WatchCreateRequest): WatchCreateRequest {
    return { ...c, ...this.interval(c.key, c.rangeEnd) };
  }
  watchResponse(r: WatchResponse): WatchResponse {
    if (r.events.length === 0) return r;
    return { ...r, events: r.events.map((e) => ({ ...e, kv: this.#kv(e.kv), prevKv: this.#kv(e.prevKv) })) };
  }
}
