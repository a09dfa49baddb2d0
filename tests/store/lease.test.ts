/**
 * Leases in the store: what grant, revoke and checkpoint entries do when applied, the
 * same on every member.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { Errors } from "../../api/errors.ts";
import type { LeaseChange } from "../../store/lease.ts";
import { MvccStore } from "../../store/mvcc.ts";
import { Driver, put, req, s } from "./helpers.ts";

let d: Driver;
let changes: LeaseChange[];
beforeEach(() => {
  d = new Driver(MvccStore.open(":memory:"));
  changes = [];
  d.state.onLeaseChange((c) => changes.push(c));
});
afterEach(() => d.store.close());

test("grant records the lease without a new revision; duplicates and ID 0 are refused", () => {
  const o = d.ok(req({ leaseGrant: { ID: 7n, TTL: 10n } }));
  expect(o.revision).toBe(1n);
  expect(d.store.leases()).toEqual([{ id: 7n, ttl: 10n, remainingTtl: 0n }]);
  expect(d.fail(req({ leaseGrant: { ID: 7n, TTL: 10n } }))).toBe(Errors.LeaseExist);
  expect(d.fail(req({ leaseGrant: { ID: 0n, TTL: 10n } }))).toBe(Errors.LeaseNotFound);
  expect(d.fail(req({ leaseGrant: { ID: 8n, TTL: 9_000_000_001n } }))).toBe(Errors.LeaseTTLTooLarge);
  expect(changes).toEqual([{ kind: "grant", id: 7n, ttl: 10n }]);
});

test("puts attach and detach; revoke deletes the attached keys in one revision, in key order", () => {
  d.ok(req({ leaseGrant: { ID: 7n, TTL: 10n } }));
  d.put("b", "1", { lease: 7n });
  d.put("a", "1", { lease: 7n });
  d.put("c", "1", { lease: 7n });
  d.put("c", "2");
  expect(d.store.leaseKeys(7n).map(s)).toEqual(["a", "b"]);
  const o = d.ok(req({ leaseRevoke: { ID: 7n } }));
  expect(o.revision).toBe(6n);
  expect(o.events.map((e) => [e.type, s(e.kv!.key), e.kv!.modRevision])).toEqual([[1, "a", 6n], [
    1,
    "b",
    6n,
  ]]);
  expect(d.store.leases()).toEqual([]);
  expect(d.fail(req({ leaseRevoke: { ID: 7n } }))).toBe(Errors.LeaseNotFound);
  expect(d.fail(req({ put: put("d", "1", { lease: 7n }) }))).toBe(Errors.LeaseNotFound);
});

test("revoking a lease without keys changes no revision", () => {
  d.ok(req({ leaseGrant: { ID: 7n, TTL: 10n } }));
  expect(d.ok(req({ leaseRevoke: { ID: 7n } })).revision).toBe(1n);
});

test("checkpoints persist the remaining TTL; a revoked lease's checkpoint is ignored", () => {
  d.ok(req({ leaseGrant: { ID: 7n, TTL: 100n } }));
  d.ok(
    req({ leaseCheckpoint: { checkpoints: [{ ID: 7n, remainingTTL: 42n }, { ID: 9n, remainingTTL: 1n }] } }),
  );
  expect(d.store.leases()).toEqual([{ id: 7n, ttl: 100n, remainingTtl: 42n }]);
  expect(changes.at(-1)).toEqual({ kind: "checkpoint", id: 7n, remainingTtl: 42n });
});
