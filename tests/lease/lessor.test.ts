/**
 * The lessor with a fake clock: only the primary expires leases (by proposing revokes),
 * promotion extends remaining TTLs, renewals refresh them, checkpoints are proposed when due.
 */
import { expect, test } from "bun:test";
import { Errors } from "../../api/errors.ts";
import { Lessor, type LessorProposal } from "../../server/lease/lessor.ts";

function setup(initial = [{ id: 1n, ttl: 10n, remainingTtl: 0n }], checkpointIntervalMs = 0) {
  let now = 1_000_000;
  const proposals: LessorProposal[] = [];
  const lessor = new Lessor({
    initial,
    propose: (p) => proposals.push(p),
    checkpointIntervalMs,
    tickMs: 60_000,
    now: () => now,
  });
  return { lessor, proposals, advance: (ms: number) => (now += ms) };
}

test("a follower never expires anything and refuses renewals", () => {
  const { lessor, proposals, advance } = setup();
  advance(60_000);
  lessor.tick();
  expect(proposals).toEqual([]);
  expect(lessor.renew(1n)).toBe("not-primary");
  lessor.stop();
});

test("the primary gives remaining TTL plus the extension, then proposes one revoke", () => {
  const { lessor, proposals, advance } = setup([{ id: 1n, ttl: 10n, remainingTtl: 4n }]);
  lessor.promote(1000);
  expect(lessor.timeToLive(1n)).toEqual({ grantedTtl: 10n, ttl: 5n });
  advance(4900);
  lessor.tick();
  expect(proposals).toEqual([]);
  advance(200);
  lessor.tick();
  lessor.tick();
  expect(proposals).toEqual([{ kind: "revoke", id: 1n }]);
  lessor.stop();
});

test("renew refreshes the full TTL and clears a checkpoint through the log", async () => {
  const { lessor, proposals, advance } = setup([{ id: 1n, ttl: 10n, remainingTtl: 4n }]);
  lessor.promote(0);
  advance(3000);
  expect(lessor.renew(1n)).toBe(10n);
  expect(proposals).toEqual([{ kind: "checkpoint", checkpoints: [{ id: 1n, remainingTtl: 0n }] }]);
  expect(lessor.timeToLive(1n)!.ttl).toBe(10n);
  expect(lessor.renew(2n)).toBe(Errors.LeaseNotFound);
  // An expired lease's renewal waits for its revoke and then finds nothing.
  advance(11_000);
  const waiting = lessor.renew(1n);
  lessor.applied({ kind: "revoke", id: 1n });
  expect(await waiting).toBe(Errors.LeaseNotFound);
  lessor.stop();
});

test("long leases are checkpointed when the interval passes", () => {
  const { lessor, proposals, advance } = setup([{ id: 1n, ttl: 100n, remainingTtl: 0n }], 5000);
  lessor.promote(0);
  advance(5000);
  lessor.tick();
  expect(proposals).toEqual([{ kind: "checkpoint", checkpoints: [{ id: 1n, remainingTtl: 95n }] }]);
  lessor.stop();
});
