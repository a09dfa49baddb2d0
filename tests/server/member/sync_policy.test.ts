/**
 * When a Ready's fsync holds the event loop: only while the disk's recent fsyncs are short,
 * or for a lone entry with at most one caller waiting. A slow disk must never stall reads
 * and watch events behind a busy write load.
 */
import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BLOCKING_SYNC_MS, syncsOnLoop } from "../../../server/member/raft_driver.ts";
import { recentSyncAverage, Wal } from "../../../wal/wal.ts";

function averageOf(durations: readonly number[]): number {
  return durations.reduce(recentSyncAverage, Infinity);
}

describe("fsync on the event loop", () => {
  test("a fast disk syncs busy batches on the loop", () => {
    expect(syncsOnLoop(averageOf([0.1, 0.2, 0.15]), 30, 64)).toBe(true);
  });

  test("a slow disk syncs busy batches on the thread pool", () => {
    expect(syncsOnLoop(averageOf([5, 8, 6]), 30, 64)).toBe(false);
    expect(syncsOnLoop(averageOf([5, 8, 6]), 1, 2)).toBe(false);
  });

  test("a lone entry with one caller syncs on the loop whatever the disk", () => {
    expect(syncsOnLoop(averageOf([50]), 1, 1)).toBe(true);
    expect(syncsOnLoop(averageOf([50]), 1, 0)).toBe(true);
  });

  test("before any fsync the disk counts as slow", () => {
    expect(syncsOnLoop(Infinity, 30, 64)).toBe(false);
  });

  test("one slow fsync moves a fast disk off the loop at once", () => {
    const fast = averageOf(Array(100).fill(0.1));
    expect(fast).toBeLessThan(BLOCKING_SYNC_MS);
    expect(recentSyncAverage(fast, 20)).toBeGreaterThanOrEqual(BLOCKING_SYNC_MS);
  });

  test("a slow disk is not taken for fast after one fast fsync", () => {
    const slow = averageOf(Array(100).fill(10));
    expect(recentSyncAverage(slow, 0.1)).toBeGreaterThanOrEqual(BLOCKING_SYNC_MS);
    // ...but is after a run of them: a disk that got faster is used as one.
    expect(averageOf([10, ...Array(20).fill(0.1)])).toBeLessThan(BLOCKING_SYNC_MS);
  });

  test("the log measures its own fsyncs, blocking and on the pool", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "etcdts-sync-policy-"));
    try {
      const wal = Wal.open(dir);
      expect(wal.recentSyncMs).toBe(Infinity);
      const seen: number[] = [];
      wal.observeSync = (s) => seen.push(s);
      const data = new Uint8Array(16);
      wal.save([{ index: 1, term: 1, type: 0, data }], { term: 1, vote: 0n, commit: 0 });
      await wal.sync();
      expect(seen.length).toBe(1);
      // Seconds back to ms: x / 1000 * 1000 need not give x's last bit back.
      expect(wal.recentSyncMs).toBeCloseTo(seen[0] * 1000, 9);
      wal.save([{ index: 2, term: 1, type: 0, data }]);
      wal.syncNow();
      expect(seen.length).toBe(2);
      expect(wal.recentSyncMs).toBeCloseTo(recentSyncAverage(seen[0] * 1000, seen[1] * 1000), 9);
      wal.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
