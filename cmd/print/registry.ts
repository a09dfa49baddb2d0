/**
 * Resolves a response's `$typeName` to its descriptor, for the printers that walk or
 * re-encode whole messages (json, protobuf). Loaded only with those printers.
 */
import { createRegistry, type DescMessage } from "@bufbuild/protobuf";
import { file_authpb_auth } from "../../proto/gen/authpb/auth_pb.ts";
import { file_etcdserverpb_rpc } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { file_mvccpb_kv } from "../../proto/gen/mvccpb/kv_pb.ts";

const registry = createRegistry(file_etcdserverpb_rpc, file_mvccpb_kv, file_authpb_auth);

/** The descriptor of one of etcd's message types. */
export function messageDesc(typeName: string): DescMessage {
  const desc = registry.getMessage(typeName);
  if (!desc) throw new Error(`printer: unknown message type ${typeName}`);
  return desc;
}
