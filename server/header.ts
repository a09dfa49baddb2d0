/** Response headers: every etcd response says which cluster, member, revision and term answered. */
import { create } from "@bufbuild/protobuf";
import { type ResponseHeader, ResponseHeaderSchema } from "../proto/gen/etcdserverpb/rpc_pb.ts";

export interface HeaderSource {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  readonly term: bigint;
}

/** A header at `revision` (the store's revision when the request was served). */
export function responseHeader(src: HeaderSource, revision: bigint): ResponseHeader {
  return create(ResponseHeaderSchema, {
    clusterId: src.clusterId,
    memberId: src.memberId,
    revision,
    raftTerm: src.term,
  });
}
