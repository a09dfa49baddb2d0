/** Request builders and a tiny driver so store tests read like the operations they check. */
import { create } from "@bufbuild/protobuf";
import { type EtcdError, isEtcdError } from "../../api/errors.ts";
import {
  type InternalRaftRequest,
  InternalRaftRequestSchema,
} from "../../proto/gen/etcdserverpb/raft_internal_pb.ts";
import {
  type Compare,
  type CompareSchema,
  CompareSchema as CompareSchemaValue,
  type DeleteRangeRequest,
  DeleteRangeRequestSchema,
  type PutRequest,
  PutRequestSchema,
  type RangeRequest,
  RangeRequestSchema,
  type RangeResponse,
  type RequestOp,
  RequestOpSchema,
  type TxnRequest,
  TxnRequestSchema,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { MvccStore } from "../../store/mvcc.ts";
import type { Outcome } from "../../server/apply/apply.ts";
import { StateMachine } from "../../server/apply/state_machine.ts";

const machines = new WeakMap<MvccStore, StateMachine>();

/** The state machine over `store` (one per store, so its auth image is the one applied to). */
export function machine(store: MvccStore): StateMachine {
  let m = machines.get(store);
  if (m === undefined) machines.set(store, m = new StateMachine(store));
  return m;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** UTF-8 bytes of a string. */
export function b(s: string): Uint8Array {
  return enc.encode(s);
}

/** A string from UTF-8 bytes. */
export function s(bytes: Uint8Array): string {
  return dec.decode(bytes);
}

/** A PutRequest. */
export function put(
  key: string,
  value: string,
  opts: Partial<Pick<PutRequest, "lease" | "prevKv" | "ignoreValue" | "ignoreLease">> = {},
): PutRequest {
  return create(PutRequestSchema, { key: b(key), value: b(value), ...opts });
}

/** A RangeRequest. */
export function range(
  key: string,
  end = "",
  opts: Partial<Omit<RangeRequest, "$typeName" | "key" | "rangeEnd">> = {},
): RangeRequest {
  return create(RangeRequestSchema, { key: b(key), rangeEnd: b(end), ...opts });
}

/** A DeleteRangeRequest. */
export function del(key: string, end = "", prevKv = false): DeleteRangeRequest {
  return create(DeleteRangeRequestSchema, { key: b(key), rangeEnd: b(end), prevKv });
}

/** A Compare. */
export function cmp(init: MessageInitShape<typeof CompareSchema> & { key: Uint8Array }): Compare {
  return create(CompareSchemaValue, init);
}

/** A TxnRequest. */
export function txn(compare: Compare[], success: RequestOp[], failure: RequestOp[] = []): TxnRequest {
  return create(TxnRequestSchema, { compare, success, failure });
}

/** Ops of a txn. */
export const op = {
  put: (p: PutRequest): RequestOp => create(RequestOpSchema, { request: { case: "requestPut", value: p } }),
  range: (r: RangeRequest): RequestOp =>
    create(RequestOpSchema, { request: { case: "requestRange", value: r } }),
  del: (d: DeleteRangeRequest): RequestOp =>
    create(RequestOpSchema, { request: { case: "requestDeleteRange", value: d } }),
  txn: (t: TxnRequest): RequestOp => create(RequestOpSchema, { request: { case: "requestTxn", value: t } }),
};

/** An InternalRaftRequest. */
export function req(init: MessageInitShape<typeof InternalRaftRequestSchema>): InternalRaftRequest {
  return create(InternalRaftRequestSchema, init);
}

/** Applies requests one entry each, continuing the store's log; returns the outcomes. */
export class Driver {
  readonly state: StateMachine;

  constructor(readonly store: MvccStore, public term = 1n) {
    this.state = machine(store);
  }

  apply(...requests: InternalRaftRequest[]): Outcome[] {
    let index = this.store.appliedIndex();
    return this.state.applyBatch(requests.map((request) => ({ index: ++index, term: this.term, request })));
  }

  /** Applies one request and returns its successful outcome (fails the test otherwise). */
  ok(request: InternalRaftRequest): Extract<Outcome, { ok: true }> {
    const [o] = this.apply(request);
    if (!o.ok) throw new Error(`expected success, got ${o.error.message}`);
    return o;
  }

  /** Applies one request expected to fail; returns the error. */
  fail(request: InternalRaftRequest): EtcdError {
    const [o] = this.apply(request);
    if (o.ok) throw new Error("expected an error");
    return o.error;
  }

  put(key: string, value: string, opts: Parameters<typeof put>[2] = {}) {
    return this.ok(req({ put: put(key, value, opts) }));
  }

  del(key: string, end = "") {
    return this.ok(req({ deleteRange: del(key, end) }));
  }

  /** Serves a range that must succeed. */
  get(key: string, end = "", opts: Parameters<typeof range>[2] = {}): RangeResponse {
    const r = this.state.range(range(key, end, opts));
    if (isEtcdError(r)) throw new Error(`expected success, got ${r.message}`);
    return r;
  }

  /** Keys of a successful range, as strings. */
  keys(key: string, end = "", opts: Parameters<typeof range>[2] = {}): string[] {
    return this.get(key, end, opts).kvs.map((kv) => s(kv.key));
  }
}
