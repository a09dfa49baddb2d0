import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { Errors } from "../../api/errors.ts";
import {
  Compare_CompareResult as R,
  Compare_CompareTarget as T,
  type TxnResponse,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { MvccStore } from "../../store/mvcc.ts";
import { isReadOnly as isTxnReadOnly } from "../../server/apply/txn.ts";
import { b, cmp, del, Driver, op, put, range, req, s, txn } from "./helpers.ts";

let d: Driver;
beforeEach(() => {
  d = new Driver(MvccStore.open(":memory:"));
  d.put("a", "1"); // rev 2
  d.put("b", "2"); // rev 3
  d.put("b", "3"); // rev 4
});
afterEach(() => d.store.close());

function runTxn(t: ReturnType<typeof txn>): TxnResponse {
  return d.ok(req({ txn: t })).response as TxnResponse;
}

describe("compares", () => {
  const holds = (c: ReturnType<typeof cmp>) => runTxn(txn([c], [], [])).succeeded;

  test("every target against an existing key", () => {
    // b: create 3, mod 4, version 2, value "3", lease 0
    expect(
      holds(
        cmp({ key: b("b"), target: T.VERSION, result: R.EQUAL, targetUnion: { case: "version", value: 2n } }),
      ),
    )
      .toBe(true);
    expect(
      holds(
        cmp({
          key: b("b"),
          target: T.CREATE,
          result: R.EQUAL,
          targetUnion: { case: "createRevision", value: 3n },
        }),
      ),
    )
      .toBe(true);
    expect(
      holds(
        cmp({
          key: b("b"),
          target: T.MOD,
          result: R.GREATER,
          targetUnion: { case: "modRevision", value: 3n },
        }),
      ),
    )
      .toBe(true);
    expect(
      holds(
        cmp({ key: b("b"), target: T.MOD, result: R.LESS, targetUnion: { case: "modRevision", value: 4n } }),
      ),
    )
      .toBe(false);
    expect(
      holds(
        cmp({ key: b("b"), target: T.VALUE, result: R.EQUAL, targetUnion: { case: "value", value: b("3") } }),
      ),
    )
      .toBe(true);
    expect(
      holds(
        cmp({
          key: b("b"),
          target: T.VALUE,
          result: R.NOT_EQUAL,
          targetUnion: { case: "value", value: b("3") },
        }),
      ),
    )
      .toBe(false);
    expect(
      holds(
        cmp({
          key: b("b"),
          target: T.VALUE,
          result: R.GREATER,
          targetUnion: { case: "value", value: b("2") },
        }),
      ),
    )
      .toBe(true);
    expect(
      holds(
        cmp({ key: b("b"), target: T.LEASE, result: R.EQUAL, targetUnion: { case: "lease", value: 0n } }),
      ),
    )
      .toBe(true);
  });

  test("a missing key has version, create, mod and lease 0; a VALUE compare on it always fails", () => {
    expect(
      holds(
        cmp({ key: b("x"), target: T.VERSION, result: R.EQUAL, targetUnion: { case: "version", value: 0n } }),
      ),
    )
      .toBe(true);
    expect(
      holds(
        cmp({
          key: b("x"),
          target: T.CREATE,
          result: R.EQUAL,
          targetUnion: { case: "createRevision", value: 0n },
        }),
      ),
    )
      .toBe(true);
    expect(
      holds(
        cmp({ key: b("x"), target: T.MOD, result: R.LESS, targetUnion: { case: "modRevision", value: 1n } }),
      ),
    )
      .toBe(true);
    expect(
      holds(
        cmp({ key: b("x"), target: T.VALUE, result: R.EQUAL, targetUnion: { case: "value", value: b("") } }),
      ),
    )
      .toBe(false);
    expect(
      holds(
        cmp({
          key: b("x"),
          target: T.VALUE,
          result: R.NOT_EQUAL,
          targetUnion: { case: "value", value: b("") },
        }),
      ),
    )
      .toBe(false);
  });

  test("a target union of another kind compares against zero", () => {
    expect(
      holds(
        cmp({
          key: b("b"),
          target: T.VERSION,
          result: R.GREATER,
          targetUnion: { case: "value", value: b("9") },
        }),
      ),
    )
      .toBe(true);
  });

  test("a compare over a range needs every key in it to hold", () => {
    const range = (n: bigint, r: R) =>
      cmp({
        key: b("a"),
        rangeEnd: b("c"),
        target: T.VERSION,
        result: r,
        targetUnion: { case: "version", value: n },
      });
    expect(holds(range(0n, R.GREATER))).toBe(true);
    expect(holds(range(1n, R.EQUAL))).toBe(false); // b has version 2
    expect(holds(range(3n, R.LESS))).toBe(true);
    const empty = cmp({
      key: b("x"),
      rangeEnd: b("y"),
      target: T.VERSION,
      targetUnion: { case: "version", value: 0n },
    });
    expect(holds(empty)).toBe(true);
  });

  test("all compares must hold; none means success", () => {
    const yes = cmp({
      key: b("a"),
      target: T.VERSION,
      result: R.EQUAL,
      targetUnion: { case: "version", value: 1n },
    });
    const no = cmp({
      key: b("a"),
      target: T.VERSION,
      result: R.EQUAL,
      targetUnion: { case: "version", value: 5n },
    });
    expect(runTxn(txn([yes, no], [], [])).succeeded).toBe(false);
    expect(runTxn(txn([], [], [])).succeeded).toBe(true);
  });
});

describe("execution", () => {
  test("a txn with many writes is one revision; sub-responses carry it", () => {
    const o = d.ok(req({ txn: txn([], [op.put(put("x", "1")), op.put(put("y", "2")), op.del(del("a"))]) }));
    expect(o.revision).toBe(5n);
    expect(o.events.map((e) => [s(e.kv!.key), e.kv!.modRevision])).toEqual([["x", 5n], ["y", 5n], ["a", 5n]]);
    const r = o.response as TxnResponse;
    expect(r.header?.revision).toBe(5n);
    expect(r.responses.map((x) => x.response.value?.header?.revision)).toEqual([5n, 5n, 5n]);
    expect(d.store.currentRevision()).toBe(5n);
  });

  test("read-only and no-op txns do not bump the revision", () => {
    const r = runTxn(txn([], [op.range(range("a", "\0"))]));
    expect(r.header?.revision).toBe(4n);
    const noop = d.ok(req({ txn: txn([], [op.del(del("nothing"))]) }));
    expect(noop.revision).toBe(4n);
    expect(noop.events).toEqual([]);
    expect(d.store.currentRevision()).toBe(4n);
  });

  test("reads inside a txn see the txn's own earlier writes, at the txn's revision", () => {
    const r = runTxn(
      txn([], [
        op.range(range("a", "\0")),
        op.put(put("c", "new")),
        op.range(range("a", "\0")),
        op.del(del("a")),
        op.range(range("a", "\0")),
        op.range(range("a", "", { revision: 4n })),
      ]),
    );
    const ranges = r.responses.filter((x) => x.response.case === "responseRange").map((x) =>
      x.response.case === "responseRange" ? x.response.value : null
    );
    expect(ranges.map((x) => x!.kvs.map((kv) => s(kv.key)))).toEqual([
      ["a", "b"],
      ["a", "b", "c"],
      ["b", "c"],
      ["a"],
    ]);
    expect(ranges.map((x) => x!.header?.revision)).toEqual([4n, 5n, 5n, 5n]);
  });

  test("a delete after nothing changed reports the old revision, after a change the new one (like etcd)", () => {
    const r = runTxn(txn([], [op.del(del("nothing")), op.put(put("x", "1")), op.del(del("nothing"))]));
    expect(r.responses.map((x) => x.response.value?.header?.revision)).toEqual([4n, 5n, 5n]);
  });

  test("failure branch runs when a compare fails", () => {
    const c = cmp({
      key: b("a"),
      target: T.VALUE,
      result: R.EQUAL,
      targetUnion: { case: "value", value: b("nope") },
    });
    const r = runTxn(txn([c], [op.put(put("s", "1"))], [op.put(put("f", "1")), op.range(range("f"))]));
    expect(r.succeeded).toBe(false);
    expect(d.keys("f")).toEqual(["f"]);
    expect(d.keys("s")).toEqual([]);
  });

  test("nested txns: compares see the state before the outer txn; empty nested header (observed on etcd 3.4)", () => {
    // Observed on etcd 3.4.23 through the JSON gateway: nested txn response header {},
    // inner put/range headers carry the outer txn's revision.
    const nestedCmp = cmp({
      key: b("y"),
      target: T.VERSION,
      result: R.EQUAL,
      targetUnion: { case: "version", value: 0n },
    });
    const r = runTxn(
      txn([], [
        op.put(put("y", "outer")),
        op.txn(
          txn([nestedCmp], [op.put(put("z", "then")), op.range(range("y"))], [op.put(put("z", "else"))]),
        ),
      ]),
    );
    const nested = r.responses[1].response;
    expect(nested.case).toBe("responseTxn");
    const inner = nested.value as TxnResponse;
    expect(inner.succeeded).toBe(true); // y did not exist when the txn began
    expect(inner.header?.revision).toBe(0n);
    expect(s(d.get("z").kvs[0].value)).toBe("then");
    const innerRange = inner.responses[1].response;
    expect(innerRange.case === "responseRange" && s(innerRange.value.kvs[0].value)).toBe("outer");
    expect(r.header?.revision).toBe(5n);
  });

  test("a lease check fails the whole txn before any op runs", () => {
    const e = d.fail(req({ txn: txn([], [op.put(put("x", "1")), op.put(put("y", "1", { lease: 7n }))]) }));
    expect(e).toBe(Errors.LeaseNotFound);
    expect(d.keys("x")).toEqual([]);
    expect(d.store.currentRevision()).toBe(4n);
  });

  test("ignore_value on a missing key fails the txn; only ops on the taken branch are checked", () => {
    expect(d.fail(req({ txn: txn([], [op.put(put("x", "", { ignoreValue: true }))]) }))).toBe(
      Errors.KeyNotFound,
    );
    const ok = runTxn(
      txn([], [op.put(put("a", "", { ignoreValue: true }))], [op.put(put("x", "", { ignoreLease: true }))]),
    );
    expect(ok.succeeded).toBe(true);
    expect(s(d.get("a").kvs[0].value)).toBe("1");
  });

  test("range revision checks: future and compacted fail the txn", () => {
    expect(d.fail(req({ txn: txn([], [op.range(range("a", "", { revision: 5n }))]) }))).toBe(
      Errors.FutureRev,
    );
    d.ok(req({ compaction: { revision: 3n } }));
    expect(d.fail(req({ txn: txn([], [op.range(range("a", "", { revision: 2n }))]) }))).toBe(
      Errors.Compacted,
    );
    expect(runTxn(txn([], [op.range(range("a", "", { revision: 3n }))])).responses.length).toBe(1);
  });

  test("lease error wins over a range error (etcd checks puts first)", () => {
    const e = d.fail(req({
      txn: txn([], [op.range(range("a", "", { revision: 99n })), op.put(put("y", "1", { lease: 7n }))]),
    }));
    expect(e).toBe(Errors.LeaseNotFound);
  });
});

describe("read-only txns outside the log", () => {
  test("readTxn serves compares and ranges at the current revision without a log entry", () => {
    const c = cmp({
      key: b("a"),
      target: T.VALUE,
      result: R.EQUAL,
      targetUnion: { case: "value", value: b("1") },
    });
    const r = d.state.readTxn(txn([c], [op.range(range("a", "\0"))], [op.range(range("b"))]));
    if ("code" in r) throw new Error(r.message);
    expect(r.succeeded).toBe(true);
    expect(r.header?.revision).toBe(4n);
    const inner = r.responses[0].response;
    expect(inner.case === "responseRange" && inner.value.kvs.map((kv) => s(kv.key))).toEqual(["a", "b"]);
    expect(d.state.readTxn(txn([], [op.range(range("a", "", { revision: 9n }))]))).toBe(Errors.FutureRev);
    expect(() => d.state.readTxn(txn([], [op.put(put("x", "1"))]))).toThrow();
    expect(d.store.appliedIndex()).toBe(3n);
  });

  test("isTxnReadOnly: only ranges in both branches; a nested txn counts as a write (like etcd)", () => {
    expect(isTxnReadOnly(txn([], [op.range(range("a"))], [op.range(range("b"))]))).toBe(true);
    expect(isTxnReadOnly(txn([], [op.range(range("a"))], [op.del(del("b"))]))).toBe(false);
    expect(isTxnReadOnly(txn([], [op.txn(txn([], [op.range(range("a"))]))]))).toBe(false);
  });
});

describe("history of multi-key revisions", () => {
  test("historical reads pick each key's own row within a revision written by one txn", () => {
    d.ok(req({ txn: txn([], [op.put(put("x", "x1")), op.put(put("y", "y1")), op.put(put("z", "z1"))]) })); // 5
    d.ok(req({ txn: txn([], [op.put(put("y", "y2")), op.del(del("x"))]) })); // 6
    const at5 = d.get("x", "\0", { revision: 5n });
    expect(at5.kvs.map((kv) => `${s(kv.key)}=${s(kv.value)}@${kv.modRevision}`)).toEqual([
      "x=x1@5",
      "y=y1@5",
      "z=z1@5",
    ]);
    const at6 = d.get("a", "\0", { revision: 6n, limit: 3n });
    expect(at6.kvs.map((kv) => `${s(kv.key)}=${s(kv.value)}`)).toEqual(["a=1", "b=3", "y=y2"]);
    expect([at6.count, at6.more]).toEqual([4n, true]);
  });
});
