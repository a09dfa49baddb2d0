/**
 * The key-value operations etcd's concurrency recipes (clientv3/concurrency) are built
 * from, served inside the member: txns through the log, reads from the local store (which
 * has applied at least our own writes), and waiting for a key's deletion on the applied
 * feed instead of polling. Lock and Election are built on this.
 */
import { create } from "@bufbuild/protobuf";
import { Code, type EtcdError, etcdError, isEtcdError } from "../../api/errors.ts";
import { InternalRaftRequestSchema } from "../../proto/gen/etcdserverpb/raft_internal_pb.ts";
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  RangeRequestSchema,
  type RangeResponse,
  type RequestOp,
  type ResponseHeader,
  TxnRequestSchema,
  type TxnResponse,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { type Event, Event_EventType, type KeyValue } from "../../proto/gen/mvccpb/kv_pb.ts";
import type { StateMachine } from "../apply/state_machine.ts";
import { responseHeader } from "../header.ts";
import type { AppliedBatch, Member } from "../member.ts";
import { prefixEnd } from "../../api/keys.ts";

const enc = new TextEncoder();

/** Bytes of a string key. */
export function bytes(s: string): Uint8Array {
  return enc.encode(s);
}

/** `a ++ b`. */
export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function hasPrefix(key: Uint8Array, pfx: Uint8Array): boolean {
  if (key.length < pfx.length) return false;
  for (let i = 0; i < pfx.length; i++) if (key[i] !== pfx[i]) return false;
  return true;
}

/** Request ops of a recipe txn. */
export const Op = {
  put(key: Uint8Array, value: Uint8Array, lease: bigint): RequestOp {
    return {
      $typeName: "etcdserverpb.RequestOp",
      request: {
        case: "requestPut",
        value: {
          $typeName: "etcdserverpb.PutRequest",
          key,
          value,
          lease,
          prevKv: false,
          ignoreValue: false,
          ignoreLease: false,
        },
      },
    };
  },
  get(key: Uint8Array): RequestOp {
    return {
      $typeName: "etcdserverpb.RequestOp",
      request: { case: "requestRange", value: create(RangeRequestSchema, { key }) },
    };
  },
  /** The key of `pfx` created first (clientv3's WithFirstCreate). */
  firstCreated(pfx: Uint8Array): RequestOp {
    return {
      $typeName: "etcdserverpb.RequestOp",
      request: {
        case: "requestRange",
        value: create(RangeRequestSchema, {
          key: pfx,
          rangeEnd: prefixEnd(pfx),
          sortTarget: RangeRequest_SortTarget.CREATE,
          sortOrder: RangeRequest_SortOrder.ASCEND,
          limit: 1n,
        }),
      },
    };
  },
  delete(key: Uint8Array): RequestOp {
    return {
      $typeName: "etcdserverpb.RequestOp",
      request: {
        case: "requestDeleteRange",
        value: {
          $typeName: "etcdserverpb.DeleteRangeRequest",
          key,
          rangeEnd: new Uint8Array(),
          prevKv: false,
        },
      },
    };
  },
};

/** The range inside a txn response op `i`. */
export function rangeAt(r: TxnResponse, i: number): KeyValue[] {
  const op = r.responses[i]?.response;
  return op?.case === "responseRange" ? op.value.kvs : [];
}

/** Keys, txns and deletions as the recipes see them. */
export class Keyspace {
  readonly #member: Member;
  readonly #state: StateMachine;
  readonly #feeds = new Set<(b: AppliedBatch) => void>();

  constructor(member: Member, state: StateMachine) {
    this.#member = member;
    this.#state = state;
  }

