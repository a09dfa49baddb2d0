/**
 * Randomized (seeded) watch robustness: concurrent writers, compactions, and watchers that
 * disconnect and resume after the last revision they saw. Every write's revision comes back
 * in its response, so the full history is known independently of watch; each watcher's
 * events must then be exactly that history for its range: no gap (except what a compaction
 * removed before the watcher could resume), no duplicate, in order, with the right prev_kv.
 *
 * The guarantees etcd's robustness tests check, each asserted here:
 * - ordered and unique: the exact comparison with the history (revisions strictly rise);
 * - reliable: no gap but the compacted ranges the server announced (compact_revision);
 * - resumable: each reconnect resumes at the last seen revision + 1 and must yield exactly
 *   the rest, also across compactions (resuming at the announced compact_revision);
 * - atomic: all of a revision's events in one response, fragments reassembled first, and a
 *   response's events never above its header revision;
 * - bookmarkable: a progress notification (periodic for progress_notify watchers, or the
 *   answer to a progress request) is never below an event already seen, never goes back,
 *   and every later event is above it.
 * Replay a failure with WATCH_SEED=<seed> (the interleaving is not replayed, the choices are).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Event_EventType } from "../../proto/gen/mvccpb/kv_pb.ts";
import { cleanup, type ServerProcess, startServer } from "../harness.ts";
import type { WatchResponse } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { connect, dec, enc, type WatchSession } from "./session.ts";

setDefaultTimeout(120_000);

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One event as the test knows it: "PUT k v" / "DELETE k", plus the value before (values abridged). */
interface Ev {
  rev: bigint;
  type: "PUT" | "DELETE";
  key: string;
  value: string;
  prev: string | null;
}

const KEYS = Array.from({ length: 12 }, (_, i) => `k/${String(i).padStart(2, "0")}`);

const seed = Number(process.env.WATCH_SEED ?? Date.now() % 100_000);
/** Writes per writer (4 writers); raise it for stress runs. */
const opsPerWriter = Number(process.env.WATCH_OPS ?? 150);

