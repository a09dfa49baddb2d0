/**
 * The lease a Lock or Election call runs under: the caller's, or (like etcd's server-side
 * concurrency.NewSession with no lease) a fresh one of the default session TTL, orphaned.
 */
import { type EtcdError, isEtcdError } from "../../api/errors.ts";
import type { LeaseGrantRequest, LeaseGrantResponse } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { bytes, concat } from "./keyspace.ts";

/** concurrency's defaultSessionTTL, in seconds. */
const DEFAULT_SESSION_TTL = 60n;

/** Provides the lease of a recipe call. */
export interface SessionLeases {
  sessionLease(requested: bigint): Promise<bigint | EtcdError>;
}

/** Grants through the Lease service's grant when the caller brings no lease. */
export function sessionLeases(
  grant: (req: LeaseGrantRequest) => Promise<LeaseGrantResponse | EtcdError>,
): SessionLeases {
  return {
    async sessionLease(requested) {
      if (requested !== 0n) return requested;
      const r = await grant({
        $typeName: "etcdserverpb.LeaseGrantRequest",
        ID: 0n,
        TTL: DEFAULT_SESSION_TTL,
      });
      return isEtcdError(r) ? r : r.ID;
    },
  };
}

/**
 * The recipes' key layout, as etcd's concurrency package lays it out: a lock's or an
 * election's contenders live under "name/", each at "name/<its session lease in hex>".
 */
export function recipePrefix(name: Uint8Array): Uint8Array {
  return concat(name, bytes("/"));
}

/** The key a session's contender holds under `prefix`. */
export function sessionKey(prefix: Uint8Array, lease: bigint): Uint8Array {
  return concat(prefix, bytes(lease.toString(16)));
}
