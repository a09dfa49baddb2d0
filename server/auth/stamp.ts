/**
 * Stamps a proposal with who the permission guard checked and at which auth revision
 * (etcd's RequestHeader.username/auth_revision), so the apply loop can refuse it if auth
 * changed in between (AuthStore.recheck). Unstamped proposals are the server's own.
 */
import type { InternalRaftRequest } from "../../proto/gen/etcdserverpb/raft_internal_pb.ts";
import type { AuthInfo } from "./tokens.ts";

/** `request`, carrying the caller's identity when the guard recorded one on `ctx`. */
export function stamped(
  request: InternalRaftRequest,
  ctx: { readonly auth?: AuthInfo },
): InternalRaftRequest {
  const who = ctx.auth;
  if (who !== undefined) {
    request.header = {
      $typeName: "etcdserverpb.RequestHeader",
      ID: 0n,
      username: who.username,
      authRevision: who.revision,
    };
  }
  return request;
}
