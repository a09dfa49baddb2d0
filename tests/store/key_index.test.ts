/**
 * The in-memory key index (store/key_index.ts) on its own, and through the store: its
 * answers must equal a rebuild from `history` and survive rollback and reopen.
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyIndex } from "../../store/key_index.ts";
import { keyRange } from "../../store/keys.ts";
import { MvccStore } from "../../store/mvcc.ts";
import { openDatabase } from "../../store/schema.ts";
import { b, del, Driver, machine, put, range, req, s } from "./helpers.ts";
import { toOlderLayout } from "./history_rows.ts";

const ALL = keyRange(b("\0"), b("\0"));
const everyKey = keyRange(new Uint8Array(0), b("\0"));

/** A seeded generator of ints in [0, n): the same "random" history every run. */
function lcg(seed: number): (n: number) => number {
  let x = seed >>> 0;
  return (n) => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 16) % n;
  };
}

/** Compacts the whole index at `rev` in one walk, inside a batch; the revisions it dropped, as pairs. */
function compactAll(index: KeyIndex, rev: bigint): [number, number][] {
  const dropped: number[] = [];
  expect(index.compact(rev, "", Infinity, dropped, true)).toBeNull();
  const out: [number, number][] = [];
  for (let i = 0; i < dropped.length; i += 2) out.push([dropped[i], dropped[i + 1]]);
  return out;
}

/** An index and the history rows that would rebuild it, written side by side. */
class Twin {
  readonly index = new KeyIndex();
  readonly db = openDatabase(":memory:");
  readonly #insert = this.db.prepare(
    "INSERT INTO history (key, mod_rev, sub, create_rev, version, lease, kv) VALUES (?1, ?2, ?3, 1, ?4, 0, x'')",
  );

  put(key: string, main: number, sub = 0): void {
    this.index.put(b(key), BigInt(main), sub, 0n);
    this.#insert.run(b(key), main, sub, 1);
  }

  tombstone(key: string, main: number, sub = 0): void {
    this.index.tombstone(b(key), BigInt(main), sub);
    this.#insert.run(b(key), main, sub, 0);
  }

  compact(rev: number): void {
    for (const [main, sub] of compactAll(this.index, BigInt(rev))) {
      this.db.run("DELETE FROM history WHERE mod_rev = ?1 AND sub = ?2", [main, sub]);
    }
  }
}

