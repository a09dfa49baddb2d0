/**
 * Request checks done before a request is proposed, exactly as etcd's v3rpc does them
 * (etcdserver/api/v3rpc/key.go): the first problem found is the error the client sees.
 * Pure functions; `null` means the request may be proposed.
 */
import { Code, Errors, type EtcdError, etcdError } from "../api/errors.ts";
import {
  type DeleteRangeRequest,
  type PutRequest,
  type RangeRequest,
  RangeRequest_SortOrder as SortOrder,
  RangeRequest_SortTarget as SortTarget,
  type RequestOp,
  type TxnRequest,
} from "../proto/gen/etcdserverpb/rpc_pb.ts";
import { compareBytes } from "../store/keys.ts";
import { MAX_TXN_NESTING } from "./txn_nesting.ts";

/**
 * etcd 3.5's answer to an unknown sort order or target. etcd 3.4 accepted them and then
 * crashed applying an unknown target, so rejecting them up front is the safe reading.
 */
export const InvalidSortOption: EtcdError = etcdError(
  Code.InvalidArgument,
  "etcdserver: invalid sort option",
);

/** etcd's default `--max-txn-ops`. */
export const DEFAULT_MAX_TXN_OPS = 128;

/** A range needs a key and known sort options. */
export function validateRange(req: RangeRequest): EtcdError | null {
  if (req.key.length === 0) return Errors.EmptyKey;
  if (!(req.sortOrder in SortOrder) || !(req.sortTarget in SortTarget)) return InvalidSortOption;
  return null;
}

/** A put needs a key; ignore_value forbids a value and ignore_lease a lease. */
export function validatePut(req: PutRequest): EtcdError | null {
  if (req.key.length === 0) return Errors.EmptyKey;
  if (req.ignoreValue && req.value.length !== 0) return Errors.ValueProvided;
  if (req.ignoreLease && req.lease !== 0n) return Errors.LeaseProvided;
  return null;
}

/** A delete needs a key. */
export function validateDeleteRange(req: DeleteRangeRequest): EtcdError | null {
  if (req.key.length === 0) return Errors.EmptyKey;
  return null;
}

/** Options of `validateTxn`. */
export interface TxnLimits {
  /** Most compares or ops per branch (`--max-txn-ops`); nested txns share the budget. */
  maxTxnOps?: number;
}

/**
 * A txn: sizes and every op first (TooManyOps, EmptyKey, …), then per branch that no key
 * is written twice or both put and deleted (DuplicateKey), nested txns included.
 */
export function validateTxn(req: TxnRequest, limits: TxnLimits = {}): EtcdError | null {
  const err = checkTxn(req, limits.maxTxnOps ?? DEFAULT_MAX_TXN_OPS, 1);
  if (err !== null) return err;
  for (const branch of [req.success, req.failure]) {
    const writes = branchWrites(branch);
    if (!("puts" in writes)) return writes;
  }
  return null;
}

function checkTxn(req: TxnRequest, maxTxnOps: number, depth: number): EtcdError | null {
  const opc = Math.max(req.compare.length, req.success.length, req.failure.length);
  // Our own bound on nesting only matters with a --max-txn-ops of MAX_TXN_NESTING or more.
  if (opc > maxTxnOps || depth > MAX_TXN_NESTING) return Errors.TooManyOps;
  for (const c of req.compare) {
    if (c.key.length === 0) return Errors.EmptyKey;
  }
  // A nested txn may use what this level leaves of the budget.
  for (const op of [...req.success, ...req.failure]) {
    const err = checkOp(op, maxTxnOps - opc, depth);
    if (err !== null) return err;
  }
  return null;
}

function checkOp(op: RequestOp, maxTxnOps: number, depth: number): EtcdError | null {
  const r = op.request;
  switch (r.case) {
    case "requestRange":
      return validateRange(r.value);
    case "requestPut":
      return validatePut(r.value);
    case "requestDeleteRange":
      return validateDeleteRange(r.value);
    case "requestTxn":
      return checkTxn(r.value, maxTxnOps, depth + 1);
    default:
      return Errors.KeyNotFound; // etcd's answer to an empty op
  }
}

/** A deleted interval [begin, end); a single-key delete is [key, key + "\0"). */
interface Deletion {
  readonly begin: Uint8Array;
  readonly end: Uint8Array;
}

/** What a branch writes: put keys (by their latin1 spelling) and deleted intervals. */
interface BranchWrites {
  readonly puts: Map<string, Uint8Array>;
  readonly dels: Deletion[];
}

/**
 * etcd's checkIntervals, in its order: this level's deletes, then each nested txn (its
 * then/else puts may repeat each other, being exclusive, but nothing else; they must not
 * fall in deletes seen so far), then this level's puts against all of it.
 */
function branchWrites(ops: readonly RequestOp[]): BranchWrites | EtcdError {
  const dels: Deletion[] = [];
  for (const op of ops) {
    if (op.request.case !== "requestDeleteRange") continue;
    const { key, rangeEnd } = op.request.value;
    dels.push({ begin: key, end: rangeEnd.length !== 0 ? rangeEnd : successor(key) });
  }
  const puts = new Map<string, Uint8Array>();
  for (const op of ops) {
    if (op.request.case !== "requestTxn") continue;
    const then = branchWrites(op.request.value.success);
    if (!("puts" in then)) return then;
    const otherwise = branchWrites(op.request.value.failure);
    if (!("puts" in otherwise)) return otherwise;
    for (const [k, key] of then.puts) {
      if (puts.has(k) || deleted(dels, key)) return Errors.DuplicateKey;
      puts.set(k, key);
    }
    for (const [k, key] of otherwise.puts) {
      if ((puts.has(k) && !then.puts.has(k)) || deleted(dels, key)) return Errors.DuplicateKey;
      puts.set(k, key);
    }
    dels.push(...then.dels, ...otherwise.dels);
  }
  for (const op of ops) {
    if (op.request.case !== "requestPut") continue;
    const key = op.request.value.key;
    const k = latin1(key);
    if (puts.has(k) || deleted(dels, key)) return Errors.DuplicateKey;
    puts.set(k, key);
  }
  return { puts, dels };
}

/**
 * Whether a deletion covers the key. Like etcd's interval tree this is plain byte order,
 * so a delete with range_end "\0" (from key on) covers nothing here: etcd 3.4 lets a txn
 * put a key inside such a delete.
 */
function deleted(dels: readonly Deletion[], key: Uint8Array): boolean {
  return dels.some((d) => compareBytes(key, d.begin) >= 0 && compareBytes(key, d.end) < 0);
}

function successor(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out.set(key);
  return out;
}

function latin1(bytes: Uint8Array): string {
  let out = "";
  for (const x of bytes) out += String.fromCharCode(x);
  return out;
}
