/**
 * The backend quota (`--quota-backend-bytes`), etcd's backendQuota: before proposing a
 * request that grows the store, check that the database file would stay under the quota;
 * if not, raise the NOSPACE alarm through the log (so every member refuses such requests
 * from then on, deterministically, at apply) and refuse this one.
 */
import { create } from "@bufbuild/protobuf";
import { Errors, type EtcdError } from "../api/errors.ts";
import { InternalRaftRequestSchema } from "../proto/gen/etcdserverpb/raft_internal_pb.ts";
import {
  AlarmRequest_AlarmAction,
  AlarmRequestSchema,
  AlarmType,
  type PutRequest,
  type RequestOp,
  type TxnRequest,
} from "../proto/gen/etcdserverpb/rpc_pb.ts";
import { log } from "./log.ts";
import type { Member } from "./member.ts";
import type { MvccStore } from "../store/mvcc.ts";

/** etcd's default quota, 2 GiB. */
export const DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024;
/** Above this etcd warns: bbolt was not tested further. */
export const MAX_QUOTA_BYTES = 8 * 1024 * 1024 * 1024;

// etcd's per-request overheads.
const KV_OVERHEAD = 256;
const LEASE_OVERHEAD = 64;

/** A request the quota prices. */
export type Costed =
  | { readonly put: PutRequest }
  | { readonly txn: TxnRequest }
  | { readonly leaseGrant: true };

function costPut(r: PutRequest): number {
  return KV_OVERHEAD + r.key.length + r.value.length;
}

function costOps(ops: readonly RequestOp[]): number {
  let n = 0;
  for (const op of ops) {
    if (op.request.case === "requestPut") n += costPut(op.request.value);
    else if (op.request.case === "requestTxn") n += costTxn(op.request.value);
  }
  return n;
}

function costTxn(r: TxnRequest): number {
  return Math.max(costOps(r.success), costOps(r.failure));
}

/** What a request would add to the store by etcd's estimate (0 = it does not grow it). */
export function cost(req: Costed): number {
  if ("put" in req) return costPut(req.put);
  if ("txn" in req) return costTxn(req.txn);
  return LEASE_OVERHEAD;
}

/** The quota of one member. */
export class Quota {
  readonly bytes: number;
  readonly #store: MvccStore;
  readonly #member: Member;
  #raising: Promise<unknown> | null = null;

  constructor(opts: { store: MvccStore; member: Member; bytes: number }) {
    this.#store = opts.store;
    this.#member = opts.member;
    this.bytes = opts.bytes;
  }

  /**
   * Null if `req` may be proposed; else NoSpace, after proposing the NOSPACE alarm (once
   * at a time). The apply-time gate refuses such requests anyway once the alarm is raised.
   */
  async check(req: Costed): Promise<EtcdError | null> {
    const c = cost(req);
    if (c === 0 || this.#store.dbSize() + c < this.bytes) return null;
    if (this.#store.alarms(AlarmType.NOSPACE).length === 0) {
      this.#raising ??= this.#raise().finally(() => (this.#raising = null));
      await this.#raising;
    }
    return Errors.NoSpace;
  }

  async #raise(): Promise<void> {
    log.warn("message exceeded backend quota; raising alarm", {
      "quota-size-bytes": this.bytes,
      "current-size-bytes": this.#store.dbSize(),
    });
    await this.#member.propose(create(InternalRaftRequestSchema, {
      alarm: create(AlarmRequestSchema, {
        action: AlarmRequest_AlarmAction.ACTIVATE,
        memberID: this.#member.memberId,
        alarm: AlarmType.NOSPACE,
      }),
    }));
  }
}

/** A service implementation whose `put` and `txn` first pass the quota (wraps the KV service). */
export function withQuota<
  S extends {
    put(req: PutRequest, ...rest: never[]): unknown;
    txn(req: TxnRequest, ...rest: never[]): unknown;
  },
>(impl: S, quota: Quota): S {
  return {
    ...impl,
    async put(req: PutRequest, ...rest: never[]) {
      return (await quota.check({ put: req })) ?? await impl.put(req, ...rest);
    },
    async txn(req: TxnRequest, ...rest: never[]) {
      return (await quota.check({ txn: req })) ?? await impl.txn(req, ...rest);
    },
  };
}
