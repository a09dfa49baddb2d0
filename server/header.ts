/** Response headers: every etcd response says which cluster, member, revision and term answered. */
import type { ResponseHeader } from "../proto/gen/etcdserverpb/rpc_pb.ts";

export interface HeaderSource {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  readonly term: bigint;
}

/** A header at `revision` (the store's revision when the request was served). */
export function responseHeader(src: HeaderSource, revision: bigint): ResponseHeader {
  // A literal, not `create()`: every response makes one, and create's reflective
  // initialisation showed in the put profile. Same shape as the generated message.
  return {
    $typeName: "etcdserverpb.ResponseHeader",
    clusterId: src.clusterId,
    memberId: src.memberId,
    revision,
    raftTerm: src.term,
  };
}
