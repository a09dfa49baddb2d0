/**
 * Put, DeleteRange and Range applied inside one revision write: the building blocks of
 * both standalone requests and txn branches (etcd's applierV3backend.Put/DeleteRange/Range
 * given a write txn).
 */
import { Errors, type EtcdError } from "../../api/errors.ts";
import type {
  DeleteRangeRequest,
  DeleteRangeResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { keyRange } from "../../store/keys.ts";
import { kvFromRow } from "../../store/kv.ts";
import { executeRange } from "./range.ts";
import type { KvReader } from "../../store/reader.ts";
import { responseHeader } from "./responses.ts";
import type { RevisionWrite } from "../../store/writer.ts";

/** What the apply paths need besides the revision write. */
export interface ApplyEnv {
  readonly reader: KvReader;
  /** etcd's compactMainRev (-1 before the first compaction). */
  readonly compactRev: bigint;
  /** Whether a lease exists (a put may only attach an existing lease). */
  hasLease(id: bigint): boolean;
}

/**
 * A put whose lease was already checked. ignore_value/ignore_lease take the current value
 * or lease and need the key to exist (KeyNotFound otherwise).
 */
export function applyPutChecked(env: ApplyEnv, w: RevisionWrite, req: PutRequest): PutResponse | EtcdError {
  const prev = env.reader.get(req.key);
  if ((req.ignoreValue || req.ignoreLease) && prev === null) return Errors.KeyNotFound;
  const value = req.ignoreValue && prev !== null ? prev[5] : req.value;
  const lease = req.ignoreLease && prev !== null ? prev[4] : req.lease;
  w.put(req.key, value, lease, prev);
  return {
    $typeName: "etcdserverpb.PutResponse",
    header: responseHeader(w.beginRev + 1n),
    prevKv: req.prevKv && prev !== null ? kvFromRow(prev) : undefined,
  };
}

/** A standalone put: the lease must exist before anything else is looked at. */
export function applyPut(env: ApplyEnv, w: RevisionWrite, req: PutRequest): PutResponse | EtcdError {
  if (req.lease !== 0n && !env.hasLease(req.lease)) return Errors.LeaseNotFound;
  return applyPutChecked(env, w, req);
}

/** Deletes a range; the revision advances only if something (here or earlier in the txn) changed. */
export function applyDeleteRange(w: RevisionWrite, req: DeleteRangeRequest): DeleteRangeResponse {
  const rows = w.deleteRange(keyRange(req.key, req.rangeEnd));
  return {
    $typeName: "etcdserverpb.DeleteRangeResponse",
    header: responseHeader(w.changed() ? w.beginRev + 1n : w.beginRev),
    deleted: BigInt(rows.length),
    prevKvs: req.prevKv ? rows.map((row) => kvFromRow(row)) : [],
  };
}

/** A range that sees the write's own changes so far. */
export function applyRange(env: ApplyEnv, w: RevisionWrite, req: RangeRequest): RangeResponse | EtcdError {
  return executeRange(env.reader, req, { rev: w.readRev(), compactRev: env.compactRev });
}
