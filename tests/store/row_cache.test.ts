/**
 * The row cache: what it keeps and drops, and that reads through it answer exactly what
 * the database holds, across writes, deletes, compactions and a store replaced by a copy;
 * and reads taken in steps that the store changes under.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { isEtcdError } from "../../api/errors.ts";
import * as path from "node:path";
import type { KvRow } from "../../store/kv.ts";
import { MvccStore } from "../../store/mvcc.ts";
import { RowCache } from "../../store/row_cache.ts";
import { cleanup, tempDir } from "../harness.ts";
import { b, Driver, op, put, range, req, s, txn } from "./helpers.ts";

afterAll(cleanup);

function row(key: string, rev: number, valueBytes = 10): KvRow {
  return [b(key), BigInt(rev), BigInt(rev), 1n, 0n, new Uint8Array(valueBytes)];
}

describe("RowCache", () => {
  test("keeps rows by revision and forgets them all on clear", () => {
    const c = new RowCache();
    const r = row("a", 5);
    c.add([5, 0], r);
    expect(c.get([5, 0])).toBe(r);
    expect(c.get([5, 1])).toBeUndefined();
    c.clear();
    expect(c.get([5, 0])).toBeUndefined();
    expect(c.size).toEqual({ rows: 0, bytes: 0 });
  });

  test("stays within its budget, dropping the oldest rows first", () => {
    const c = new RowCache(10 * 1024);
    for (let rev = 1; rev <= 100; rev++) c.add([rev, 0], row(`k${rev}`, rev, 100));
    const { rows, bytes } = c.size;
    expect(bytes).toBeLessThanOrEqual(10 * 1024);
    expect(rows).toBeGreaterThan(5);
    expect(c.get([100, 0])).toBeDefined();
    expect(c.get([100 - rows + 1, 0])).toBeDefined();
    expect(c.get([100 - rows, 0])).toBeUndefined();
    expect(c.get([1, 0])).toBeUndefined();
  });

  test("many evictions keep the count right", () => {
    const c = new RowCache(64 * 1024);
    for (let rev = 1; rev <= 50_000; rev++) c.add([rev, 0], row("k", rev, 20));
    let held = 0;
    for (let rev = 1; rev <= 50_000; rev++) if (c.get([rev, 0]) !== undefined) held++;
    expect(held).toBe(c.size.rows);
    expect(c.size.bytes).toBeLessThanOrEqual(64 * 1024);
  });

  test("keeps few of the rows it is given while lookups mostly miss, all again once they hit", () => {
    const c = new RowCache();
    // A window of lookups that all miss: from now on misses are sampled.
    for (let rev = 1; rev <= 4096; rev++) expect(c.get([rev, 0])).toBeUndefined();
    for (let rev = 1; rev <= 4096; rev++) c.add([rev, 0], row("k", rev));
    const sampled = c.size.rows;
    expect(sampled).toBeGreaterThan(0);
    expect(sampled).toBeLessThan(100);
    // A window in which most lookups hit the rows kept: every miss is kept again.
    const kept = Array.from({ length: 4096 }, (_, i) => i + 1).filter((rev) => c.get([rev, 0]) !== undefined);
    for (let i = 0; i < 4096; i++) c.get([kept[i % kept.length], 0]);
    for (let rev = 5000; rev < 5100; rev++) c.add([rev, 0], row("k", rev));
    expect(c.size.rows).toBe(sampled + 100);
  });

  test("does not keep large values, nor revisions it cannot number", () => {
    const c = new RowCache();
    c.add([1, 0], row("big", 1, 100 * 1024));
    c.add([2, 5000], row("deep", 2));
    c.add([2 ** 50, 0], row("far", 3));
    expect(c.size.rows).toBe(0);
  });
});

describe("reads through the row cache", () => {
  /** Every key with its value and revisions, at the head or at `rev`. */
  function dump(d: Driver, rev = 0n): string[] {
    return d.get("\0", "\0", { revision: rev }).kvs.map((kv) =>
      `${s(kv.key)}=${s(kv.value)}@${kv.createRevision}/${kv.modRevision}/${kv.version}`
    );
  }

  test("answer what a store opened afresh reads, after writes, deletes, txns and compactions", () => {
    const file = path.join(tempDir("etcdts-rowcache-"), "db");
    const d = new Driver(MvccStore.open(file));
    let seed = 7;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    // What the keys should hold, to check every read against.
    const model = new Map<string, string>();
    const values = () => d.get("\0", "\0").kvs.map((kv) => `${s(kv.key)}=${s(kv.value)}`);
    const expected = () => [...model].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`);
    let checks = 0;
    for (let i = 0; i < 600; i++) {
      const k = `k${rand(40)}`;
      switch (rand(6)) {
        case 0:
          d.del(k);
          model.delete(k);
          break;
        case 1:
          d.ok(
            req({
              txn: txn([], [op.put(put(k, `t${i}`)), op.put(put(`${k}x`, `u${i}`)), op.range(range(k))]),
            }),
          );
          model.set(k, `t${i}`).set(`${k}x`, `u${i}`);
          break;
        case 2: {
          const target = d.store.currentRevision() - 20n;
          if (target > d.store.compactRevision() && target > 0n) {
            d.ok(req({ compaction: { revision: target } }));
          }
          break;
        }
        default:
          d.put(k, `v${i}`);
          model.set(k, `v${i}`);
      }
      // Reads of single keys and of ranges, which fill the cache as clients' reads would.
      const one = d.get(k).kvs;
      expect(one.length === 0 ? undefined : s(one[0].value)).toBe(model.get(k));
      if (i % 7 === 0) {
        expect(values()).toEqual(expected());
        checks++;
      }
    }
    const head = dump(d);
    const rev = d.store.currentRevision() - 5n;
    const older = dump(d, rev);
    d.store.close();
    const fresh = new Driver(MvccStore.open(file));
    expect(dump(fresh)).toEqual(head);
    expect(dump(fresh, rev)).toEqual(older);
    fresh.store.close();
    expect(checks).toBeGreaterThan(50);
  });

  test("a store replaced by a copy does not answer from the rows it had", () => {
    const dir = tempDir("etcdts-rowcache-copy-");
    // Two stores whose first put lands at the same revision with different values.
    const other = new Driver(MvccStore.open(path.join(dir, "other")));
    other.put("k", "theirs");
    other.store.close();
    const d = new Driver(MvccStore.open(path.join(dir, "mine")));
    d.put("k", "mine");
    expect(d.get("k").kvs[0].modRevision).toBe(2n);
    expect(s(d.get("k").kvs[0].value)).toBe("mine");
    d.store.installCopy(path.join(dir, "other"));
    const kv = d.get("k").kvs[0];
    expect(kv.modRevision).toBe(2n);
    expect(s(kv.value)).toBe("theirs");
    d.store.close();
  });

  test("a read taken in steps across a store replaced under it fails, and caches nothing wrong", async () => {
    const dir = tempDir("etcdts-rowcache-steps-");
    const keys = Array.from({ length: 20 }, (_, i) => `k${String(i).padStart(2, "0")}`);
    // The same revisions, naming the keys in the opposite order.
    const other = new Driver(MvccStore.open(path.join(dir, "other")));
    for (const k of [...keys].reverse()) other.put(k, `theirs-${k}`);
    other.store.close();
    const d = new Driver(MvccStore.open(path.join(dir, "mine")));
    for (const k of keys) d.put(k, `mine-${k}`);
    let steps = 0;
    const read = d.state.rangeInSteps(range("k", "l"), () => {
      if (steps++ === 0) d.store.installCopy(path.join(dir, "other"));
      return null;
    });
    await expect(read).rejects.toThrow("the store changed under the read");
    for (const k of keys) {
      const kvs = d.get(k).kvs;
      expect(kvs.map((kv) => `${s(kv.key)}=${s(kv.value)}`)).toEqual([`${k}=theirs-${k}`]);
    }
    d.store.close();
  });

  test("a read taken in steps that a compaction overtakes answers Compacted", async () => {
    const d = new Driver(MvccStore.open(path.join(tempDir("etcdts-rowcache-compact-"), "db")));
    const keys = Array.from({ length: 40 }, (_, i) => `k${String(i).padStart(2, "0")}`);
    for (const k of keys) d.put(k, `v1-${k}`);
    let steps = 0;
    const answer = await d.state.rangeInSteps(range("k", "l"), () => {
      // Between its first and second statements: every key written again, and the
      // versions the read is at compacted away.
      if (steps++ === 0) {
        for (const k of keys) d.put(k, `v2-${k}`);
        d.ok(req({ compaction: { revision: d.store.currentRevision() } }));
      }
      return null;
    });
    expect(isEtcdError(answer) ? answer.message : answer).toBe(
      "etcdserver: mvcc: required revision has been compacted",
    );
    d.store.close();
  });
});
