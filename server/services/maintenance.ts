/** The Maintenance service: status, hashes, alarms, snapshots and defrag of this member. */
import { create } from "@bufbuild/protobuf";
import {
  type AlarmResponse,
  AlarmType,
  DefragmentResponseSchema,
  HashKVResponseSchema,
  HashResponseSchema,
  type Maintenance,
  StatusResponseSchema,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { InternalRaftRequestSchema } from "../../proto/gen/etcdserverpb/raft_internal_pb.ts";
import type { ImplOf } from "../grpc/server.ts";
import { responseHeader } from "../header.ts";
import type { Member } from "../member.ts";
import type { MvccStore, RaisedAlarm } from "../../store/mvcc.ts";
import { ChecksumMismatch, corruptStoreError } from "../../store/checksum.ts";
import { Code, Errors, etcdError, isEtcdError } from "../../api/errors.ts";
import { SERVER_VERSION } from "../../api/version.ts";
import { Defragmenter } from "../defrag.ts";
import { streamSnapshot } from "../snapshot_stream.ts";
import { stamped } from "../auth/stamp.ts";

export interface MaintenanceDeps {
  readonly member: Member;
  readonly store: MvccStore;
  readonly quotaBackendBytes: number;
  /** Shared with whoever else defragments this store; one is made if absent. */
  readonly defragmenter?: Defragmenter;
  /**
   * Called as a snapshot's bytes go out: a stream is one request, and without this the idle
   * collector took a long send for idleness and ran a full collection in the middle of it
   * (300k keys just loaded: the send took 0.93-1.25 s with it, 0.71-1.0 s without).
   */
  readonly busy?: () => void;
}

/** gogo/protobuf's compact text of an AlarmMember, as etcd puts it in Status.errors. */
export function alarmText(a: RaisedAlarm): string {
  return `memberID:${a.memberID} alarm:${AlarmType[a.alarm]} `;
}

export function maintenanceService(deps: MaintenanceDeps): Partial<ImplOf<typeof Maintenance>> {
  const { member, store } = deps;
  const defrag = deps.defragmenter ?? new Defragmenter(store);
  const header = () => responseHeader(member, store.currentRevision());
  return {
    status() {
      const errors: string[] = [];
      if (member.leaderId === 0n) errors.push(Errors.NoLeader.message);
      for (const a of store.alarms()) errors.push(alarmText(a));
      return create(StatusResponseSchema, {
        header: header(),
        version: SERVER_VERSION,
        dbSize: BigInt(store.dbSize()),
        dbSizeInUse: BigInt(store.dbSizeInUse()),
        leader: member.leaderId,
        raftIndex: member.raftIndex,
        raftTerm: member.term,
        raftAppliedIndex: member.appliedIndex,
        errors,
        isLearner: member.isLearner,
        dbSizeQuota: BigInt(deps.quotaBackendBytes),
      });
    },
    // Both read `history` as if compactions were done: waiting for a compaction's pending
    // deletes here spares the loop doing them at once (compaction_deletes.ts).
    async hash() {
      await store.compactionDeleted();
      const hash = store.hash();
      if (isEtcdError(hash)) return hash;
      return create(HashResponseSchema, { header: header(), hash });
    },
    async hashKV(req) {
      await store.compactionDeleted();
      const r = store.hashKV(req.revision);
      if (isEtcdError(r)) return r;
      return create(HashKVResponseSchema, {
        header: header(),
        hash: r.hash,
        compactRevision: r.compactRevision,
        hashRevision: r.hashRevision,
      });
    },
    async alarm(req, ctx) {
      // Stamped: the apply loop checks again that whoever raises or clears an alarm is root.
      const o = await member.propose(stamped(create(InternalRaftRequestSchema, { alarm: req }), ctx));
      if (isEtcdError(o)) return o;
      if (!o.ok) return o.error;
      const resp = o.response as AlarmResponse | null;
      if (resp === null) return etcdError(Code.Internal, "etcdts: alarm apply produced no response");
      resp.header = responseHeader(member, o.revision);
      return resp;
    },
    async defragment() {
      try {
        await defrag.run();
      } catch (e) {
        if (e instanceof ChecksumMismatch) return corruptStoreError(e, "defragment");
        return etcdError(Code.Internal, `etcdserver: defragment failed: ${(e as Error).message}`);
      }
      return create(DefragmentResponseSchema, { header: header() });
    },
    snapshot(_req, out, ctx) {
      return streamSnapshot(store, out, ctx.signal, deps.busy);
    },
  };
}
