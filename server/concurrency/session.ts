/**
 * The lease a Lock or Election call runs under: the caller's, or (like etcd's server-side
 * concurrency.NewSession with no lease) a fresh one of the default session TTL, orphaned.
 */
import { type EtcdError, isEtcdError } from "../../api/errors.ts";
import type { LeaseGrantRequest, LeaseGrantResponse } from "../../proto/gen/etcdserverpb/rpc_pb.ts";

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
