/**
 * Watch conformance: the same assertions run against etcdts and the real etcd 3.4; both
 * must pass. Each test uses its own keys; revisions are relative to the test's start.
 * Compaction changes what every later test could replay, so its test runs last.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Event, Event_EventType } from "../../proto/gen/mvccpb/kv_pb.ts";
import {
  type KV,
  WatchCreateRequest_FilterType,
  type WatchResponse,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { Client, ServiceClient } from "../../client/mod.ts";
import { cleanup, CONFORMANCE_TARGETS, type ServerProcess, startServer } from "../harness.ts";
import { connect, dec, enc, type WatchSession } from "./session.ts";

const targets = CONFORMANCE_TARGETS;

/** An event as [type, key, value, mod_revision, prev value or null]. */
function brief(e: Event): [string, string, string, bigint, string | null] {
  return [
    e.type === Event_EventType.PUT ? "PUT" : "DELETE",
    dec(e.kv!.key),
    dec(e.kv!.value),
    e.kv!.modRevision,
    e.prevKv ? dec(e.prevKv.value) : null,
  ];
}

function briefs(r: WatchResponse): ReturnType<typeof brief>[] {
  return r.events.map(brief);
}

for (const kind of targets) {
  describe(`Watch conformance against ${kind}`, () => {
    let server: ServerProcess;
    let client: Client;
    let kv: ServiceClient<typeof KV>;
    let session: () => WatchSession;
    const open: WatchSession[] = [];

    beforeAll(async () => {
      server = await startServer(kind, {
        extraArgs: ["--experimental-watch-progress-notify-interval=200ms"],
      });
      ({ client, kv } = connect(server.endpoint));
      session = () => {
        const s = connect(server.endpoint).session();
        open.push(s);
        return s;
      };
    });
    afterAll(async () => {
      for (const s of open) s.close();
      client?.close();
      await cleanup();
    });

    async function rev(): Promise<bigint> {
      return (await kv.range({ key: enc("\0rev-probe") })).header!.revision;
    }
    async function put(k: string, v: string): Promise<bigint> {
      return (await kv.put({ key: enc(k), value: enc(v) })).header!.revision;
    }

    test("created answers carry ids 0, 1, 2 and the current revision", async () => {
      const s = session();
      const r0 = await rev();
      for (const want of [0n, 1n, 2n]) {
        const c = await s.watch({ key: enc("c/k") });
        expect(c.created).toBe(true);
        expect(c.canceled).toBe(false);
        expect(c.watchId).toBe(want);
        expect(c.header!.revision).toBe(r0);
        expect(c.events.length).toBe(0);
      }
      expect(await s.drainUntilProgress()).toEqual([]);
    });

    test("a put reaches a key watcher once, at its revision, without prev_kv", async () => {
      const s = session();
      await s.watch({ key: enc("p/k") });
      const r1 = await put("p/k", "v1");
      await put("p/other", "x");
      const r2 = await put("p/k", "v2");
      const a = await s.next();
      expect(a.watchId).toBe(0n);
      expect(a.header!.revision).toBe(r1);
      expect(briefs(a)).toEqual([["PUT", "p/k", "v1", r1, null]]);
      expect(a.events[0].kv!.createRevision).toBe(r1);
      expect(a.events[0].kv!.version).toBe(1n);
      const b = await s.next();
      expect(b.header!.revision).toBe(r2);
      expect(briefs(b)).toEqual([["PUT", "p/k", "v2", r2, null]]);
      expect(await s.drainUntilProgress()).toEqual([]);
    });

    test("prev_kv fills the previous pair for updates and deletes, not for creations", async () => {
      const s = session();
      await s.watch({ key: enc("pk/k"), prevKv: true });
      const r1 = await put("pk/k", "a");
      const r2 = await put("pk/k", "b");
      const r3 = (await kv.deleteRange({ key: enc("pk/k") })).header!.revision;
      const got = [await s.next(), await s.next(), await s.next()].map(briefs);
      expect(got).toEqual([
        [["PUT", "pk/k", "a", r1, null]],
        [["PUT", "pk/k", "b", r2, "a"]],
        [["DELETE", "pk/k", "", r3, "b"]],
      ]);
    });

    test("a delete event carries only the key and its revision", async () => {
      const s = session();
      await put("d/k", "v");
      await s.watch({ key: enc("d/k") });
      const r = (await kv.deleteRange({ key: enc("d/k") })).header!.revision;
      const e = (await s.next()).events[0];
      expect(e.type).toBe(Event_EventType.DELETE);
      expect(e.kv!.modRevision).toBe(r);
      expect(e.kv!.createRevision).toBe(0n);
      expect(e.kv!.version).toBe(0n);
      expect(e.kv!.value.length).toBe(0);
    });

    test("prefix and from-key ranges", async () => {
      const s = session();
      await s.watch({ key: enc("r/"), rangeEnd: enc("r0") });
      await s.watch({ key: enc("r/m"), rangeEnd: new Uint8Array([0]) });
      const r1 = await put("r/a", "1");
      const r2 = await put("r/z", "2");
      await put("q", "not watched");
      // Order between watchers within one revision is not defined; within a watcher it is.
      const got: unknown[][] = (await s.drainUntilProgress()).map((r) => [r.watchId, ...briefs(r)]);
      got.sort(byRevThenId);
      const want: unknown[][] = [
        [0n, ["PUT", "r/a", "1", r1, null]],
        [0n, ["PUT", "r/z", "2", r2, null]],
        [1n, ["PUT", "r/z", "2", r2, null]],
      ];
      expect(got).toEqual(want.sort(byRevThenId));
    });

    test("all events of a txn arrive together in one response", async () => {
      const s = session();
      await s.watch({ key: enc("t/"), rangeEnd: enc("t0") });
      const r = await kv.txn({
        success: [
          { request: { case: "requestPut", value: { key: enc("t/b"), value: enc("2") } } },
          { request: { case: "requestPut", value: { key: enc("t/a"), value: enc("1") } } },
        ],
      });
      const rev = r.header!.revision;
      const got = await s.next();
      expect(got.header!.revision).toBe(rev);
      expect(briefs(got)).toEqual([["PUT", "t/b", "2", rev, null], ["PUT", "t/a", "1", rev, null]]);
    });

    test("filters drop puts or deletes, and a revision with nothing left sends nothing", async () => {
      const s = session();
      await s.watch({ key: enc("f/k"), filters: [WatchCreateRequest_FilterType.NOPUT] });
      await s.watch({ key: enc("f/k"), filters: [WatchCreateRequest_FilterType.NODELETE] });
      const r1 = await put("f/k", "v");
      const r2 = (await kv.deleteRange({ key: enc("f/k") })).header!.revision;
      const got = (await s.drainUntilProgress()).map((r) => [r.watchId, ...briefs(r)]);
      expect(got).toEqual([[1n, ["PUT", "f/k", "v", r1, null]], [0n, ["DELETE", "f/k", "", r2, null]]]);
    });

    test("start_revision replays history in one response, then follows live", async () => {
      const r1 = await put("h/a", "1");
      const r2 = await put("h/b", "2");
      await put("x/unrelated", "z");
      const r3 = await put("h/a", "3");
      const now = await rev();
      const s = session();
      const c = await s.watch({ key: enc("h/"), rangeEnd: enc("h0"), startRevision: r1, prevKv: true });
      expect(c.created).toBe(true);
      expect(c.header!.revision).toBe(now);
      const hist = await s.next();
      expect(hist.header!.revision).toBe(now);
      expect(briefs(hist)).toEqual([
        ["PUT", "h/a", "1", r1, null],
        ["PUT", "h/b", "2", r2, null],
        ["PUT", "h/a", "3", r3, "1"],
      ]);
      const r4 = await put("h/b", "4");
      const live = await s.next();
      expect(live.header!.revision).toBe(r4);
      expect(briefs(live)).toEqual([["PUT", "h/b", "4", r4, "2"]]);
    });

    test("a start revision in the future waits for it", async () => {
      const s = session();
      const now = await rev();
      await s.watch({ key: enc("fu/k"), startRevision: now + 2n });
      await put("fu/k", "skipped");
      const r = await put("fu/k", "seen");
      const got = await s.next();
      expect(briefs(got)).toEqual([["PUT", "fu/k", "seen", r, null]]);
    });

    test("cancel answers once with the current revision; unknown ids get no answer", async () => {
      const s = session();
      await s.watch({ key: enc("x/k") });
      await s.watch({ key: enc("x/k") });
      await s.cancel(0n);
      const c = await s.next();
      expect(c.watchId).toBe(0n);
      expect(c.canceled).toBe(true);
      expect(c.created).toBe(false);
      expect(c.header!.revision).toBe(await rev());
      await s.cancel(42n);
      const r = await put("x/k", "v");
      const got = await s.drainUntilProgress();
      expect(got.map((x) => [x.watchId, ...briefs(x)])).toEqual([[1n, ["PUT", "x/k", "v", r, null]]]);
    });

    test("client-chosen ids: duplicates are refused, auto ids skip taken ones, freed ids are reusable", async () => {
      const s = session();
      expect((await s.watch({ key: enc("i/k"), watchId: 1n })).watchId).toBe(1n);
      const dup = await s.watch({ key: enc("i/k"), watchId: 1n });
      expect(dup.created).toBe(true);
      expect(dup.canceled).toBe(true);
      expect(dup.watchId).toBe(-1n);
      expect(dup.cancelReason).toBe("mvcc: duplicate watch ID provided on the WatchStream");
      expect(dup.header!.revision).toBe(await rev());
      expect((await s.watch({ key: enc("i/k") })).watchId).toBe(0n);
      expect((await s.watch({ key: enc("i/k") })).watchId).toBe(2n);
      await s.cancel(1n);
      expect((await s.next()).canceled).toBe(true);
      expect((await s.watch({ key: enc("i/k"), watchId: 1n })).watchId).toBe(1n);
      expect((await s.watch({ key: enc("i/k") })).watchId).toBe(3n);
    });

    test("an empty range is refused with etcd's reason", async () => {
      const s = session();
      const r = await s.watch({ key: enc("b"), rangeEnd: enc("a") });
      expect([r.created, r.canceled, r.watchId, r.cancelReason]).toEqual([
        true,
        true,
        -1n,
        "mvcc: watcher range is empty",
      ]);
      const same = await s.watch({ key: enc("a"), rangeEnd: enc("a") });
      expect(same.cancelReason).toBe("mvcc: watcher range is empty");
    });

    test("an empty key watches the key \\0", async () => {
      const s = session();
      await s.watch({ key: new Uint8Array() });
      const r = (await kv.put({ key: new Uint8Array([0]), value: enc("z") })).header!.revision;
      expect((await s.next()).events[0].kv!.modRevision).toBe(r);
    });

    test("a progress request answers watch id -1 at the current revision", async () => {
      const s = session();
      await s.watch({ key: enc("pr/k") });
      await put("pr/other", "v");
      await s.progress();
      const p = await s.next();
      expect(p.watchId).toBe(-1n);
      expect(p.events.length).toBe(0);
      expect(p.created || p.canceled).toBe(false);
      expect(p.header!.revision).toBe(await rev());
    });

    test("an idle progress_notify watcher hears the current revision periodically", async () => {
      const s = session();
      await s.watch({ key: enc("pn/k"), progressNotify: true });
      await put("pn/other", "v");
      const now = await rev();
      for (;;) {
        const p = await s.next();
        expect(p.watchId).toBe(0n);
        expect(p.events.length).toBe(0);
        if (p.header!.revision === now) break;
      }
    });

    test("fragment splits a large response; the pieces hold every event once", async () => {
      const big = "v".repeat(200 * 1024);
      const first = await put("fr/0", big);
      for (let i = 1; i < 15; i++) await put(`fr/${i}`, big);
      const s = session();
      await s.watch({ key: enc("fr/"), rangeEnd: enc("fr0"), startRevision: first, fragment: true });
      const parts: WatchResponse[] = [];
      for (;;) {
        const r = await s.next();
        parts.push(r);
        if (!r.fragment) break;
      }
      expect(parts.length).toBe(2);
      expect(parts.map((p) => p.fragment)).toEqual([true, false]);
      const keys = parts.flatMap((p) => p.events.map((e) => dec(e.kv!.key)));
      expect(keys).toEqual(Array.from({ length: 15 }, (_, i) => `fr/${i}`));
      const whole = session();
      await whole.watch({ key: enc("fr/"), rangeEnd: enc("fr0"), startRevision: first });
      const one = await whole.next();
      expect(one.fragment).toBe(false);
      expect(one.events.length).toBe(15);
    });

    test("a start revision below the compaction answers compact_revision and cancels", async () => {
      const r1 = await put("cp/k", "1");
      await put("cp/k", "2");
      const r3 = await put("cp/k", "3");
      await kv.compact({ revision: r3, physical: true });
      const s = session();
      const c = await s.watch({ key: enc("cp/k"), startRevision: r1 });
      expect(c.created).toBe(true);
      expect(c.canceled).toBe(false);
      const x = await s.next();
      expect(x.watchId).toBe(c.watchId);
      expect(x.canceled).toBe(true);
      expect(x.compactRevision).toBe(r3);
      expect(x.cancelReason).toBe("");
      expect(x.events.length).toBe(0);
      expect(x.header!.revision).toBe(0n);
      // the compaction revision itself is still readable
      const ok = await s.watch({ key: enc("cp/k"), startRevision: r3 });
      expect(ok.canceled).toBe(false);
      expect(briefs(await s.next())).toEqual([["PUT", "cp/k", "3", r3, null]]);
    });
  });
}

function byRevThenId(a: unknown[], b: unknown[]): number {
  const ra = (a[1] as [string, string, string, bigint])[3];
  const rb = (b[1] as [string, string, string, bigint])[3];
  if (ra !== rb) return ra < rb ? -1 : 1;
  return (a[0] as bigint) < (b[0] as bigint) ? -1 : 1;
}
