/** The Maintenance service: status, hashes and alarms of this member. */
import { create } from "@bufbuild/protobuf";
import {
  AlarmResponseSchema,
  HashKVResponseSchema,
  HashResponseSchema,
  type Maintenance,
  StatusResponseSchema,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { ImplOf } from "../grpc/server.ts";
import { responseHeader } from "../header.ts";
import type { Member } from "../member.ts";
import type { MvccStore } from "../../store/mvcc.ts";
import { isEtcdError } from "../../api/errors.ts";
import { SERVER_VERSION } from "../version.ts";

export interface MaintenanceDeps {
  readonly member: Member;
  readonly store: MvccStore;
  readonly quotaBackendBytes: number;
}

export function maintenanceService(deps: MaintenanceDeps): Partial<ImplOf<typeof Maintenance>> {
  const { member, store } = deps;
  const header = () => responseHeader(member, store.currentRevision());
  return {
    status() {
      return create(StatusResponseSchema, {
        header: header(),
        version: SERVER_VERSION,
        dbSize: BigInt(store.dbSize()),
        dbSizeInUse: BigInt(store.dbSizeInUse()),
        leader: member.leaderId,
        raftIndex: member.raftIndex,
        raftTerm: member.term,
        raftAppliedIndex: member.appliedIndex,
        isLearner: false,
        dbSizeQuota: BigInt(deps.quotaBackendBytes),
      });
    },
    hash() {
      return create(HashResponseSchema, { header: header(), hash: store.hash() });
    },
    hashKV(req) {
      const r = store.hashKV(req.revision);
      if (isEtcdError(r)) return r;
      return create(HashKVResponseSchema, {
        header: header(),
        hash: r.hash,
        compactRevision: r.compactRevision,
        hashRevision: r.hashRevision,
      });
    },
    alarm() {
      return create(AlarmResponseSchema, { header: header(), alarms: [] });
    },
  };
}
