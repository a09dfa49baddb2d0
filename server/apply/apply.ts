/**
 * Applies one committed request to the store (etcd's applierV3): a dispatch table keyed by
 * request kind, so later work adds a handler without touching the others. The store gives
 * its parts (store/applier.ts); what requests mean and what they are answered is here.
 */
import { Code, type EtcdError, etcdError, isEtcdError } from "../../api/errors.ts";
import type { InternalRaftRequest } from "../../proto/gen/etcdserverpb/raft_internal_pb.ts";
import type {
  AlarmResponse,
  CompactionResponse,
  DeleteRangeResponse,
  LeaseCheckpointResponse,
  LeaseGrantResponse,
  LeaseRevokeResponse,
  PutResponse,
  RangeResponse,
  TxnResponse,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { Event } from "../../proto/gen/mvccpb/kv_pb.ts";
import { AUTH_KINDS, type AuthKind, type AuthResponse, type AuthStore } from "../auth/store.ts";
import type { Applier, ApplyDeps, ApplyOutcome } from "../../store/applier.ts";
import { alarmGate, applyAlarm } from "./alarm.ts";
import { checkCompaction } from "../../store/compaction.ts";
import type { LeaseChange } from "../../store/lease.ts";
import { applyLeaseCheckpoint, applyLeaseGrant, applyLeaseRevoke } from "./lease.ts";
import { applyDeleteRange, type ApplyEnv, applyPut } from "./ops.ts";
import { executeRange } from "./range.ts";
import { setMemberAttributes } from "../../store/members.ts";
import { responseHeader } from "./responses.ts";
import { applyTxn } from "./txn.ts";
import { RevisionWrite } from "../../store/writer.ts";

/** Any reply of an applied request. */
export type Response =
  | PutResponse
  | DeleteRangeResponse
  | TxnResponse
  | CompactionResponse
  | RangeResponse
  | AuthResponse
  | AlarmResponse
  | LeaseGrantResponse
  | LeaseRevokeResponse
  | LeaseCheckpointResponse;

/** The result of applying one request: its reply or error, and its events. */
export type Outcome = ApplyOutcome<Response>;

/** What requests touch besides the store: the auth rules and the lessor's feed. */
export interface ServerParts {
  /** Users, roles and the auth flag (server/auth/store.ts). */
  readonly auth: AuthStore;
  /** Tells the lessor what an applied lease entry changed (in-memory bookkeeping only). */
  leaseChanged(change: LeaseChange): void;
}

/** The request kinds of InternalRaftRequest, in etcd's dispatch order. */
export const REQUEST_KINDS = [
  "range",
  "put",
  "deleteRange",
  "txn",
  "compaction",
  "leaseGrant",
  "leaseRevoke",
  "leaseCheckpoint",
  "alarm",
  ...AUTH_KINDS,
  "memberAttrSet",
] as const satisfies readonly (keyof InternalRaftRequest)[];

/** One kind of request. */
export type RequestKind = typeof REQUEST_KINDS[number];

type Handler<K extends RequestKind> = (
  deps: ApplyDeps,
  req: NonNullable<InternalRaftRequest[K]>,
  parts: ServerParts,
) => Outcome;

/** Handlers by kind; a kind without one is answered Unimplemented. */
const HANDLERS: { [K in RequestKind]?: Handler<K> } = {
  put: (deps, req) => applyWrite(deps, (env, w) => applyPut(env, w, req)),
  deleteRange: (deps, req) => applyWrite(deps, (_env, w) => applyDeleteRange(w, req)),
  txn: (deps, req) => applyWrite(deps, (env, w) => applyTxn(env, w, req)),
  range: (deps, req) => {
    const view = { rev: deps.revisions.currentRev, compactRev: deps.revisions.compactRev };
    return outcome(executeRange(deps.reader, req, view), view.rev, []);
  },
  memberAttrSet: (deps, req) => {
    setMemberAttributes(deps.db, { id: req.memberId, name: req.name, clientUrls: req.clientUrls });
    return outcome(null, deps.revisions.currentRev, []);
  },
  compaction: (deps, req) => {
    const err = checkCompaction(req.revision, deps.revisions);
    if (err !== null) return { ok: false, error: err };
    deps.compact(req.revision);
    deps.revisions.compactRev = req.revision;
    const response: CompactionResponse = {
      $typeName: "etcdserverpb.CompactionResponse",
      header: responseHeader(deps.revisions.currentRev),
    };
    return outcome(response, deps.revisions.currentRev, []);
  },
  ...authHandlers(),
  alarm: (deps, req) => {
    deps.alarms.invalidate();
    return outcome(applyAlarm(deps.db, req, deps.revisions.currentRev), deps.revisions.currentRev, []);
  },
  leaseGrant: (deps, req, parts) =>
    outcome(applyLeaseGrant(deps, parts.leaseChanged, req), deps.revisions.currentRev, []),
  leaseRevoke: (deps, req, parts) =>
    applyWrite(deps, (_env, w) => applyLeaseRevoke(deps, parts.leaseChanged, w, req)),
  leaseCheckpoint: (deps, req, parts) =>
    outcome(applyLeaseCheckpoint(deps, parts.leaseChanged, req), deps.revisions.currentRev, []),
};

/** One handler per auth kind, all served by the AuthStore; they change no key revision. */
function authHandlers(): { [K in AuthKind]: Handler<K> } {
  const out: Partial<Record<AuthKind, Handler<AuthKind>>> = {};
  for (const kind of AUTH_KINDS) {
    out[kind] = (deps, req, parts) =>
      outcome(parts.auth.apply(kind, req, deps.appliedIndex()), deps.revisions.currentRev, []);
  }
  return out as { [K in AuthKind]: Handler<K> };
}

/** Which kind a request is, or null for an empty request (nothing set). */
export function requestKind(req: InternalRaftRequest): RequestKind | null {
  for (const kind of REQUEST_KINDS) {
    if (req[kind] !== undefined) return kind;
  }
  return null;
}

/** The applier of etcd's requests for `MvccStore.applyBatch`. */
export function requestApplier(parts: ServerParts): Applier<InternalRaftRequest, Response> {
  return (deps, req) => applyRequest(deps, parts, req);
}

/** Applies one request inside the store's transaction. */
function applyRequest(deps: ApplyDeps, parts: ServerParts, req: InternalRaftRequest): Outcome {
  const kind = requestKind(req);
  if (kind === null) return outcome(null, deps.revisions.currentRev, []);
  const refused = alarmGate(deps.alarms, req) ?? parts.auth.recheck(req, kind);
  if (refused !== null) return { ok: false, error: refused };
  const handler = HANDLERS[kind] as Handler<typeof kind> | undefined;
  if (handler === undefined) {
    return { ok: false, error: etcdError(Code.Unimplemented, `etcdserver: ${kind} is not implemented`) };
  }
  return handler(deps, req[kind] as NonNullable<InternalRaftRequest[typeof kind]>, parts);
}

/** Runs a mutating request at the next revision and advances the revision if it changed anything. */
function applyWrite<R extends PutResponse | DeleteRangeResponse | TxnResponse | LeaseRevokeResponse>(
  deps: ApplyDeps,
  run: (env: ApplyEnv, w: RevisionWrite) => R | EtcdError,
): Outcome {
  const revs = deps.revisions;
  const w = new RevisionWrite(deps.writeStatements, deps.reader, revs.currentRev);
  const env: ApplyEnv = {
    reader: deps.reader,
    compactRev: revs.compactRev,
    hasLease: (id) => deps.hasLease(id),
  };
  const result = run(env, w);
  if (isEtcdError(result)) {
    // Every error is found before the first change; a partial write would corrupt the revision.
    if (w.changed()) throw new Error("store: a request failed after it changed the store");
    return { ok: false, error: result };
  }
  if (w.changed()) revs.currentRev = w.beginRev + 1n;
  return outcome(result, revs.currentRev, w.events);
}

function outcome(response: Response | null | EtcdError, revision: bigint, events: Event[]): Outcome {
  if (response !== null && isEtcdError(response)) return { ok: false, error: response };
  return { ok: true, revision, response, events };
}
