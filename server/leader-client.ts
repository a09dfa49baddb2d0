/**
 * Calls the leader on behalf of a follower, for the few requests only the leader can
 * answer (promoting a learner needs the leader's view of its log). The leader is dialled
 * at the client URLs it published through the log.
 */
import { Client } from "../client/client.ts";
import { GrpcError } from "../client/status.ts";
import { Code, Errors, type EtcdError, etcdError } from "../api/errors.ts";
import type { Member } from "./member.ts";
import type { MvccStore } from "../store/mvcc.ts";

/** Runs `call` against the leader; gRPC failures come back as etcd error values. */
export async function callLeader<T>(
  deps: { member: Member; store: MvccStore },
  call: (client: Client) => Promise<T>,
): Promise<T | EtcdError> {
  const lead = deps.member.leaderId;
  if (lead === 0n) return Errors.NoLeader;
  const urls = deps.store.members().find((m) => m.id === lead)?.clientUrls ?? [];
  if (urls.length === 0) return Errors.NoLeader;
  const client = new Client({ endpoints: [...urls], callTimeoutMs: 10_000 });
  try {
    return await call(client);
  } catch (e) {
    if (e instanceof GrpcError && e.code !== 0) return etcdError(e.code as Exclude<Code, 0>, e.message);
    return etcdError(Code.Unavailable, (e as Error).message);
  } finally {
    client.close();
  }
}
