import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MvccStore } from "../../store/mvcc.ts";
import { machine, put, req } from "./helpers.ts";

function withDir(run: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "etcdts-store-commit-"));
  try {
    run(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const entry = (index: bigint, key: string) => ({ index, term: 1n, request: req({ put: put(key, "v") }) });

test("batches are group committed: durableAppliedIndex lags until the commit", () => {
  const store = MvccStore.open(":memory:", { commitIntervalMs: 60_000 });
  machine(store).applyBatch([entry(1n, "a"), entry(2n, "b")]);
  expect([store.appliedIndex(), store.durableAppliedIndex()]).toEqual([2n, 0n]);
  expect(store.keyCount()).toBe(2); // reads see applied, uncommitted batches
  store.flush();
  expect(store.durableAppliedIndex()).toBe(2n);
  store.close();
});

test("commitIntervalMs 0 commits every batch; commitEntries bounds a group", () => {
  const every = MvccStore.open(":memory:", { commitIntervalMs: 0 });
  machine(every).applyBatch([entry(1n, "a")]);
  expect(every.durableAppliedIndex()).toBe(1n);
  every.close();
  const bounded = MvccStore.open(":memory:", { commitIntervalMs: 60_000, commitEntries: 3 });
  machine(bounded).applyBatch([entry(1n, "a"), entry(2n, "b")]);
  expect(bounded.durableAppliedIndex()).toBe(0n);
  machine(bounded).applyBatch([entry(3n, "c")]);
  expect(bounded.durableAppliedIndex()).toBe(3n);
  bounded.close();
});

test("the group commit timer fires on its own", async () => {
  const store = MvccStore.open(":memory:", { commitIntervalMs: 5 });
  machine(store).applyBatch([entry(1n, "a")]);
  await Bun.sleep(30);
  expect(store.durableAppliedIndex()).toBe(1n);
  store.close();
});

test("a failed batch inside an open group rolls back alone", () => {
  const store = MvccStore.open(":memory:", { commitIntervalMs: 60_000 });
  machine(store).applyBatch([entry(1n, "a")]);
  expect(() => machine(store).applyBatch([entry(2n, "b"), entry(2n, "c")])).toThrow();
  store.flush();
  expect([store.appliedIndex(), store.durableAppliedIndex(), store.keyCount()]).toEqual([1n, 1n, 1]);
  store.close();
});

test("a crash loses only what was not committed; reopening resumes at the durable index", () => {
  withDir((dir) => {
    const path = join(dir, "db");
    const child = Bun.spawnSync([
      process.execPath,
      join(import.meta.dir, "fixtures", "apply-then-die.ts"),
      path,
    ]);
    expect(child.exitCode).toBe(0);
    expect(JSON.parse(child.stdout.toString())).toEqual({ applied: "6", durable: "3" });
    const store = MvccStore.open(path);
    expect([store.appliedIndex(), store.currentRevision(), store.keyCount()]).toEqual([3n, 4n, 3]);
    // the log replays from there
    machine(store).applyBatch([entry(4n, "k4"), entry(5n, "k5"), entry(6n, "k6")]);
    expect(store.currentRevision()).toBe(7n);
    store.close();
  });
});
