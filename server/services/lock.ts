/**
 * The Lock service (v3lockpb), etcd's concurrency.Mutex run inside the server: the lock
 * key `<name>/<lease hex>` is created with the caller's lease in one txn; waiters hold
 * the lock in create-revision order, each waiting only for its predecessor's deletion.
 * The returned key and header revision are a fencing token: `createRevision(key) == rev`
 * in a txn compare holds exactly while the lock is held.
 */
import { Code, etcdError, isEtcdError } from "../../api/errors.ts";
import type { Lock } from "../../proto/gen/v3lockpb/v3lock_pb.ts";
import type { ImplOf } from "../grpc/server.ts";
import { type Keyspace, Op, rangeAt } from "../concurrency/keyspace.ts";
import { recipePrefix, sessionKey, type SessionLeases } from "../concurrency/session.ts";

/** The Lock service over a keyspace and the lease service (for callers that bring no lease). */
export function lockService(ks: Keyspace, leases: SessionLeases): ImplOf<typeof Lock> {
  return {
    async lock(req, ctx) {
      const lease = await leases.sessionLease(req.lease);
      if (isEtcdError(lease)) return lease;
      const pfx = recipePrefix(req.name);
      const key = sessionKey(pfx, lease);
      const resp = await ks.txnIfCreated(key, 0n, {
        then: [Op.put(key, new Uint8Array(), lease), Op.firstCreated(pfx)],
        else: [Op.get(key), Op.firstCreated(pfx)],
      });
      if (isEtcdError(resp)) return resp;
      // Our own key may exist already: the same session locking again keeps its place.
      const myRev = resp.succeeded ? resp.header!.revision : rangeAt(resp, 0)[0]?.createRevision ?? 0n;
      const owner = rangeAt(resp, 1);
      if (owner.length === 0 || owner[0].createRevision === myRev) {
        return { $typeName: "v3lockpb.LockResponse", header: resp.header, key };
      }
      const header = await ks.waitDeletes(pfx, myRev - 1n, ctx.signal);
      if (header === null) {
        // The caller gave up: leave the queue so those behind us are not stuck.
        await ks.deleteKey(key);
        return etcdError(Code.Canceled, "context canceled");
      }
      return { $typeName: "v3lockpb.LockResponse", header, key };
    },
    async unlock(req) {
      const header = await ks.deleteKey(req.key);
      if (isEtcdError(header)) return header;
      return { $typeName: "v3lockpb.UnlockResponse", header };
    },
  };
}
