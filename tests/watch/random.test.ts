/**
 * Randomized (seeded) watch robustness: concurrent writers, compactions, and watchers that
 * disconnect and resume after the last revision they saw. Every write's revision comes back
 * in its response, so the full history is known independently of watch; each watcher's
 * events must then be exactly that history for its range: no gap (except what a compaction
 * removed before the watcher could resume), no duplicate, in order, with the right prev_kv.
 * Replay a failure with WATCH_SEED=<seed>.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Event_EventType } from "../../proto/gen/mvccpb/kv_pb.ts";
import { cleanup, type ServerProcess, startServer } from "../harness.ts";
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

/** One event as the test knows it: "PUT k v" / "DELETE k", plus the value before. */
interface Ev {
  rev: bigint;
  type: "PUT" | "DELETE";
  key: string;
  value: string;
  prev: string | null;
}

const KEYS = Array.from({ length: 12 }, (_, i) => `k/${String(i).padStart(2, "0")}`);

const seed = Number(process.env.WATCH_SEED ?? Date.now() % 100_000);

describe(`randomized watch history (seed ${seed})`, () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer("etcdts");
  });
  afterAll(cleanup);

  test("every watcher sees exactly the history of its range", async () => {
    const random = rng(seed);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)];
    const { client, kv } = connect(server.endpoint);
    /** What each revision did, from the write responses: events in order within the revision. */
    const writes = new Map<bigint, { type: "PUT" | "DELETE"; key: string; value: string }[]>();
    let compacted = 0n;

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
        }
      }
    }

    interface WatchLog {
      key: string;
      rangeEnd: string;
      prevKv: boolean;
      got: Ev[];
      /** Revisions [from, to) a compaction took away before this watcher resumed. */
      gaps: [bigint, bigint][];
      start: bigint;
    }
    const ranges: [string, string][] = [["k/03", ""], ["k/", "k0"], ["k/05", "k/09"], ["k/08", "\0"]];
    async function watcher(log: WatchLog, until: () => boolean): Promise<void> {
      let next = log.start;
      let s: WatchSession | null = null;
      while (!until()) {
        s?.close();
        s = connect(server.endpoint).session();
        const c = await s.watch({
          key: enc(log.key),
          rangeEnd: enc(log.rangeEnd),
          startRevision: next,
          prevKv: log.prevKv,
        });
        expect(c.created).toBe(true);
        const budget = 10 + Math.floor(random() * 60);
        for (let n = 0; n < budget && !until();) {
          let r;
          try {
            r = await s.next(200);
          } catch {
            continue; // nothing within the bound; check whether we are done
          }
          if (r.compactRevision !== 0n) {
            log.gaps.push([next, r.compactRevision]);
            next = r.compactRevision;
            break;
          }
          for (const e of r.events) {
            const ev: Ev = {
              rev: e.kv!.modRevision,
              type: e.type === Event_EventType.PUT ? "PUT" : "DELETE",
              key: dec(e.kv!.key),
              value: dec(e.kv!.value),
              prev: e.prevKv ? dec(e.prevKv.value) : null,
            };
            if (ev.rev > r.header!.revision) {
              throw new Error(`event at ${ev.rev} in a response at ${r.header!.revision}`);
            }
            log.got.push(ev);
            next = ev.rev + 1n;
            n++;
          }
        }
      }
      s?.close();
    }

    const history: Ev[] = [];
    const start = (await kv.range({ key: enc("\0") })).header!.revision + 1n;
    const logs: WatchLog[] = Array.from({ length: 6 }, (_, i) => {
      const [key, rangeEnd] = ranges[i % ranges.length];
      return { key, rangeEnd, prevKv: random() < 0.5, got: [], gaps: [], start };
    });
    let finalRev = -1n;
    const caughtUp = (log: WatchLog) => {
      const last = log.got.length > 0 ? log.got[log.got.length - 1].rev : 0n;
      return finalRev >= 0n && last >= lastMatching(log, finalRev);
    };
    const watchers = logs.map((l) => watcher(l, () => caughtUp(l)));
    const comp = compactor();
    await Promise.all([writer(150), writer(150), writer(150), writer(150)]);
    writing = false;
    await comp;
    // The known history, with each event's previous value.
    const current = new Map<string, string>();
    for (const rev of [...writes.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
      for (const w of writes.get(rev)!) {
        history.push({ rev, type: w.type, key: w.key, value: w.value, prev: current.get(w.key) ?? null });
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
      const expected = history
        .filter((e) => e.rev >= log.start && inRange(log, e.key))
        .filter((e) => !log.gaps.some(([from, to]) => e.rev >= from && e.rev < to))
        .map((e) => ({ ...e, prev: log.prevKv ? e.prev : null }));
      expect({ range: [log.key, log.rangeEnd], events: log.got }).toEqual({
        range: [log.key, log.rangeEnd],
        events: expected,
      });
    }
    expect(history.length).toBeGreaterThan(300);
    client.close();
  });
});

function inRange(log: { key: string; rangeEnd: string }, key: string): boolean {
  if (log.rangeEnd === "") return key === log.key;
  if (log.rangeEnd === "\0") return key >= log.key;
  return key >= log.key && key < log.rangeEnd;
}
