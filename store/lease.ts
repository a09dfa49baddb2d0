/**
 * Leases in the store: the apply side of LeaseGrant, LeaseRevoke and LeaseCheckpoint, and
 * the reads the lessor and the Lease service need.
 *
 * A lease is a row in `leases` (its granted TTL and the last checkpointed remaining TTL);
 * the keys attached to it are those whose latest revision names it (the key index tracks
 * them), so a put with a lease attaches and a put without one detaches. Expiry is
 * not decided here: time is not deterministic. The leader's lessor decides it and proposes
 * a LeaseRevoke, which every member applies identically.
 */
import type { Database } from "bun:sqlite";
import { Errors, type EtcdError } from "../api/errors.ts";
import type {
  LeaseCheckpointRequest,
  LeaseCheckpointResponse,
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
} from "../proto/gen/etcdserverpb/rpc_pb.ts";
import type { KeyIndex } from "./key_index.ts";
import { responseHeader } from "./responses.ts";
import type { RevisionWrite } from "./writer.ts";

/** etcd's MaxLeaseTTL, in seconds. */
export const MAX_LEASE_TTL = 9_000_000_000n;

/** A lease as stored. */
export interface LeaseRow {
  readonly id: bigint;
  /** The granted TTL in seconds. */
  readonly ttl: bigint;
  /** The last checkpointed remaining TTL in seconds; 0 = none (the full TTL applies). */
  readonly remainingTtl: bigint;
}

/** What an applied lease entry changed, for the lessor's in-memory view. */
export type LeaseChange =
  | { readonly kind: "grant"; readonly id: bigint; readonly ttl: bigint }
  | { readonly kind: "revoke"; readonly id: bigint }
  | { readonly kind: "checkpoint"; readonly id: bigint; readonly remainingTtl: bigint };

/** What the lease handlers touch. */
export interface LeaseApplyDeps {
  readonly db: Database;
  /** Knows the keys attached to each lease. */
  readonly index: KeyIndex;
  readonly revisions: { readonly currentRev: bigint };
  leaseChanged(change: LeaseChange): void;
}

/** Grants a lease with the ID and TTL the proposer chose (the TTL already raised to the minimum). */
export function applyLeaseGrant(
  deps: LeaseApplyDeps,
  req: LeaseGrantRequest,
): LeaseGrantResponse | EtcdError {
  // etcd's lessor.Grant: ID 0 is "no lease", which cannot be granted.
  if (req.ID === 0n) return Errors.LeaseNotFound;
  if (req.TTL > MAX_LEASE_TTL) return Errors.LeaseTTLTooLarge;
  if (leaseRow(deps.db, req.ID) !== null) return Errors.LeaseExist;
  deps.db.query("INSERT INTO leases (id, ttl, remaining_ttl) VALUES (?1, ?2, 0)").run(req.ID, req.TTL);
  deps.leaseChanged({ kind: "grant", id: req.ID, ttl: req.TTL });
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
  w: RevisionWrite,
  req: LeaseRevokeRequest,
): LeaseRevokeResponse | EtcdError {
  if (leaseRow(deps.db, req.ID) === null) return Errors.LeaseNotFound;
  for (const key of deps.index.leaseKeys(req.ID)) w.deleteRange({ kind: "single", key });
  deps.db.query("DELETE FROM leases WHERE id = ?1").run(req.ID);
  deps.leaseChanged({ kind: "revoke", id: req.ID });
  return {
    $typeName: "etcdserverpb.LeaseRevokeResponse",
    header: responseHeader(w.changed() ? w.beginRev + 1n : w.beginRev),
  };
}

/** Records remaining TTLs so a restart or a new leader does not hand out full TTLs again. */
export function applyLeaseCheckpoint(
  deps: LeaseApplyDeps,
  req: LeaseCheckpointRequest,
): LeaseCheckpointResponse {
  const update = deps.db.query("UPDATE leases SET remaining_ttl = ?2 WHERE id = ?1");
  for (const cp of req.checkpoints) {
    // A checkpoint of a lease revoked meanwhile is not an error (etcd ignores it too).
    if (update.run(cp.ID, cp.remainingTTL).changes > 0) {
      deps.leaseChanged({ kind: "checkpoint", id: cp.ID, remainingTtl: cp.remainingTTL });
    }
  }
  return {
    $typeName: "etcdserverpb.LeaseCheckpointResponse",
    header: responseHeader(deps.revisions.currentRev),
  };
}

/** One lease, or null. */
export function leaseRow(db: Database, id: bigint): LeaseRow | null {
  const rows = db.query("SELECT id, ttl, remaining_ttl FROM leases WHERE id = ?1").values(id) as bigint[][];
  return rows.length === 0 ? null : { id: rows[0][0], ttl: rows[0][1], remainingTtl: rows[0][2] };
}

/** Every lease, by ID. */
export function leaseRows(db: Database): LeaseRow[] {
  const rows = db.query("SELECT id, ttl, remaining_ttl FROM leases ORDER BY id").values() as bigint[][];
  return rows.map((r) => ({ id: r[0], ttl: r[1], remainingTtl: r[2] }));
}
