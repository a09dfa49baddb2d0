/**
 * Maintenance.MoveLeader: the leader hands leadership to another voting member and
 * answers once that member leads (etcd's MoveLeader; the CLI finds the leader first).
 */
import { create } from "@bufbuild/protobuf";
import { type Maintenance, MoveLeaderResponseSchema } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { ImplOf } from "../grpc/server.ts";
import { responseHeader } from "../header.ts";
import type { Member } from "../member.ts";
import type { MvccStore } from "../../store/mvcc.ts";
import { Errors } from "../../api/errors.ts";

export function moveLeaderService(
  deps: { member: Member; store: MvccStore },
): Pick<ImplOf<typeof Maintenance>, "moveLeader"> {
  return {
    async moveLeader(req) {
      const { member, store } = deps;
      if (!member.isLeader) return Errors.NotLeader;
      const target = store.members().find((m) => m.id === req.targetID);
      if (target === undefined || target.isLearner) return Errors.BadLeaderTransferee;
      const err = await member.transferLeadership(req.targetID);
      if (err !== null) return err;
      return create(MoveLeaderResponseSchema, { header: responseHeader(member, store.currentRevision()) });
    },
  };
}