describe(`randomized watch history (seed ${seed})`, () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer("etcdts", {
      extraArgs: ["--experimental-watch-progress-notify-interval", "100ms"],
    });
  });
  afterAll(cleanup);

  test("every watcher sees exactly the history of its range", async () => {
    const random = rng(seed);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)];
    const { client, kv } = connect(server.endpoint);
    /** What each revision did, from the write responses: events in order within the revision. */
    const writes = new Map<bigint, { type: "PUT" | "DELETE"; key: string; value: string }[]>();
    let compacted = 0n;
    /** Every compaction revision: an event read back from history at one has no prev_kv left. */
    const compactions = new Set<bigint>();

    async function writer(ops: number): Promise<void> {
      for (let i = 0; i < ops; i++) {
        const r = random();
        if (r < 0.6) {
          const key = pick(KEYS);
          const value = `v${Math.floor(random() * 1e6)}`;
          const res = await kv.put({ key: enc(key), value: enc(value) });
          writes.set(res.header!.revision, [{ type: "PUT", key, value }]);
        } else if (r < 0.8) {
          const key = pick(KEYS);
          const res = await kv.deleteRange({ key: enc(key) });
          if (res.deleted > 0n) writes.set(res.header!.revision, [{ type: "DELETE", key, value: "" }]);
        } else {
          const a = pick(KEYS);
          const b = pick(KEYS.filter((k) => k !== a));
          const va = `t${Math.floor(random() * 1e6)}`;
          const vb = `t${Math.floor(random() * 1e6)}`;
          const res = await kv.txn({
            success: [
              { request: { case: "requestPut", value: { key: enc(a), value: enc(va) } } },
              { request: { case: "requestPut", value: { key: enc(b), value: enc(vb) } } },
            ],
          });
          writes.set(res.header!.revision, [
            { type: "PUT", key: a, value: va },
            { type: "PUT", key: b, value: vb },
          ]);
        }
      }
    }

    let writing = true;
    async function compactor(): Promise<void> {
      while (writing) {
        await Bun.sleep(20 + random() * 60);
        const now = (await kv.range({ key: enc("\0") })).header!.revision;
        const target = now - BigInt(Math.floor(random() * 40));
        if (target > compacted) {
          await kv.compact({ revision: target });
          compacted = target;
          compactions.add(target);
        }
      }
    }

    interface WatchLog {
      key: string;
      rangeEnd: string;
      prevKv: boolean;
      progressNotify: boolean;
      fragment: boolean;
      got: Ev[];
      /** For each event in `got`, which (reassembled) response carried it. */
      responseOf: number[];
      /** Revisions [from, to) a compaction took away before this watcher resumed. */
      gaps: [bigint, bigint][];
      start: bigint;
      /** Where the watcher resumes: the last seen revision + 1, or the compaction revision. */
      next: bigint;
      bookmarks: number;
    }
    const ranges: [string, string][] = [["k/03", ""], ["k/", "k0"], ["k/05", "k/09"], ["k/08", "\0"]];
    let responses = 0;
    async function watcher(log: WatchLog, until: () => boolean): Promise<void> {
      const conn = connect(server.endpoint);
      let s: WatchSession | null = null;
      while (!until()) {
        s?.close();
        // Sometimes stay away a while, so that compactions overtake the watcher.
        if (s !== null && random() < 0.3) await Bun.sleep(50 + random() * 100);
        s = conn.session();
        const c = await s.watch({
          key: enc(log.key),
          rangeEnd: enc(log.rangeEnd),
          startRevision: log.next,
          prevKv: log.prevKv,
          progressNotify: log.progressNotify,
          fragment: log.fragment,
        });
        expect(c.created).toBe(true);
        /** The highest revision this stream vouched for: by an event or a progress notification. */
        let vouched = log.next - 1n;
        const budget = 10 + Math.floor(random() * 60);
        for (let n = 0; n < budget && !until();) {
          let r: WatchResponse;
          try {
            r = await nextWhole(s);
          } catch {
            await s.progress(); // idle: ask for a bookmark, then check whether we are done
            continue;
          }
          if (r.compactRevision !== 0n) {
            log.gaps.push([log.next, r.compactRevision]);
            log.next = r.compactRevision;
            break;
          }
          if (r.events.length === 0) {
            // A progress notification: everything up to its revision was sent before it.
            const at = r.header!.revision;
            if (at < vouched) throw new Error(`progress at ${at} after revision ${vouched} was seen`);
            vouched = at;
            log.bookmarks++;
            continue;
          }
          const id = responses++;
          for (const e of r.events) {
            const ev: Ev = {
              rev: e.kv!.modRevision,
              type: e.type === Event_EventType.PUT ? "PUT" : "DELETE",
              key: dec(e.kv!.key),
              value: abridge(dec(e.kv!.value)),
              prev: e.prevKv ? abridge(dec(e.prevKv.value)) : null,
            };
            if (ev.rev > r.header!.revision) {
              throw new Error(`event at ${ev.rev} in a response at ${r.header!.revision}`);
            }
            if (ev.rev <= vouched) {
              throw new Error(`event at ${ev.rev} after the stream vouched for ${vouched}`);
            }
            log.got.push(ev);
            log.responseOf.push(id);
            log.next = ev.rev + 1n;
            n++;
          }
          if (log.next - 1n > vouched) vouched = log.next - 1n;
          if (random() < 0.1) await s.progress();
        }
      }
      s?.close();
      conn.client.close();
    }

    const history: Ev[] = [];
    const start = (await kv.range({ key: enc("\0") })).header!.revision + 1n;
    const logs: WatchLog[] = Array.from({ length: 6 }, (_, i) => {
      const [key, rangeEnd] = ranges[i % ranges.length];
      return {
        key,
        rangeEnd,
        prevKv: random() < 0.5,
        progressNotify: random() < 0.5,
        fragment: random() < 0.5,
        got: [],
        responseOf: [],
        gaps: [],
        start,
        next: start,
        bookmarks: 0,
      };
    });
    let finalRev = -1n;
    const caughtUp = (log: WatchLog) => finalRev >= 0n && log.next > lastMatching(log, finalRev);
    const watchers = logs.map((l) => watcher(l, () => caughtUp(l)));
    const comp = compactor();
    await Promise.all([
      writer(opsPerWriter),
      writer(opsPerWriter),
      writer(opsPerWriter),
      writer(opsPerWriter),
    ]);
    writing = false;
    await comp;
    // Revisions too large for one response: a watcher replaying them with fragment gets
    // them in pieces, and must see each revision whole once reassembled.
    const big = (i: number) => `${"B".repeat(900 * 1024)}${i}`;
    const bigFrom = (await kv.put({ key: enc("k/04"), value: enc(big(0)) })).header!.revision;
    writes.set(bigFrom, [{ type: "PUT", key: "k/04", value: big(0) }]);
    for (const [i, key] of ["k/05", "k/06"].entries()) {
      const res = await kv.put({ key: enc(key), value: enc(big(i + 1)) });
      writes.set(res.header!.revision, [{ type: "PUT", key, value: big(i + 1) }]);
    }
    const late: WatchLog = { ...logs[1], got: [], responseOf: [], gaps: [], fragment: true, start: bigFrom };
    late.next = bigFrom;
    logs.push(late);
    watchers.push(watcher(late, () => caughtUp(late)));
    // The known history, with each event's previous value.
    const current = new Map<string, string>();
    for (const rev of [...writes.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
      for (const w of writes.get(rev)!) {
        const prev = current.get(w.key);
        history.push({
          rev,
          type: w.type,
          key: w.key,
          value: abridge(w.value),
          prev: prev === undefined ? null : abridge(prev),
        });
        if (w.type === "PUT") current.set(w.key, w.value);
        else current.delete(w.key);
      }
    }
    finalRev = (await kv.range({ key: enc("\0") })).header!.revision;
    await Promise.all(watchers);

    function lastMatching(log: WatchLog, upTo: bigint): bigint {
      let last = 0n;
      for (const e of history) if (e.rev <= upTo && inRange(log, e.key)) last = e.rev;
      return last;
    }
    for (const log of logs) {
      const gotPrev = new Map(log.got.map((e) => [`${e.rev}|${e.key}`, e.prev]));
      const expected = history
        .filter((e) => e.rev >= log.start && inRange(log, e.key))
        .filter((e) => !log.gaps.some(([from, to]) => e.rev >= from && e.rev < to))
        .map((e) => {
          // Read back at a compaction revision, the previous version is gone (as in etcd).
          const prevGone = compactions.has(e.rev) && gotPrev.get(`${e.rev}|${e.key}`) === null;
          return { ...e, prev: log.prevKv && !prevGone ? e.prev : null };
        });
      expect({ range: [log.key, log.rangeEnd], events: log.got }).toEqual({
        range: [log.key, log.rangeEnd],
        events: expected,
      });
      // Atomic: a revision's events share one response.
      for (let i = 1; i < log.got.length; i++) {
        if (log.got[i].rev === log.got[i - 1].rev) expect(log.responseOf[i]).toBe(log.responseOf[i - 1]);
      }
    }
    // The late watcher replayed the large revisions: more than one response's worth.
    expect(late.got.filter((e) => e.rev >= bigFrom).length).toBeGreaterThanOrEqual(2);
    expect(fragmented).toBeGreaterThan(0);
    expect(logs.reduce((n, l) => n + l.bookmarks, 0)).toBeGreaterThan(0);
    expect(history.length).toBeGreaterThan(2 * opsPerWriter);
    console.log(
      `seed ${seed}: ${history.length} events, ${compactions.size} compactions, ${
        logs.reduce((n, l) => n + l.gaps.length, 0)
      } compacted resumes, ${logs.reduce((n, l) => n + l.bookmarks, 0)} bookmarks, ${fragmented} fragmented`,
    );
    client.close();
  });
});

/** Whole responses: fragments (`fragment: true` on all pieces but the last) joined into one. */
let fragmented = 0;
async function nextWhole(s: WatchSession): Promise<WatchResponse> {
  const first = await s.next(200);
  if (!first.fragment) return first;
  fragmented++;
  const events = [...first.events];
  for (;;) {
    const piece = await s.next(10_000);
    if (piece.watchId !== first.watchId || piece.header!.revision !== first.header!.revision) {
      throw new Error("a fragment of another response came between the pieces");
    }
    events.push(...piece.events);
    if (!piece.fragment) return { ...piece, events };
  }
}

/** Large values compare by length and tail, so a failure's diff stays readable. */
function abridge(v: string): string {
  return v.length > 64 ? `<${v.length} bytes ...${v.slice(-4)}>` : v;
}

function inRange(log: { key: string; rangeEnd: string }, key: string): boolean {
  if (log.rangeEnd === "") return key === log.key;
  if (log.rangeEnd === "\0") return key >= log.key;
  return key >= log.key && key < log.rangeEnd;
}
