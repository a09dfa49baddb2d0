import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { Errors } from "../../api/errors.ts";
import {
  RangeRequest_SortOrder as Order,
  RangeRequest_SortTarget as Target,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { Event_EventType } from "../../proto/gen/mvccpb/kv_pb.ts";
import { MvccStore } from "../../store/mvcc.ts";
import { b, del, Driver, machine, put, range, req, s } from "./helpers.ts";

let d: Driver;
beforeEach(() => {
  d = new Driver(MvccStore.open(":memory:"));
});
afterEach(() => d.store.close());

describe("revisions and versions", () => {
  test("a fresh store is at revision 1, never compacted, nothing applied", () => {
    expect(d.store.currentRevision()).toBe(1n);
    expect(d.store.compactRevision()).toBe(-1n);
    expect(d.store.appliedIndex()).toBe(0n);
    expect(d.store.appliedTerm()).toBe(0n);
    expect(d.store.keyCount()).toBe(0);
  });

  test("each put is one revision; create_revision stays, version counts", () => {
    expect(d.put("a", "1").revision).toBe(2n);
    expect(d.put("b", "1").revision).toBe(3n);
    expect(d.put("a", "2").revision).toBe(4n);
    const [kv] = d.get("a").kvs;
    expect([kv.createRevision, kv.modRevision, kv.version, s(kv.value)]).toEqual([2n, 4n, 2n, "2"]);
    expect(d.get("a").header?.revision).toBe(4n);
  });

  test("delete tombstones: version resets and a re-create starts a new generation", () => {
    d.put("a", "1");
    d.put("a", "2");
    expect(d.del("a").revision).toBe(4n);
    expect(d.get("a").kvs).toEqual([]);
    expect(d.get("a").count).toBe(0n);
    d.put("a", "3");
    const [kv] = d.get("a").kvs;
    expect([kv.createRevision, kv.modRevision, kv.version]).toEqual([5n, 5n, 1n]);
  });

  test("a delete that matches nothing does not bump the revision", () => {
    d.put("a", "1");
    const o = d.del("zzz");
    expect(o.revision).toBe(2n);
    expect(o.events).toEqual([]);
    expect(o.response).toMatchObject({ deleted: 0n, header: { revision: 2n } });
    expect(d.store.currentRevision()).toBe(2n);
  });

  test("put returns prev_kv when asked", () => {
    d.put("a", "1", { lease: 0n });
    const o = d.ok(req({ put: put("a", "2", { prevKv: true }) }));
    expect(o.response).toMatchObject({
      header: { revision: 3n },
      prevKv: { key: b("a"), value: b("1"), version: 1n },
    });
    const fresh = d.ok(req({ put: put("new", "x", { prevKv: true }) }));
    expect((fresh.response as { prevKv?: unknown }).prevKv).toBeUndefined();
  });

  test("ignore_value and ignore_lease keep the current ones, and need the key", () => {
    d.put("a", "1");
    d.ok(req({ put: put("a", "", { ignoreValue: true }) }));
    const [kv] = d.get("a").kvs;
    expect([s(kv.value), kv.version]).toEqual(["1", 2n]);
    expect(d.fail(req({ put: put("missing", "", { ignoreValue: true }) }))).toBe(Errors.KeyNotFound);
    expect(d.fail(req({ put: put("missing", "v", { ignoreLease: true }) }))).toBe(Errors.KeyNotFound);
    expect(d.store.currentRevision()).toBe(3n);
  });

  test("a put with an unknown lease fails with LeaseNotFound and changes nothing", () => {
    expect(d.fail(req({ put: put("a", "1", { lease: 42n }) }))).toBe(Errors.LeaseNotFound);
    expect(d.store.currentRevision()).toBe(1n);
    expect(d.get("a").kvs).toEqual([]);
  });

  test("put and delete events: prevKv filled; a delete event carries only key and revision", () => {
    const created = d.put("a", "1");
    expect(created.events.length).toBe(1);
    expect(created.events[0].type).toBe(Event_EventType.PUT);
    expect(created.events[0].prevKv).toBeUndefined();
    const updated = d.put("a", "2");
    expect(updated.events[0].prevKv?.value).toEqual(b("1"));
    const deleted = d.del("a");
    const [ev] = deleted.events;
    expect(ev.type).toBe(Event_EventType.DELETE);
    expect(ev.kv).toMatchObject({ key: b("a"), modRevision: 4n, createRevision: 0n, version: 0n, lease: 0n });
    expect(ev.kv?.value.length).toBe(0);
    expect(ev.prevKv).toMatchObject({ value: b("2"), modRevision: 3n, version: 2n });
  });

  test("delete range returns the count, prev_kvs and one event per key at one revision", () => {
    for (const k of ["a", "b", "c", "d"]) d.put(k, k);
    const o = d.ok(req({ deleteRange: del("b", "d", true) }));
    expect(o.revision).toBe(6n);
    expect(o.response).toMatchObject({ deleted: 2n, header: { revision: 6n } });
    expect((o.response as { prevKvs: { key: Uint8Array }[] }).prevKvs.map((kv) => s(kv.key))).toEqual([
      "b",
      "c",
    ]);
    expect(o.events.map((e) => [s(e.kv!.key), e.kv!.modRevision])).toEqual([["b", 6n], ["c", 6n]]);
    expect(d.keys("a", "\0")).toEqual(["a", "d"]);
    expect(d.ok(req({ deleteRange: del("a", "\0") })).response).toMatchObject({ deleted: 2n });
    expect(d.store.keyCount()).toBe(0);
  });
});

describe("range", () => {
  beforeEach(() => {
    // rev 2..7: a b c d e, then a again
    for (const k of ["a", "b", "c", "d", "e"]) d.put(k, `v${k}`);
    d.put("a", "z");
  });

  test("empty range_end is one key, \\0 is from key, else [key, end)", () => {
    expect(d.keys("b")).toEqual(["b"]);
    expect(d.keys("bb")).toEqual([]);
    expect(d.keys("c", "\0")).toEqual(["c", "d", "e"]);
    expect(d.keys("b", "d")).toEqual(["b", "c"]);
    expect(d.keys("d", "b")).toEqual([]);
    expect(d.keys("\0", "\0")).toEqual(["a", "b", "c", "d", "e"]);
  });

  test("prefix ranges and binary keys compare as unsigned bytes", () => {
    d.put("ab", "1");
    d.put("a\xff", "2");
    expect(d.keys("a", "b")).toEqual(["a", "ab", "a\xff"]);
    const hi = new Uint8Array([0xff, 0x00]);
    d.ok(req({ put: { ...put("x", "v"), key: hi } }));
    const r = d.state.range({ ...range("z", "\0"), key: new Uint8Array([0x80]) });
    expect("kvs" in r && r.kvs.map((kv) => kv.key)).toEqual([hi]);
  });

  test("limit sets more; count is every match", () => {
    const r = d.get("a", "\0", { limit: 2n });
    expect(r.kvs.map((kv) => s(kv.key))).toEqual(["a", "b"]);
    expect([r.more, r.count]).toEqual([true, 5n]);
    const all = d.get("a", "\0", { limit: 5n });
    expect([all.more, all.count, all.kvs.length]).toEqual([false, 5n, 5]);
    const neg = d.get("a", "\0", { limit: -1n });
    expect([neg.more, neg.kvs.length]).toEqual([false, 5]);
  });

  test("count_only and keys_only", () => {
    const c = d.get("a", "\0", { countOnly: true, limit: 1n });
    expect([c.kvs.length, c.count, c.more]).toEqual([0, 5n, false]);
    const k = d.get("a", "c", { keysOnly: true });
    expect(k.kvs.map((kv) => [s(kv.key), kv.value.length, kv.version])).toEqual([["a", 0, 2n], ["b", 0, 1n]]);
  });

  test("sort: target other than KEY with order NONE means ascend", () => {
    const mods = (o: Parameters<Driver["get"]>[2]) => d.get("a", "\0", o).kvs.map((kv) => s(kv.key));
    expect(mods({ sortTarget: Target.MOD })).toEqual(["b", "c", "d", "e", "a"]);
    expect(mods({ sortTarget: Target.MOD, sortOrder: Order.DESCEND })).toEqual(["a", "e", "d", "c", "b"]);
    expect(mods({ sortOrder: Order.DESCEND })).toEqual(["e", "d", "c", "b", "a"]);
    expect(mods({ sortTarget: Target.CREATE, sortOrder: Order.DESCEND })).toEqual(["e", "d", "c", "b", "a"]);
    expect(mods({ sortTarget: Target.VALUE })).toEqual(["b", "c", "d", "e", "a"]);
    // ties (all version 1 but a) keep key order, in either direction
    expect(mods({ sortTarget: Target.VERSION })).toEqual(["b", "c", "d", "e", "a"]);
    expect(mods({ sortTarget: Target.VERSION, sortOrder: Order.DESCEND })).toEqual(["a", "b", "c", "d", "e"]);
  });

  test("sort then limit: more and count refer to the whole match", () => {
    const r = d.get("a", "\0", { sortOrder: Order.DESCEND, limit: 2n });
    expect(r.kvs.map((kv) => s(kv.key))).toEqual(["e", "d"]);
    expect([r.more, r.count]).toEqual([true, 5n]);
  });

  test("mod/create revision filters apply after fetching: count ignores them", () => {
    // a: create 2 mod 7; b 3/3; c 4/4; d 5/5; e 6/6
    const r = d.get("a", "\0", { minModRevision: 4n, maxModRevision: 6n });
    expect(r.kvs.map((kv) => s(kv.key))).toEqual(["c", "d", "e"]);
    expect([r.count, r.more]).toEqual([5n, false]);
    expect(d.keys("a", "\0", { minCreateRevision: 3n, maxCreateRevision: 4n })).toEqual(["b", "c"]);
    const lim = d.get("a", "\0", { minModRevision: 4n, limit: 1n });
    expect(lim.kvs.map((kv) => s(kv.key))).toEqual(["a"]);
    expect([lim.count, lim.more]).toEqual([5n, true]);
    const lim2 = d.get("a", "\0", { minModRevision: 7n, limit: 1n });
    expect([lim2.kvs.length, lim2.count, lim2.more]).toEqual([1, 5n, false]);
  });

  test("historical reads see keys as they were; deleted keys reappear", () => {
    d.del("b");
    expect(d.keys("a", "\0", { revision: 3n })).toEqual(["a", "b"]);
    const [a] = d.get("a", "", { revision: 3n }).kvs;
    expect([s(a.value), a.version, a.modRevision]).toEqual(["va", 1n, 2n]);
    expect(d.keys("a", "\0", { revision: 7n })).toEqual(["a", "b", "c", "d", "e"]);
    expect(d.keys("a", "\0")).toEqual(["a", "c", "d", "e"]);
    const h = d.get("a", "\0", { revision: 5n, limit: 2n });
    expect([h.kvs.length, h.count, h.more, h.header?.revision]).toEqual([2, 4n, true, 8n]);
    expect(d.get("a", "\0", { revision: 7n, countOnly: true }).count).toBe(5n);
    expect(d.get("b", "", { revision: 8n }).kvs).toEqual([]);
  });

  test("a future revision is an error", () => {
    expect(d.state.range(range("a", "", { revision: 8n }))).toBe(Errors.FutureRev);
  });
});

describe("applied index", () => {
  test("persists with the batch across close and reopen", () => {
    const dir = mkdtempSync(join(tmpdir(), "etcdts-store-"));
    const path = `${dir}/db.sqlite`;
    const store = MvccStore.open(path);
    machine(store).applyBatch([
      { index: 1n, term: 1n, request: null },
      { index: 2n, term: 2n, request: req({ put: put("a", "1") }) },
      { index: 5n, term: 2n, request: req({ put: put("b", "1") }) },
    ]);
    store.close();
    const again = MvccStore.open(path);
    expect([again.appliedIndex(), again.appliedTerm(), again.currentRevision()]).toEqual([5n, 2n, 3n]);
    expect(again.keyCount()).toBe(2);
    again.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("an empty entry only advances the applied index", () => {
    const [o] = d.state.applyBatch([{ index: 1n, term: 3n, request: null }]);
    expect(o).toEqual({ ok: true, revision: 1n, response: null, events: [] });
    expect([d.store.appliedIndex(), d.store.appliedTerm(), d.store.currentRevision()]).toEqual([1n, 3n, 1n]);
  });

  test("a batch is atomic: a failure mid-batch leaves the previous state", () => {
    d.put("a", "1");
    expect(() =>
      d.state.applyBatch([
        { index: 2n, term: 1n, request: req({ put: put("b", "1") }) },
        { index: 3n, term: 1n, request: req({ put: put("a", "2") }) },
        { index: 3n, term: 1n, request: req({ put: put("c", "1") }) }, // index repeats: a bug
      ])
    ).toThrow();
    expect([d.store.appliedIndex(), d.store.currentRevision()]).toEqual([1n, 2n]);
    expect(d.keys("a", "\0")).toEqual(["a"]);
    expect(s(d.get("a").kvs[0].value)).toBe("1");
    // and the store keeps working
    expect(d.put("b", "1").revision).toBe(3n);
  });

  test("indexes must increase and terms must not go back", () => {
    d.state.applyBatch([{ index: 4n, term: 2n, request: null }]);
    expect(() => d.state.applyBatch([{ index: 4n, term: 2n, request: null }])).toThrow();
    expect(() => d.state.applyBatch([{ index: 5n, term: 1n, request: null }])).toThrow();
    expect(d.store.appliedIndex()).toBe(4n);
  });

  test("a request refused in apply answers its error without failing the batch", () => {
    // auth enable without a root user: etcd's error, and the next entry still applies.
    const [o, p] = d.apply(req({ authEnable: {} }), req({ put: put("a", "1") }));
    expect(o.ok).toBe(false);
    expect(!o.ok && o.error.message).toBe("etcdserver: root user does not exist");
    expect(p.ok && p.revision).toBe(2n);
  });
});

describe("sizes", () => {
  test("dbSize counts pages; in use excludes the free list", () => {
    const before = d.store.dbSize();
    expect(before).toBeGreaterThan(0);
    for (let i = 0; i < 200; i++) d.put(`k${i}`, "x".repeat(1000));
    expect(d.store.dbSize()).toBeGreaterThan(before);
    expect(d.store.dbSizeInUse()).toBeLessThanOrEqual(d.store.dbSize());
    expect(d.store.keyCount()).toBe(200);
  });
});

describe("a range read in steps", () => {
  test("answers as the whole read does, limits, sorting and counts included, and yields between statements", async () => {
    for (let i = 0; i < 150; i++) d.put(`k/${String(i).padStart(3, "0")}`, "v".repeat(i * 100));
    const requests = [
      range("k/", "k0"),
      range("k/", "k0", { limit: 70n }),
      range("k/", "k0", { sortOrder: Order.DESCEND, sortTarget: Target.VALUE }),
      range("k/", "k0", { keysOnly: true }),
      range("k/001"),
      range("k/", "k0", { countOnly: true }),
    ];
    for (const r of requests) {
      let waits = 0;
      const stepped = await d.state.rangeInSteps(r, () => {
        waits++;
        return Promise.resolve();
      });
      expect(stepped).toEqual(d.state.range(r));
      if (r.key.length === 2 && !r.countOnly && r.limit === 0n) expect(waits).toBeGreaterThan(1);
    }
  });

  test("at a past revision, answers `compacted` when a compaction past it runs while it waits", async () => {
    for (let i = 0; i < 150; i++) d.put(`k/${String(i).padStart(3, "0")}`, "v".repeat(2000));
    const at = d.store.currentRevision();
    for (let i = 0; i < 150; i++) d.put(`k/${String(i).padStart(3, "0")}`, "new");
    let compacted = false;
    const stepped = await d.state.rangeInSteps(range("k/", "k0", { revision: at }), () => {
      if (!compacted) d.ok(req({ compaction: { revision: d.store.currentRevision() } }));
      compacted = true;
      return Promise.resolve();
    });
    expect(compacted).toBe(true);
    expect(stepped).toBe(Errors.Compacted);
  });

  test("answers for the state at its start, whatever is written while it waits", async () => {
    for (let i = 0; i < 40; i++) d.put(`k/${i}`, "old");
    const before = d.state.range(range("k/", "k0"));
    const stepped = d.state.rangeInSteps(range("k/", "k0"), () => {
      d.put("k/0", "new");
      d.put("k/zz", "new");
      return Promise.resolve();
    });
    expect(await stepped).toEqual(before);
  });
});