describe("key index", () => {
  test("generations: a tombstone ends one, a put after it starts the next", () => {
    const t = new Twin();
    t.put("a", 2);
    t.put("a", 3);
    t.tombstone("a", 4);
    t.put("a", 6);
    const at = (rev: number) => t.index.existingAt(keyRange(b("a"), new Uint8Array(0)), BigInt(rev));
    expect([1, 2, 3, 4, 5, 6, 7].map(at)).toEqual([[], [[2, 0]], [[3, 0]], [], [], [[6, 0]], [[6, 0]]]);
    expect(t.index.existingBefore(b("a"), 4n)).toEqual([3, 0]);
    expect(t.index.existingBefore(b("a"), 6n)).toBeNull(); // a tombstone before
    expect(t.index.existingBefore(b("a"), 2n)).toBeNull(); // nothing before
    expect(t.index.changedBetween(b("a"), 3n, 5n)).toBe(true);
    expect(t.index.changedBetween(b("a"), 4n, 5n)).toBe(false);
  });

  test("ranges at a revision: key order, tombstones skipped, limit after skipping", () => {
    const t = new Twin();
    t.put("b", 2);
    t.put("a", 3, 0);
    t.put("c", 3, 1);
    t.tombstone("b", 4);
    t.put("\xff", 5);
    expect(t.index.existingAt(ALL, 3n)).toEqual([[3, 0], [2, 0], [3, 1]]);
    expect(t.index.existingAt(ALL, 4n)).toEqual([[3, 0], [3, 1]]);
    expect(t.index.existingAt(ALL, 4n, 1)).toEqual([[3, 0]]);
    expect(t.index.existingAt(keyRange(b("b"), b("c")), 3n)).toEqual([[2, 0]]);
    expect(t.index.existingAt(keyRange(b("c"), b("b")), 3n)).toEqual([]); // end below start
    expect(t.index.countAt(ALL, 5n)).toBe(3);
    expect(t.index.countAt(everyKey, 1n)).toBe(0);
    expect(t.index.anyExistsAt(1n)).toBe(false);
    expect(t.index.anyExistsAt(2n)).toBe(true);
  });

  test("compaction keeps each key's latest revision at or below it, unless a tombstone below it", () => {
    const t = new Twin();
    t.put("a", 2);
    t.put("a", 3);
    t.put("b", 3, 1);
    t.tombstone("b", 4);
    t.put("b", 5);
    t.put("c", 5, 1);
    t.tombstone("c", 6);
    t.put("d", 6, 1);
    t.tombstone("d", 7);
    const sorted = (revs: [number, number][]) => revs.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    // b's tombstone at 4 stays until a later compaction: watchers may resume at 4.
    expect(sorted(compactAll(t.index, 4n))).toEqual([[2, 0], [3, 1]]);
    expect(t.index.existingAt(ALL, 4n)).toEqual([[3, 0]]);
    expect(t.index.existingAt(ALL, 5n)).toEqual([[3, 0], [5, 0], [5, 1]]);
    expect(sorted(compactAll(t.index, 6n))).toEqual([[4, 0], [5, 1]]);
    expect(t.index.size).toBe(4);
    // c's tombstone (6) is below 7 now and goes with the rest of c; d's (7) stays, its put goes.
    expect(sorted(compactAll(t.index, 7n))).toEqual([[6, 0], [6, 1]]);
    expect(t.index.size).toBe(3);
    expect(t.index.existingAt(ALL, 7n)).toEqual([[3, 0], [5, 0]]);
  });

  test("a compaction step between batches refuses to run while a batch's changes are journaled", () => {
    const t = new Twin();
    t.put("a", 2);
    t.put("a", 3);
    expect(() => t.index.compact(3n, "", 10, [], false)).toThrow(/between batches/);
    t.index.release();
    const dropped: number[] = [];
    expect(t.index.compact(3n, "", 10, dropped, false)).toBeNull();
    expect(dropped).toEqual([2, 0]);
    t.index.put(b("b"), 4n, 0, 0n);
    t.index.rollback(); // undoes the put only: the step was not journaled
    expect(t.index.existingAt(ALL, 3n)).toEqual([[3, 0]]);
    expect(t.index.existingAt(ALL, 4n)).toEqual([[3, 0]]);
  });

  test("rollback undoes appends and compactions, newest first", () => {
    const t = new Twin();
    t.put("a", 2);
    t.put("b", 3);
    t.index.release();
    const before = t.index.existingAt(ALL, 10n);
    t.index.put(b("a"), 4n, 0, 7n);
    t.index.tombstone(b("b"), 4n, 1);
    compactAll(t.index, 4n);
    t.index.put(b("c"), 5n, 0, 7n);
    expect(t.index.leaseKeys(7n).map(s)).toEqual(["a", "c"]);
    expect(t.index.existing).toBe(2);
    t.index.rollback();
    expect(t.index.existingAt(ALL, 10n)).toEqual(before);
    expect(t.index.size).toBe(2);
    expect(t.index.existing).toBe(2);
    expect(t.index.leaseKeys(7n)).toEqual([]);
    expect(t.index.existingBefore(b("a"), 10n)).toEqual([2, 0]);
  });

  test("a key looked up and then changed, rolled back or compacted is looked up afresh", () => {
    const t = new Twin();
    expect(t.index.latest(b("a"))).toBeNull();
    t.put("a", 2);
    expect(t.index.latest(b("a"))).toEqual([2, 0]);
    t.put("a", 3, 1);
    expect(t.index.latest(b("a"))).toEqual([3, 1]);
    t.index.release();
    t.index.tombstone(b("a"), 4n, 0); // the index alone: the rebuild below must not see it
    expect(t.index.latest(b("a"))).toBeNull();
    t.index.rollback();
    expect(t.index.latest(b("a"))).toEqual([3, 1]);
    t.index.tombstone(b("a"), 5n, 0);
    t.index.release();
    expect(t.index.latest(b("a"))).toBeNull();
    compactAll(t.index, 6n);
    t.index.put(b("a"), 7n, 0, 0n);
    expect(t.index.latest(b("a"))).toEqual([7, 0]);
    expect(t.index.existingAt(keyRange(b("a"), new Uint8Array(0)), 7n)).toEqual([[7, 0]]);
    expect(t.index.size).toBe(1);
    t.index.reload(t.db); // history holds the puts at 2 and 3 only
    expect(t.index.latest(b("a"))).toEqual([3, 1]);
  });

  test("lease attachments follow each key's latest revision; existing keys are counted", () => {
    const index = new KeyIndex();
    index.put(b("a"), 2n, 0, 5n);
    index.put(b("b"), 2n, 1, 5n);
    index.put(b("c"), 2n, 2, 6n);
    index.put(b("b"), 3n, 0, 0n); // a put without a lease detaches
    index.tombstone(b("c"), 4n, 0);
    index.put(b("\xff"), 4n, 1, 5n);
    expect(index.leaseKeys(5n)).toEqual([b("a"), new Uint8Array([0xc3, 0xbf])]);
    expect(index.leaseKeys(6n)).toEqual([]);
    expect(index.existing).toBe(3);
    expect(index.latest(b("c"))).toBeNull();
    expect(index.latest(b("b"))).toEqual([3, 0]);
    expect(index.existingAt(ALL, null)).toEqual([[2, 0], [3, 0], [4, 1]]);
  });

  test("a rebuild from history answers like the index built incrementally", () => {
    const rnd = lcg(7);
    const t = new Twin();
    const live = new Set<string>();
    const latest = new Map<string, [number, number]>();
    let rev = 1;
    for (let i = 0; i < 400; i++) {
      rev++;
      const subs = 1 + rnd(3);
      const touched = new Set<string>();
      for (let sub = 0; sub < subs; sub++) {
        const k = `k${rnd(20)}`;
        if (touched.has(k)) continue;
        touched.add(k);
        // Looked up first, as a put reads the key's previous version before appending.
        expect(t.index.latest(b(k))).toEqual(live.has(k) ? latest.get(k)! : null);
        if (live.has(k) && rnd(3) === 0) {
          t.tombstone(k, rev, sub);
          live.delete(k);
        } else {
          t.put(k, rev, sub);
          live.add(k);
          latest.set(k, [rev, sub]);
        }
      }
      if (i % 97 === 96) t.compact(rev - 5);
    }
    const rebuilt = KeyIndex.load(t.db);
    expect(rebuilt.size).toBe(t.index.size);
    expect(rebuilt.existing).toBe(t.index.existing);
    expect(rebuilt.existing).toBe(live.size);
    for (let r = rev - 105; r <= rev; r++) {
      expect(rebuilt.existingAt(ALL, BigInt(r))).toEqual(t.index.existingAt(ALL, BigInt(r)));
    }
    // The rebuilt index walked in steps of 3 keys between batches, the other at once: the same.
    const stepped: number[] = [];
    let next: string | null = "";
    while (next !== null) next = rebuilt.compact(BigInt(rev - 50), next, 3, stepped, false);
    const atOnce = compactAll(t.index, BigInt(rev - 50)).flat();
    expect(stepped).toEqual(atOnce);
    expect(rebuilt.size).toBe(t.index.size);
    for (let r = rev - 50; r <= rev; r++) {
      expect(rebuilt.existingAt(ALL, BigInt(r))).toEqual(t.index.existingAt(ALL, BigInt(r)));
    }
  });
});

