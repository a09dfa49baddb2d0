/** The Cluster service: membership as this member knows it. */
import { create } from "@bufbuild/protobuf";
import { type Cluster, type Member as MemberMsg, MemberSchema } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { ImplOf } from "../grpc/server.ts";
import { responseHeader } from "../header.ts";
import type { Member } from "../member.ts";
import type { MvccStore } from "../../store/mvcc.ts";

export interface ClusterDeps {
  readonly member: Member;
  readonly store: MvccStore;
  /** The members as configured, until membership changes go through the log. */
  readonly members: () => MemberMsg[];
}

export function clusterService(deps: ClusterDeps): Partial<ImplOf<typeof Cluster>> {
  return {
    memberList() {
      return {
        $typeName: "etcdserverpb.MemberListResponse",
        // etcd's Cluster responses carry no revision (its ClusterServer header leaves it out).
        header: responseHeader(deps.member, 0n),
        members: deps.members(),
      };
    },
  };
}

export function memberMessage(
  m: { id: bigint; name: string; peerUrls: readonly string[]; clientUrls: readonly string[] },
): MemberMsg {
  return create(MemberSchema, {
    ID: m.id,
    name: m.name,
    peerURLs: [...m.peerUrls],
    clientURLs: [...m.clientUrls],
  });
}
