import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { Errors } from "../../api/errors.ts";
import { MvccStore } from "../../store/mvcc.ts";
import { b, Driver, op, put, range, req, s, txn } from "./helpers.ts";

let d: Driver;
beforeEach(() => {
  d = new Driver(MvccStore.open(":memory:"));
});
afterEach(() => d.store.close());

/**
 * The history replayed on etcd 3.4.23 to record the hashes below:
 * put a 1 (2), put b 2 (3), put a 3 (4), del b (5), txn{put c 4; put d 5} (6),
 * del [c, e) (7), put b 7 (8).
 */
function replayReferenceHistory(): void {
  d.put("a", "1");
  d.put("b", "2");
  d.put("a", "3");
  d.del("b");
  d.ok(req({ txn: txn([], [op.put(put("c", "4")), op.put(put("d", "5"))]) }));
  d.del("c", "e");
  d.put("b", "7");
}

function hash(rev: bigint) {
  const r = d.store.hashKV(rev);
  if ("code" in r) return r;
  return { hash: r.hash, compact: r.compactRevision };
}

describe("HashKV matches etcd 3.4.23 on the same history", () => {
  test("empty store", () => {
    expect(hash(0n)).toEqual({ hash: 1084519789, compact: -1n });
  });

  test("before and after compactions", () => {
    replayReferenceHistory();
    expect(d.store.currentRevision()).toBe(8n);
    expect(hash(0n)).toEqual({ hash: 827181734, compact: -1n });
    expect(hash(1n)).toEqual({ hash: 1084519789, compact: -1n });
    expect(hash(2n)).toEqual({ hash: 2587454935, compact: -1n });
    expect(hash(3n)).toEqual({ hash: 1827592406, compact: -1n });
    expect(hash(5n)).toEqual({ hash: 1125682900, compact: -1n });
    expect(hash(8n)).toEqual({ hash: 827181734, compact: -1n });

    d.ok(req({ compaction: { revision: 4n } }));
    expect(hash(0n)).toEqual({ hash: 839262764, compact: 4n });
    expect(hash(5n)).toEqual({ hash: 1468967122, compact: 4n });
    expect(hash(6n)).toEqual({ hash: 1264284526, compact: 4n });
    expect(hash(9n)).toBe(Errors.FutureRev);
    expect(hash(4n)).toBe(Errors.Compacted);

    d.ok(req({ compaction: { revision: 7n } }));
    expect(hash(0n)).toEqual({ hash: 214508447, compact: 7n });
    expect(hash(7n)).toBe(Errors.Compacted);
    expect(hash(8n)).toEqual({ hash: 214508447, compact: 7n });

    d.del("a", "b"); // rev 9: deletes a only
    d.del("a"); // no-op
    d.ok(req({ compaction: { revision: 9n } }));
    expect(hash(0n)).toEqual({ hash: 3692786499, compact: 9n });
    expect(d.keys("\0", "\0")).toEqual(["b"]);
  });

  test("Maintenance.Hash is deterministic and ignores the applied index", () => {
    replayReferenceHistory();
    const other = new Driver(MvccStore.open(":memory:"));
    other.state.applyBatch([{ index: 10n, term: 1n, request: null }]);
    const [a, b2] = [d, other];
    b2.put("a", "1");
    b2.put("b", "2");
    b2.put("a", "3");
    b2.del("b");
    b2.ok(req({ txn: txn([], [op.put(put("c", "4")), op.put(put("d", "5"))]) }));
    b2.del("c", "e");
    expect(a.store.hash()).not.toBe(b2.store.hash());
    b2.put("b", "7");
    expect(a.store.hash()).toBe(b2.store.hash());
    expect(a.store.appliedIndex()).not.toBe(b2.store.appliedIndex());
    other.store.close();
  });
});