describe("key index through the store", () => {
  test("historical reads, counts and prevKv are the same after a reopen", () => {
    const dir = mkdtempSync(join(tmpdir(), "etcdts-keyidx-"));
    try {
      const path = join(dir, "db");
      let d = new Driver(MvccStore.open(path, { commitIntervalMs: 0 }));
      const rnd = lcg(11);
      for (let i = 0; i < 300; i++) {
        const k = `k${rnd(30)}`;
        if (rnd(4) === 0) d.ok(req({ deleteRange: del(k) }));
        else d.put(k, `v${i}`);
        if (i === 150) d.ok(req({ compaction: { revision: d.store.currentRevision() - 20n } }));
      }
      const head = d.store.currentRevision();
      const from = d.store.compactRevision();
      const snapshot = (store: MvccStore) => {
        const out: unknown[] = [];
        for (let r = from; r <= head; r++) {
          const resp = machine(store).range(range("k", "l", { revision: r }));
          if ("code" in resp) throw new Error(resp.message);
          out.push(resp.kvs.map((kv) => [s(kv.key), kv.modRevision, kv.version, s(kv.value)]), resp.count);
        }
        const events = store.eventsSince({
          key: b("k"),
          rangeEnd: b("l"),
          fromRev: from,
          toRev: head,
          prevKv: true,
        });
        if ("code" in events) throw new Error(events.message);
        out.push(events.map((e) => [e.type, s(e.kv!.key), e.kv!.modRevision, e.prevKv?.modRevision]));
        out.push(store.hashKV(0n));
        return out;
      };
      const before = snapshot(d.store);
      d.store.close();
      d = new Driver(MvccStore.open(path));
      expect(snapshot(d.store)).toEqual(before);
      d.store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a batch that fails leaves no trace in historical reads", () => {
    const d = new Driver(MvccStore.open(":memory:"));
    d.put("a", "1");
    const rev = d.store.currentRevision();
    let index = d.store.appliedIndex();
    expect(() =>
      d.state.applyBatch([
        { index: ++index, term: 1n, request: req({ put: put("a", "2") }) },
        { index: index, term: 1n, request: req({ put: put("b", "2") }) }, // not increasing: throws
      ])
    ).toThrow();
    expect(d.store.currentRevision()).toBe(rev);
    d.put("c", "3");
    // Revision rev + 1 is c's: had the failed put of a stayed in the index, a would point there.
    expect(d.get("a", "", { revision: rev + 1n }).kvs.map((kv) => [s(kv.value), kv.modRevision])).toEqual([
      ["1", rev],
    ]);
    expect(d.keys("a", "z", { revision: rev + 1n })).toEqual(["a", "c"]);
    d.store.close();
  });

  test("a version 3 file is migrated: the history index is dropped", () => {
    const dir = mkdtempSync(join(tmpdir(), "etcdts-keyidx-"));
    try {
      const path = join(dir, "db");
      const d = new Driver(MvccStore.open(path));
      d.put("a", "1");
      d.put("a", "2");
      d.store.close();
      toOlderLayout(path, 4);
      const db = new Database(path);
      db.run("CREATE INDEX history_by_key ON history (key, mod_rev)");
      db.run("UPDATE meta SET schema_version = 3");
      db.close();
      const again = new Driver(MvccStore.open(path));
      expect(again.get("a", "", { revision: 2n }).kvs.map((kv) => s(kv.value))).toEqual(["1"]);
      again.store.close();
      const check = openDatabase(path);
      expect(check.query("SELECT name FROM sqlite_master WHERE name = 'history_by_key'").all()).toEqual([]);
      check.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
