/**
 * KV conformance: the same assertions run against etcdts and the real etcd 3.4; both must
 * pass. Each test uses its own key prefix; revisions are asserted relative to the
 * revision the test starts at, so the suite does not depend on test order.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  KV,
  Maintenance,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { Client, type ServiceClient } from "../../client/mod.ts";
import { cleanup, CONFORMANCE_TARGETS, errorOf, type ServerProcess, startServer } from "../harness.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

const targets = CONFORMANCE_TARGETS;

for (const kind of targets) {
  describe(`KV conformance against ${kind}`, () => {
    let server: ServerProcess;
    let client: Client;
    let kv: ServiceClient<typeof KV>;

    beforeAll(async () => {
      server = await startServer(kind);
      client = new Client({ endpoints: [server.endpoint], callTimeoutMs: 10_000 });
      kv = client.service(KV);
    });
    afterAll(async () => {
      client?.close();
      await cleanup();
    });

    async function rev(): Promise<bigint> {
      return (await kv.range({ key: enc("\0rev-probe") })).header!.revision;
    }

    test("a fresh store is at revision 1 and each put makes one revision", async () => {
      const r0 = await rev();
      const p = await kv.put({ key: enc("a/1"), value: enc("v1") });
      expect(p.header!.revision).toBe(r0 + 1n);
      expect(p.header!.clusterId).not.toBe(0n);
      expect(p.header!.memberId).not.toBe(0n);
      const g = await kv.range({ key: enc("a/1") });
      expect(g.count).toBe(1n);
      expect(g.more).toBe(false);
      const kv1 = g.kvs[0];
      expect(dec(kv1.key)).toBe("a/1");
      expect(dec(kv1.value)).toBe("v1");
      expect(kv1.createRevision).toBe(r0 + 1n);
      expect(kv1.modRevision).toBe(r0 + 1n);
      expect(kv1.version).toBe(1n);
      expect(kv1.lease).toBe(0n);
    });

    test("versions count modifications and a delete resets them", async () => {
      const a = await kv.put({ key: enc("b/k"), value: enc("1") });
      await kv.put({ key: enc("b/k"), value: enc("2") });
      const p3 = await kv.put({ key: enc("b/k"), value: enc("3"), prevKv: true });
      expect(dec(p3.prevKv!.value)).toBe("2");
      expect(p3.prevKv!.version).toBe(2n);
      const g = (await kv.range({ key: enc("b/k") })).kvs[0];
      expect(g.version).toBe(3n);
      expect(g.createRevision).toBe(a.header!.revision);
      const d = await kv.deleteRange({ key: enc("b/k"), prevKv: true });
      expect(d.deleted).toBe(1n);
      expect(dec(d.prevKvs[0].value)).toBe("3");
      expect((await kv.range({ key: enc("b/k") })).count).toBe(0n);
      const again = await kv.put({ key: enc("b/k"), value: enc("new") });
      const g2 = (await kv.range({ key: enc("b/k") })).kvs[0];
      expect(g2.version).toBe(1n);
      expect(g2.createRevision).toBe(again.header!.revision);
    });

    test("deleting nothing and reading do not make a revision", async () => {
      const r0 = await rev();
      const d = await kv.deleteRange({ key: enc("nothing/here") });
      expect(d.deleted).toBe(0n);
      expect(d.header!.revision).toBe(r0);
      expect(await rev()).toBe(r0);
    });

    test("ranges: prefix, from-key, limit with more and count, sort, keys-only, count-only", async () => {
      for (const k of ["c/a", "c/b", "c/c", "c/d"]) await kv.put({ key: enc(k), value: enc(`val-${k}`) });
      const all = await kv.range({ key: enc("c/"), rangeEnd: enc("c0") });
      expect(all.kvs.map((x) => dec(x.key))).toEqual(["c/a", "c/b", "c/c", "c/d"]);
      expect(all.count).toBe(4n);
      const lim = await kv.range({ key: enc("c/"), rangeEnd: enc("c0"), limit: 2n });
      expect(lim.kvs.map((x) => dec(x.key))).toEqual(["c/a", "c/b"]);
      expect(lim.more).toBe(true);
      expect(lim.count).toBe(4n);
      const desc = await kv.range({
        key: enc("c/"),
        rangeEnd: enc("c0"),
        sortOrder: RangeRequest_SortOrder.DESCEND,
        sortTarget: RangeRequest_SortTarget.KEY,
        limit: 3n,
      });
      expect(desc.kvs.map((x) => dec(x.key))).toEqual(["c/d", "c/c", "c/b"]);
      const from = await kv.range({ key: enc("c/c"), rangeEnd: new Uint8Array([0]) });
      expect(from.kvs.map((x) => dec(x.key)).slice(0, 2)).toEqual(["c/c", "c/d"]);
      const ko = await kv.range({ key: enc("c/"), rangeEnd: enc("c0"), keysOnly: true });
      expect(ko.kvs[0].value.length).toBe(0);
      expect(ko.kvs[0].version).toBe(1n);
      const co = await kv.range({ key: enc("c/"), rangeEnd: enc("c0"), countOnly: true });
      expect(co.kvs.length).toBe(0);
      expect(co.count).toBe(4n);
    });

    // etcdts reads ranges of 256 keys or more on its read threads once their rows are
    // committed (group commit: within 100 ms); the same answers either way.
    test("ranges of hundreds of keys: all of them, a limit, keys-only, a past revision", async () => {
      const name = (i: number) => `big/${String(i).padStart(4, "0")}`;
      let first = 0n;
      for (let i = 0; i < 700; i += 50) {
        const puts = [];
        for (let j = i; j < i + 50; j++) {
          puts.push(kv.put({ key: enc(name(j)), value: enc(`v${j}`.repeat(j % 9)) }));
        }
        const revs = (await Promise.all(puts)).map((p) => p.header!.revision);
        if (first === 0n) first = revs.reduce((a, b) => (a < b ? a : b));
      }
      const before = await rev();
      await kv.put({ key: enc(name(10)), value: enc("changed") });
      await kv.deleteRange({ key: enc(name(11)) });
      for (const settle of [0, 250]) {
        await Bun.sleep(settle);
        const all = await kv.range({ key: enc("big/"), rangeEnd: enc("big0") });
        expect(all.count).toBe(699n);
        expect(all.more).toBe(false);
        expect(all.kvs.map((x) => dec(x.key))).toEqual(
          [...Array(700).keys()].filter((i) => i !== 11).map(name),
        );
        expect(dec(all.kvs[10].value)).toBe("changed");
        expect(dec(all.kvs[300].value)).toBe(`v301`.repeat(301 % 9));
        expect(all.kvs[300].version).toBe(1n);
        expect(all.kvs[300].createRevision).toBe(all.kvs[300].modRevision);
        expect(all.kvs[300].createRevision).toBeGreaterThanOrEqual(first);
        const lim = await kv.range({ key: enc("big/"), rangeEnd: enc("big0"), limit: 400n });
        expect([lim.kvs.length, lim.more, lim.count]).toEqual([400, true, 699n]);
        expect(dec(lim.kvs[399].key)).toBe(name(400));
        const ko = await kv.range({ key: enc("big/"), rangeEnd: enc("big0"), keysOnly: true });
        expect(ko.kvs.length).toBe(699);
        expect(ko.kvs.every((x) => x.value.length === 0)).toBe(true);
        const then = await kv.range({ key: enc("big/"), rangeEnd: enc("big0"), revision: before });
        expect(then.count).toBe(700n);
        expect(dec(then.kvs[10].value)).toBe(`v10`.repeat(1));
        expect(dec(then.kvs[11].key)).toBe(name(11));
      }
    });

    test("sort by mod revision with no order sorts ascending (etcd's default)", async () => {
      await kv.put({ key: enc("s/2"), value: enc("x") });
      await kv.put({ key: enc("s/1"), value: enc("x") });
      const r = await kv.range({
        key: enc("s/"),
        rangeEnd: enc("s0"),
        sortTarget: RangeRequest_SortTarget.MOD,
      });
      expect(r.kvs.map((x) => dec(x.key))).toEqual(["s/2", "s/1"]);
    });

    test("historical reads, future revisions and compaction", async () => {
      const p1 = await kv.put({ key: enc("h/k"), value: enc("old") });
      await kv.put({ key: enc("h/k"), value: enc("new") });
      const then = await kv.range({ key: enc("h/k"), revision: p1.header!.revision });
      expect(dec(then.kvs[0].value)).toBe("old");
      const cur = await rev();
      const fut = await errorOf(kv.range({ key: enc("h/k"), revision: cur + 10n }));
      expect(fut).toEqual({ code: 11, message: "etcdserver: mvcc: required revision is a future revision" });
      await kv.compact({ revision: p1.header!.revision + 1n, physical: true });
      const gone = await errorOf(kv.range({ key: enc("h/k"), revision: p1.header!.revision }));
      expect(gone).toEqual({ code: 11, message: "etcdserver: mvcc: required revision has been compacted" });
      const again = await errorOf(kv.compact({ revision: p1.header!.revision }));
      expect(again.message).toBe("etcdserver: mvcc: required revision has been compacted");
      const tooNew = await errorOf(kv.compact({ revision: cur + 100n }));
      expect(tooNew.message).toBe("etcdserver: mvcc: required revision is a future revision");
      expect(dec((await kv.range({ key: enc("h/k") })).kvs[0].value)).toBe("new");
    });

    test("txn: compares choose the branch, all ops share one revision", async () => {
      await kv.put({ key: enc("t/a"), value: enc("1") });
      const r0 = await rev();
      const t = await kv.txn({
        compare: [{
          key: enc("t/a"),
          target: Compare_CompareTarget.VALUE,
          result: Compare_CompareResult.EQUAL,
          targetUnion: { case: "value", value: enc("1") },
        }],
        success: [
          { request: { case: "requestPut", value: { key: enc("t/b"), value: enc("2") } } },
          { request: { case: "requestPut", value: { key: enc("t/c"), value: enc("3") } } },
          { request: { case: "requestRange", value: { key: enc("t/b") } } },
        ],
        failure: [{ request: { case: "requestPut", value: { key: enc("t/failed"), value: enc("x") } } }],
      });
      expect(t.succeeded).toBe(true);
      expect(t.header!.revision).toBe(r0 + 1n);
      expect(t.responses.length).toBe(3);
      const read = t.responses[2].response;
      expect(read.case).toBe("responseRange");
      if (read.case === "responseRange") expect(dec(read.value.kvs[0].value)).toBe("2");
      const b = (await kv.range({ key: enc("t/b") })).kvs[0];
      const c = (await kv.range({ key: enc("t/c") })).kvs[0];
      expect(b.modRevision).toBe(r0 + 1n);
      expect(c.modRevision).toBe(r0 + 1n);

      const f = await kv.txn({
        compare: [{
          key: enc("t/missing"),
          target: Compare_CompareTarget.VERSION,
          result: Compare_CompareResult.GREATER,
          targetUnion: { case: "version", value: 0n },
        }],
        success: [],
        failure: [{ request: { case: "requestPut", value: { key: enc("t/failed"), value: enc("x") } } }],
      });
      expect(f.succeeded).toBe(false);
      expect((await kv.range({ key: enc("t/failed") })).count).toBe(1n);
    });

    test("txn errors: duplicate keys and too many operations", async () => {
      const dup = await errorOf(kv.txn({
        success: [
          { request: { case: "requestPut", value: { key: enc("d/x"), value: enc("1") } } },
          { request: { case: "requestPut", value: { key: enc("d/x"), value: enc("2") } } },
        ],
      }));
      expect(dup).toEqual({ code: 3, message: "etcdserver: duplicate key given in txn request" });
      const many = Array.from({ length: 129 }, (_, i) => ({
        request: { case: "requestPut" as const, value: { key: enc(`m/${i}`), value: enc("v") } },
      }));
      const tooMany = await errorOf(kv.txn({ success: many }));
      expect(tooMany).toEqual({ code: 3, message: "etcdserver: too many operations in txn request" });
    });

    test("bad requests get etcd's errors and the server keeps serving", async () => {
      expect(await errorOf(kv.put({ key: new Uint8Array(), value: enc("v") }))).toEqual({
        code: 3,
        message: "etcdserver: key is not provided",
      });
      expect(await errorOf(kv.range({ key: new Uint8Array() }))).toEqual({
        code: 3,
        message: "etcdserver: key is not provided",
      });
      expect(await errorOf(kv.put({ key: enc("iv"), ignoreValue: true, value: enc("x") }))).toEqual({
        code: 3,
        message: "etcdserver: value is provided",
      });
      expect(await errorOf(kv.put({ key: enc("iv/missing"), ignoreValue: true }))).toEqual({
        code: 3,
        message: "etcdserver: key not found",
      });
      expect(await errorOf(kv.put({ key: enc("lease/none"), value: enc("x"), lease: 12345n }))).toEqual({
        code: 5,
        message: "etcdserver: requested lease not found",
      });
      const big = new Uint8Array(1024 * 1024 + 600 * 1024);
      expect(await errorOf(kv.put({ key: enc("big"), value: big }))).toEqual({
        code: 3,
        message: "etcdserver: request is too large",
      });
      const p = await kv.put({ key: enc("still/alive"), value: enc("yes") });
      expect(p.header!.revision).toBeGreaterThan(1n);
    });

    test("ignore_value keeps the value, ignore_lease keeps the lease", async () => {
      await kv.put({ key: enc("ig/k"), value: enc("keep") });
      await kv.put({ key: enc("ig/k"), ignoreValue: true });
      const g = (await kv.range({ key: enc("ig/k") })).kvs[0];
      expect(dec(g.value)).toBe("keep");
      expect(g.version).toBe(2n);
    });

    test("hashKV is stable for the same revision", async () => {
      const m = client.service(Maintenance);
      const r = await rev();
      const h1 = await m.hashKV({ revision: r });
      const h2 = await m.hashKV({ revision: r });
      expect(h1.hash).toBe(h2.hash);
    });
  });
}