describe("compaction", () => {
  test("errors: future, then already compacted (etcd's order); compaction does not bump the revision", () => {
    d.put("a", "1"); // 2
    d.put("a", "2"); // 3
    expect(d.fail(req({ compaction: { revision: 4n } }))).toBe(Errors.FutureRev);
    const o = d.ok(req({ compaction: { revision: 3n, physical: true } }));
    expect(o.revision).toBe(3n);
    expect(o.response).toMatchObject({ header: { revision: 3n } });
    expect(d.store.compactRevision()).toBe(3n);
    expect(d.fail(req({ compaction: { revision: 3n } }))).toBe(Errors.Compacted);
    expect(d.fail(req({ compaction: { revision: 2n } }))).toBe(Errors.Compacted);
    expect(d.store.currentRevision()).toBe(3n);
  });

  test("reads below the compaction fail; at it and above they see the kept state (observed on etcd)", () => {
    d.put("a", "1"); // 2
    d.put("b", "2"); // 3
    d.put("a", "3"); // 4
    d.del("b"); // 5
    d.ok(req({ compaction: { revision: 4n } }));
    expect(d.state.range(range("a", "", { revision: 3n }))).toBe(Errors.Compacted);
    const at = d.get("a", "\0", { revision: 4n });
    expect(at.kvs.map((kv) => [s(kv.key), s(kv.value), kv.version])).toEqual([["a", "3", 2n], [
      "b",
      "2",
      1n,
    ]]);
    expect(d.keys("a", "\0", { revision: 5n })).toEqual(["a"]);
    expect(d.keys("a", "\0")).toEqual(["a"]);
  });

  test("keeps each key's latest version at the revision unless it is a tombstone", () => {
    d.put("a", "1"); // 2
    d.put("a", "2"); // 3
    d.put("b", "1"); // 4
    d.del("b"); // 5
    d.put("c", "1"); // 6
    d.put("c", "2"); // 7
    d.ok(req({ compaction: { revision: 6n } }));
    // a@3 kept, a@2 gone, b gone entirely, c@6 kept (latest at 6), c@7 above the compaction
    const kept = d.store.eventsSince({
      key: new Uint8Array([0]),
      rangeEnd: new Uint8Array([0]),
      fromRev: 6n,
      toRev: 7n,
      prevKv: false,
    });
    expect(Array.isArray(kept) && kept.map((e) => [s(e.kv!.key), e.kv!.modRevision])).toEqual([["c", 6n], [
      "c",
      7n,
    ]]);
    expect(d.keys("a", "\0", { revision: 6n })).toEqual(["a", "c"]);
    expect(s(d.get("c", "", { revision: 6n }).kvs[0].value)).toBe("1");
    // versions keep counting after compaction
    d.put("a", "3");
    expect(d.get("a").kvs[0]).toMatchObject({ createRevision: 2n, version: 3n, modRevision: 8n });
  });

  test("a tombstone at the compaction revision stays readable as an event until the next compaction", () => {
    d.put("a", "1"); // 2
    d.put("b", "1"); // 3
    d.del("a"); // 4
    d.ok(req({ compaction: { revision: 4n } }));
    const at4 = (from: bigint) =>
      d.store.eventsSince({ key: b("\0"), rangeEnd: b("\0"), fromRev: from, toRev: 5n, prevKv: true });
    // etcd 3.4.23 loses this DELETE (etcd-io/etcd#17780); the previous value is compacted away.
    expect(at4(4n)).toMatchObject([{ kv: { key: b("a"), modRevision: 4n }, prevKv: undefined }]);
    expect(d.keys("\0", "\0", { revision: 4n })).toEqual(["b"]);
    // HashKV still hashes as etcd 3.4.23, without the row: the reference test above compacts at deletes.
    d.put("c", "1"); // 5
    d.ok(req({ compaction: { revision: 5n } }));
    expect(at4(5n)).toMatchObject([{ kv: { key: b("c") } }]);
  });

  test("a re-created key keeps only its new generation", () => {
    d.put("a", "1"); // 2
    d.del("a"); // 3
    d.put("a", "2"); // 4
    d.ok(req({ compaction: { revision: 4n } }));
    expect(d.get("a", "", { revision: 4n }).kvs[0]).toMatchObject({ createRevision: 4n, version: 1n });
    d.del("a"); // 5
    d.ok(req({ compaction: { revision: 5n } }));
    expect(d.keys("\0", "\0", { revision: 5n })).toEqual([]);
    expect(d.store.hashKV(0n)).toMatchObject({ hash: 1084519789, compactRevision: 5n });
  });
});
