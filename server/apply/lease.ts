/**
 * The apply side of LeaseGrant, LeaseRevoke and LeaseCheckpoint: requests made into rows of
 * `leases` (store/lease.ts) and their responses.
 */
import type { Database } from "bun:sqlite";
import { Errors, type EtcdError } from "../../api/errors.ts";
import type {
  LeaseCheckpointRequest,
  LeaseCheckpointResponse,
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { KeyIndex } from "../../store/key_index.ts";
import {
  checkpointLease,
  deleteLease,
  insertLease,
  type LeaseChange,
  leaseRow,
  MAX_LEASE_TTL,
} from "../../store/lease.ts";
import { responseHeader } from "./responses.ts";
import type { RevisionWrite } from "../../store/writer.ts";

/** What the lease handlers touch. */
export interface LeaseApplyDeps {
  readonly db: Database;
  /** Knows the keys attached to each lease. */
  readonly index: KeyIndex;
  readonly revisions: { readonly currentRev: bigint };
}

/** Tells the lessor what an applied lease entry changed. */
type Changed = (change: LeaseChange) => void;

/** Grants a lease with the ID and TTL the proposer chose (the TTL already raised to the minimum). */
export function applyLeaseGrant(
  deps: LeaseApplyDeps,
  changed: Changed,
  req: LeaseGrantRequest,
): LeaseGrantResponse | EtcdError {
  // etcd's lessor.Grant: ID 0 is "no lease", which cannot be granted.
  if (req.ID === 0n) return Errors.LeaseNotFound;
  if (req.TTL > MAX_LEASE_TTL) return Errors.LeaseTTLTooLarge;
  if (leaseRow(deps.db, req.ID) !== null) return Errors.LeaseExist;
  insertLease(deps.db, req.ID, req.TTL);
  changed({ kind: "grant", id: req.ID, ttl: req.TTL });
  return {
    $typeName: "etcdserverpb.LeaseGrantResponse",
    header: responseHeader(deps.revisions.currentRev),
    ID: req.ID,
    TTL: req.TTL,
    error: "",
  };
}

/**
 * Revokes a lease: every attached key is deleted in this one revision (in key order, so
 * every member writes the same history), then the lease itself.
 */
export function applyLeaseRevoke(
  deps: LeaseApplyDeps,
  changed: Changed,
  w: RevisionWrite,
  req: LeaseRevokeRequest,
): LeaseRevokeResponse | EtcdError {
  if (leaseRow(deps.db, req.ID) === null) return Errors.LeaseNotFound;
  for (const key of deps.index.leaseKeys(req.ID)) w.deleteRange({ kind: "single", key });
  deleteLease(deps.db, req.ID);
  changed({ kind: "revoke", id: req.ID });
  return {
    $typeName: "etcdserverpb.LeaseRevokeResponse",
    header: responseHeader(w.changed() ? w.beginRev + 1n : w.beginRev),
  };
}

/** Records remaining TTLs so a restart or a new leader does not hand out full TTLs again. */
export function applyLeaseCheckpoint(
  deps: LeaseApplyDeps,
  changed: Changed,
  req: LeaseCheckpointRequest,
): LeaseCheckpointResponse {
  for (const cp of req.checkpoints) {
    // A checkpoint of a lease revoked meanwhile is not an error (etcd ignores it too).
    if (checkpointLease(deps.db, cp.ID, cp.remainingTTL)) {
      changed({ kind: "checkpoint", id: cp.ID, remainingTtl: cp.remainingTTL });
    }
  }
  return {
    $typeName: "etcdserverpb.LeaseCheckpointResponse",
    header: responseHeader(deps.revisions.currentRev),
  };
}