  /** An applied batch: the recipes' waits see it. */
  applied(b: AppliedBatch): void {
    for (const f of this.#feeds) f(b);
  }

  /** A response header at the store's current revision. */
  header(revision = this.#state.store.currentRevision()): ResponseHeader {
    return responseHeader(this.#member, revision);
  }

  /** `If createRevision(key) == rev Then … Else …` through the log. */
  async txnIfCreated(
    key: Uint8Array,
    rev: bigint,
    ops: { then: RequestOp[]; else?: RequestOp[] },
  ): Promise<TxnResponse | EtcdError> {
    const txn = create(TxnRequestSchema, {
      compare: [{
        key,
        target: Compare_CompareTarget.CREATE,
        result: Compare_CompareResult.EQUAL,
        targetUnion: { case: "createRevision", value: rev },
      }],
      success: ops.then,
      failure: ops.else ?? [],
    });
    const o = await this.#member.propose(create(InternalRaftRequestSchema, { txn }));
    if (isEtcdError(o)) return o;
    if (!o.ok) return o.error;
    const r = o.response as TxnResponse | null;
    if (r === null) return etcdError(Code.Internal, "etcdts: apply produced no response");
    r.header = this.header(o.revision);
    return r;
  }

  /** Deletes one key through the log; answers the header of its revision. */
  async deleteKey(key: Uint8Array): Promise<ResponseHeader | EtcdError> {
    const o = await this.#member.propose(
      create(InternalRaftRequestSchema, { deleteRange: { key, rangeEnd: new Uint8Array(), prevKv: false } }),
    );
    if (isEtcdError(o)) return o;
    if (!o.ok) return o.error;
    return this.header(o.revision);
  }

  /** The first-created key under `pfx` after a linearizable read barrier. */
  async firstCreated(pfx: Uint8Array): Promise<RangeResponse | EtcdError> {
    const err = await this.#member.readIndex();
    if (err) return err;
    const r = this.#state.range(
      create(RangeRequestSchema, {
        key: pfx,
        rangeEnd: prefixEnd(pfx),
        sortTarget: RangeRequest_SortTarget.CREATE,
        sortOrder: RangeRequest_SortOrder.ASCEND,
        limit: 1n,
      }),
    );
    if (isEtcdError(r)) return r;
    r.header = this.header();
    return r;
  }

  /**
   * concurrency's waitDeletes: waits until no key under `pfx` has a create revision up to
   * `maxCreateRev`, each time waiting only for the newest such key (the immediate
   * predecessor), so a release wakes one waiter, not all. Null if `signal` aborted first.
   */
  async waitDeletes(
    pfx: Uint8Array,
    maxCreateRev: bigint,
    signal: AbortSignal,
  ): Promise<ResponseHeader | null> {
    for (;;) {
      if (signal.aborted) return null;
      const r = this.#state.range(
        create(RangeRequestSchema, {
          key: pfx,
          rangeEnd: prefixEnd(pfx),
          sortTarget: RangeRequest_SortTarget.CREATE,
          sortOrder: RangeRequest_SortOrder.DESCEND,
          limit: 1n,
          maxCreateRevision: maxCreateRev,
        }),
      );
      if (isEtcdError(r)) throw new Error(`concurrency: local range failed: ${r.message}`);
      if (r.kvs.length === 0) return this.header();
      if (!(await this.#deleted(r.kvs[0].key, signal))) return null;
    }
  }

  /**
   * Events under `pfx` as they are applied, from the next applied batch on; the caller
   * reads the store right after subscribing, so nothing falls between.
   */
  follow(pfx: Uint8Array, onEvent: (ev: Event) => void): () => void {
    const feed = (b: AppliedBatch) => {
      for (const ev of b.events) if (ev.kv && hasPrefix(ev.kv.key, pfx)) onEvent(ev);
    };
    this.#feeds.add(feed);
    return () => this.#feeds.delete(feed);
  }

  // Resolves true once `key` no longer exists (at once if it is already gone).
  #deleted(key: Uint8Array, signal: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (v: boolean) => {
        this.#feeds.delete(feed);
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      };
      const feed = (b: AppliedBatch) => {
        for (const ev of b.events) {
          if (ev.type === Event_EventType.DELETE && ev.kv && equalBytes(ev.kv.key, key)) return done(true);
        }
      };
      const onAbort = () => done(false);
      this.#feeds.add(feed);
      signal.addEventListener("abort", onAbort);
      const r = this.#state.range(create(RangeRequestSchema, { key, countOnly: true }));
      if (!isEtcdError(r) && r.count === 0n) done(true);
    });
  }
}
