/**
 * What requests make of the alarms: AlarmRequest applied as etcd's applierV3backend.Alarm
 * does, and the apply-time gate. While NOSPACE is raised the store refuses what would grow
 * it; while CORRUPT is raised it refuses all KV and lease requests (etcd's capped and
 * corrupt appliers). The gate reads the alarms of the state being applied, so it is
 * deterministic.
 */
import type { Database } from "bun:sqlite";
import { Errors, type EtcdError } from "../../api/errors.ts";
import type { InternalRaftRequest } from "../../proto/gen/etcdserverpb/raft_internal_pb.ts";
import {
  type AlarmMember,
  type AlarmRequest,
  AlarmRequest_AlarmAction,
  type AlarmResponse,
  AlarmType,
  type RequestOp,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import {
  clearAlarm,
  listAlarms,
  raiseAlarm,
  type RaisedAlarm,
  type RaisedAlarms,
} from "../../store/alarm.ts";
import { responseHeader } from "./responses.ts";

function alarmMember(a: RaisedAlarm): AlarmMember {
  return { $typeName: "etcdserverpb.AlarmMember", memberID: a.memberID, alarm: a.alarm as AlarmType };
}

/** Applies an AlarmRequest (GET, ACTIVATE, DEACTIVATE) as etcd's applierV3backend.Alarm does. */
export function applyAlarm(db: Database, req: AlarmRequest, revision: bigint): AlarmResponse {
  const resp: AlarmResponse = {
    $typeName: "etcdserverpb.AlarmResponse",
    header: responseHeader(revision),
    alarms: [],
  };
  const raised = { memberID: req.memberID, alarm: req.alarm };
  switch (req.action) {
    case AlarmRequest_AlarmAction.GET:
      resp.alarms = listAlarms(db, req.alarm).map(alarmMember);
      break;
    case AlarmRequest_AlarmAction.ACTIVATE:
      // etcd answers the alarm even when it was already raised; NONE is not an alarm.
      if (req.alarm === AlarmType.NONE) break;
      raiseAlarm(db, req.memberID, req.alarm);
      resp.alarms.push(alarmMember(raised));
      break;
    case AlarmRequest_AlarmAction.DEACTIVATE: {
      if (clearAlarm(db, req.memberID, req.alarm)) resp.alarms.push(alarmMember(raised));
      break;
    }
  }
  return resp;
}

/** etcd's quota cost rule: a txn costs if any branch (here also a nested one) puts. */
export function txnPuts(ops: readonly RequestOp[]): boolean {
  return ops.some((op) =>
    op.request.case === "requestPut" ||
    (op.request.case === "requestTxn" &&
      (txnPuts(op.request.value.success) || txnPuts(op.request.value.failure)))
  );
}

/** Whether a request would grow the store (what NOSPACE refuses). */
export function growsStore(req: InternalRaftRequest): boolean {
  if (req.put !== undefined || req.leaseGrant !== undefined) return true;
  return req.txn !== undefined && (txnPuts(req.txn.success) || txnPuts(req.txn.failure));
}

const CORRUPT_REFUSES = [
  "put",
  "range",
  "deleteRange",
  "txn",
  "compaction",
  "leaseGrant",
  "leaseRevoke",
] as const;

/**
 * The error a raised alarm makes of `req` at apply time, or null: CORRUPT refuses KV and
 * lease requests, NOSPACE refuses those that grow the store.
 */
export function alarmGate(raised: RaisedAlarms, req: InternalRaftRequest): EtcdError | null {
  if (req.alarm !== undefined) return null;
  const types = raised.types();
  if (types.size === 0) return null;
  if (types.has(AlarmType.CORRUPT) && CORRUPT_REFUSES.some((k) => req[k] !== undefined)) {
    return Errors.Corrupt;
  }
  if (types.has(AlarmType.NOSPACE) && growsStore(req)) return Errors.NoSpace;
  return null;
}
