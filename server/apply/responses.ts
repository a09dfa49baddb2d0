/** Response pieces shared by the apply paths. */
import type { ResponseHeader } from "../../proto/gen/etcdserverpb/rpc_pb.ts";

/**
 * A header carrying only the revision: the server fills cluster, member and term at the
 * top level (etcd leaves those zero in responses nested inside a txn).
 */
export function responseHeader(revision: bigint): ResponseHeader {
  return { $typeName: "etcdserverpb.ResponseHeader", clusterId: 0n, memberId: 0n, revision, raftTerm: 0n };
}
