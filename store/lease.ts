/**
 * Leases in the store: the rows the lessor and the Lease service read, and what applying a
 * lease entry changed. The apply side of LeaseGrant, LeaseRevoke and LeaseCheckpoint
 * requests is server/apply/lease.ts.
 *
 * A lease is a row in `leases` (its granted TTL and the last checkpointed remaining TTL);
 * the keys attached to it are those whose latest revision names it (the key index tracks
 * them), so a put with a lease attaches and a put without one detaches. Expiry is
 * not decided here: time is not deterministic. The leader's lessor decides it and proposes
 * a LeaseRevoke, which every member applies identically.
 */
import type { Database } from "bun:sqlite";

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

/** Stores a new lease (its ID unused). */
export function insertLease(db: Database, id: bigint, ttl: bigint): void {
  db.query("INSERT INTO leases (id, ttl, remaining_ttl) VALUES (?1, ?2, 0)").run(id, ttl);
}

/** Forgets a lease (its keys are the caller's). */
export function deleteLease(db: Database, id: bigint): void {
  db.query("DELETE FROM leases WHERE id = ?1").run(id);
}

/** Records a lease's remaining TTL; whether the lease exists. */
export function checkpointLease(db: Database, id: bigint, remainingTtl: bigint): boolean {
  return db.query("UPDATE leases SET remaining_ttl = ?2 WHERE id = ?1").run(id, remainingTtl).changes > 0;
}
