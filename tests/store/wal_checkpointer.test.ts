/**
 * WAL checkpoints on a worker thread (store/wal_checkpointer.ts): the worker copies the
 * WAL into the file while the store writes, the store's commit finishes what it left, and
 * the WAL starts over, so it stays bounded and nothing written is lost.
 */
import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MvccStore } from "../../store/mvcc.ts";
import { Driver } from "./helpers.ts";

const PAGES = 64;

function withDir(run: (path: string) => Promise<void> | void) {
  return async () => {
    const dir = fs.mkdtempSync(join(tmpdir(), "etcdts-wal-checkpoint-"));
    try {
      await run(join(dir, "db"));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
}

const value = "v".repeat(2000); // about a page per put

test(
  "the worker checkpoints, commits finish, the WAL starts over and stays bounded; all is there after a reopen",
  withDir(async (path) => {
    const d = new Driver(MvccStore.open(path, { commitIntervalMs: 0, walCheckpointPages: PAGES }));
    let n = 0;
    // The WAL's size after each commit once a commit has finished a checkpoint.
    const after: number[] = [];
    // Until commits have finished three of the worker's checkpoints (each needs the worker's
    // reply, which arrives between turns).
    while ((d.store.walCheckpoints()?.finished ?? 0) < 3) {
      d.put(`k${n++}`, value);
      if ((d.store.walCheckpoints()?.finished ?? 0) > 0) after.push(fs.statSync(`${path}-wal`).size);
      await new Promise((resolve) => setImmediate(resolve));
      if (n > 20_000) throw new Error(`no checkpoint finished: ${JSON.stringify(d.store.walCheckpoints())}`);
    }
    const counts = d.store.walCheckpoints()!;
    expect(counts.onWorker).toBeGreaterThanOrEqual(counts.finished);
    // The WAL started over: truncated to half the threshold, plus the frames of one put.
    expect(Math.min(...after)).toBeLessThanOrEqual((PAGES / 2 + 8) * 4120);
    expect(Math.max(...after)).toBeGreaterThan(PAGES * 4120);
    d.store.close();
    const db = new Database(path, { readonly: true });
    try {
      expect(db.query("PRAGMA integrity_check").values()).toEqual([["ok"]]);
    } finally {
      db.close();
    }
    const reopened = new Driver(MvccStore.open(path));
    try {
      expect(reopened.get("k", "l").count).toBe(BigInt(n));
    } finally {
      reopened.store.close();
    }
  }),
);

test(
  "without the worker, SQLite checkpoints in the commits",
  withDir((path) => {
    const store = MvccStore.open(path, { checkpointOnWorker: false });
    try {
      expect(store.walCheckpoints()).toBeNull();
    } finally {
      store.close();
    }
  }),
);
