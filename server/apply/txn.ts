/**
 * etcd's Txn: all compares on the chosen path (nested txns included) are evaluated first
 * against the state before the txn; then the chosen ops are checked (leases, ignore_*
 * flags, read revisions) and only then executed, in order, all at one revision.
 */
import { Errors, type EtcdError, isEtcdError } from "../../api/errors.ts";
import {
  type Compare,
  Compare_CompareResult as Result,
  Compare_CompareTarget as Target,
  type RequestOp,
  type ResponseOp,
  type TxnRequest,
  type TxnResponse,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { compareBytes, keyRange } from "../../store/keys.ts";
import type { KvRow } from "../../store/kv.ts";
import { applyDeleteRange, type ApplyEnv, applyPutChecked, applyRange } from "./ops.ts";
import { responseHeader } from "./responses.ts";
import type { RevisionWrite } from "../../store/writer.ts";

/** The branch each txn on the chosen path takes, decided before anything executes. */
interface TxnPlan {
  readonly succeeded: boolean;
  readonly ops: readonly RequestOp[];
  /** Plans of the nested txns among `ops`, by op index. */
  readonly nested: ReadonlyMap<number, TxnPlan>;
}

/** Applies a txn request inside a revision write. */
export function applyTxn(env: ApplyEnv, w: RevisionWrite, req: TxnRequest): TxnResponse | EtcdError {
  const plan = planTxn(env, req);
  if (!isReadOnly(req)) {
    const err = firstError(plan, (op) => checkPut(env, op));
    if (err !== null) return err;
  }
  const err = firstError(plan, (op) => checkRangeRevision(op, w.beginRev, env.compactRev));
  if (err !== null) return err;
  const resp = execute(env, w, plan);
  resp.header = responseHeader(w.changed() ? w.beginRev + 1n : w.beginRev);
  return resp;
}

/**
 * etcd treats a txn as read-only only if every op of both branches is a range (a nested
 * txn makes it a write, even one that only reads).
 */
export function isReadOnly(req: TxnRequest): boolean {
  const onlyRanges = (ops: readonly RequestOp[]) => ops.every((op) => op.request.case === "requestRange");
  return onlyRanges(req.success) && onlyRanges(req.failure);
}

function planTxn(env: ApplyEnv, req: TxnRequest): TxnPlan {
  const succeeded = req.compare.every((c) => compareHolds(env, c));
  const ops = succeeded ? req.success : req.failure;
  const nested = new Map<number, TxnPlan>();
  ops.forEach((op, i) => {
    if (op.request.case === "requestTxn") nested.set(i, planTxn(env, op.request.value));
  });
  return { succeeded, ops, nested };
}

/**
 * A compare over a range holds only if every existing key satisfies it. With no key, a
 * VALUE compare fails (a missing value cannot be told from an empty one); the others
 * compare against zero revisions, version and lease.
 */
function compareHolds(env: ApplyEnv, c: Compare): boolean {
  const rows = env.reader.rows(keyRange(c.key, c.rangeEnd), null);
  if (rows.length === 0) {
    return c.target === Target.VALUE ? false : compareRow(c, null);
  }
  return rows.every((row) => compareRow(c, row));
}

function compareRow(c: Compare, row: KvRow | null): boolean {
  const u = c.targetUnion;
  let order = 0;
  switch (c.target) {
    case Target.VALUE:
      order = compareBytes(
        row === null ? new Uint8Array(0) : row[5],
        u.case === "value" ? u.value : new Uint8Array(0),
      );
      break;
    case Target.CREATE:
      order = compareInt(row === null ? 0n : row[1], u.case === "createRevision" ? u.value : 0n);
      break;
    case Target.MOD:
      order = compareInt(row === null ? 0n : row[2], u.case === "modRevision" ? u.value : 0n);
      break;
    case Target.VERSION:
      order = compareInt(row === null ? 0n : row[3], u.case === "version" ? u.value : 0n);
      break;
    case Target.LEASE:
      order = compareInt(row === null ? 0n : row[4], u.case === "lease" ? u.value : 0n);
      break;
  }
  switch (c.result) {
    case Result.EQUAL:
      return order === 0;
    case Result.NOT_EQUAL:
      return order !== 0;
    case Result.GREATER:
      return order > 0;
    case Result.LESS:
      return order < 0;
    default:
      return true; // etcd: an unknown result always holds
  }
}

function compareInt(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The first error of `check` over the ops on the plan's path, depth first. */
function firstError(plan: TxnPlan, check: (op: RequestOp) => EtcdError | null): EtcdError | null {
  for (let i = 0; i < plan.ops.length; i++) {
    const nested = plan.nested.get(i);
    const err = nested !== undefined ? firstError(nested, check) : check(plan.ops[i]);
    if (err !== null) return err;
  }
  return null;
}

function checkPut(env: ApplyEnv, op: RequestOp): EtcdError | null {
  if (op.request.case !== "requestPut") return null;
  const put = op.request.value;
  if ((put.ignoreValue || put.ignoreLease) && env.reader.get(put.key) === null) return Errors.KeyNotFound;
  if (put.lease !== 0n && !env.hasLease(put.lease)) return Errors.LeaseNotFound;
  return null;
}

function checkRangeRevision(op: RequestOp, rev: bigint, compactRev: bigint): EtcdError | null {
  if (op.request.case !== "requestRange") return null;
  const requested = op.request.value.revision;
  if (requested === 0n) return null;
  if (requested > rev) return Errors.FutureRev;
  if (requested < compactRev) return Errors.Compacted;
  return null;
}

function execute(env: ApplyEnv, w: RevisionWrite, plan: TxnPlan): TxnResponse {
  const responses = plan.ops.map((op, i): ResponseOp => {
    const nested = plan.nested.get(i);
    if (nested !== undefined) return responseOp({ case: "responseTxn", value: execute(env, w, nested) });
    const r = op.request;
    switch (r.case) {
      case "requestRange":
        return responseOp({ case: "responseRange", value: mustSucceed(applyRange(env, w, r.value)) });
      case "requestPut":
        return responseOp({ case: "responsePut", value: mustSucceed(applyPutChecked(env, w, r.value)) });
      case "requestDeleteRange":
        return responseOp({ case: "responseDeleteRange", value: applyDeleteRange(w, r.value) });
      default:
        return responseOp({ case: undefined });
    }
  });
  // etcd leaves a nested txn's header empty; the caller sets the top-level revision.
  return {
    $typeName: "etcdserverpb.TxnResponse",
    header: responseHeader(0n),
    succeeded: plan.succeeded,
    responses,
  };
}

function responseOp(response: ResponseOp["response"]): ResponseOp {
  return { $typeName: "etcdserverpb.ResponseOp", response };
}

/** Ops were checked before executing; an error here means the checks and the ops disagree. */
function mustSucceed<T>(result: T | EtcdError): T {
  if (isEtcdError(result)) throw new Error(`store: txn op failed after its checks passed: ${result.message}`);
  return result;
}
