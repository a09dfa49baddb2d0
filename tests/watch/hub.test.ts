/**
 * The hub in process, driven by hand: a real store, applies reported to the hub the way
 * the member reports them (or withheld, to stage an ordering), and catch-up rounds run by
 * letting the hub's scheduled turn happen. Each test pins one boundary between the live
 * feed and catch-up from history, where an event could be lost or repeated.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { fromBinary } from "@bufbuild/protobuf";
import { type WatchResponse, WatchResponseSchema } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { Event_EventType } from "../../proto/gen/mvccpb/kv_pb.ts";
import type { Outcome } from "../../server/apply/apply.ts";
import { MvccStore } from "../../store/mvcc.ts";
import type { EncodedField } from "../../server/watch/encode.ts";
import { eventFilter } from "../../server/watch/filters.ts";
import { eventFrame } from "../../server/watch/frame.ts";
import { WatchHub } from "../../server/watch/hub.ts";
import { watchRange } from "../../server/watch/range.ts";
import { Watcher, type WatcherSink } from "../../server/watch/watcher.ts";
import { b, del, Driver, op, put, req, s, txn } from "../store/helpers.ts";

/** A client stream as the hub sees it: records what it is sent; `blocked` is set by the test. */
class Recorder implements WatcherSink {
  blocked = false;
  readonly responses: WatchResponse[] = [];
  readonly compacted: bigint[] = [];
  readonly canceled: string[] = [];
  caughtUps = 0;
  /** Responses sent but not yet flushed (the hub must flush before it returns). */
  unflushed = 0;
  flushes = 0;

  sendEvents(w: Watcher, header: EncodedField, events: readonly EncodedField[]): void {
    const frame = eventFrame({ header, watchId: w.idField, events, fragment: false });
    this.responses.push(fromBinary(WatchResponseSchema, frame.subarray(5)));
    this.unflushed++;
  }

  flush(): void {
    this.unflushed = 0;
    this.flushes++;
  }

  sendCompacted(_w: Watcher, compactRevision: bigint): void {
    this.compacted.push(compactRevision);
  }

  sendCanceled(_w: Watcher, reason: string): void {
    this.canceled.push(reason);
  }

  caughtUp(_w: Watcher): void {
    this.caughtUps++;
  }

  /** Every event received, as "put k@rev" / "del k@rev", in arrival order. */
  events(): string[] {
    return this.responses.flatMap((r) =>
      r.events.map((e) =>
        `${e.type === Event_EventType.PUT ? "put" : "del"} ${s(e.kv!.key)}@${e.kv!.modRevision}`
      )
    );
  }

  /** Each response's event revisions, to check that revisions are never split. */
  revisionsPerResponse(): bigint[][] {
    return this.responses.map((r) => [...new Set(r.events.map((e) => e.kv!.modRevision))]);
  }
}

let d: Driver;
let hub: WatchHub;

beforeEach(() => {
  d = new Driver(MvccStore.open(":memory:"));
  hub = newHub();
});
afterEach(() => {
  hub.close();
  d.store.close();
});

function newHub(maxRevisionsPerCatchUp?: number): WatchHub {
  return new WatchHub(d.store, {
    header: (revision) => ({
      $typeName: "etcdserverpb.ResponseHeader",
      clusterId: 1n,
      memberId: 1n,
      revision,
      raftTerm: 1n,
    }),
    maxRevisionsPerCatchUp,
  });
}

/** Reports an applied entry's events to the hub, as the member does right after applying. */
function live(o: Outcome): Outcome {
  if (o.ok && o.events.length > 0) hub.notify({ events: o.events });
  return o;
}

function watch(sink: Recorder, key: string, end: string, startRev: bigint): Watcher {
  const w = new Watcher({
    id: 0n,
    range: watchRange(b(key), b(end))!,
    filter: eventFilter([]),
    prevKv: false,
    progressNotify: false,
    fragment: false,
  }, sink);
  hub.add(w, startRev);
  return w;
}

/** Lets scheduled catch-up rounds run until no watcher is left unsynced (bounded). */
async function settle(): Promise<void> {
  for (let i = 0; i < 100; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    if (hub.sizes().unsynced === 0) return;
  }
  throw new Error(`catch-up did not finish: ${JSON.stringify(hub.sizes())}`);
}

/** One turn of the event loop: exactly one scheduled catch-up round runs. */
function oneRound(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe("compaction at a delete's revision (the random test's lost DELETE)", () => {
  test("a watcher resuming at the compaction revision gets the delete made at that revision", async () => {
    live(d.put("k/a", "1")); // 2
    live(d.put("k/b", "1")); // 3
    live(d.del("k/a")); // 4
    d.ok(req({ compaction: { revision: 4n } }));
    const sink = new Recorder();
    // A client told compact_revision 4 resumes there, as clientv3 and the random test do.
    watch(sink, "k/", "k0", 4n);
    await settle();
    expect(sink.compacted).toEqual([]);
    expect(sink.events()).toEqual(["del k/a@4"]);
    live(d.put("k/a", "2")); // 5
    expect(sink.events()).toEqual(["del k/a@4", "put k/a@5"]);
  });

  test("a watcher parked at a delete gets it after a compaction lands exactly on it", async () => {
    live(d.put("k/a", "1")); // 2
    const sink = new Recorder();
    watch(sink, "k/a", "", 0n);
    sink.blocked = true;
    live(d.del("k/a")); // 3: parked here
    expect(hub.sizes()).toEqual({ synced: 0, unsynced: 1 });
    d.ok(req({ compaction: { revision: 3n } }));
    sink.blocked = false;
    hub.wake();
    await settle();
    expect(sink.compacted).toEqual([]);
    expect(sink.events()).toEqual(["del k/a@3"]);
  });

  test("the next compaction drops the kept tombstone; a watcher below it is compacted", async () => {
    live(d.put("k/a", "1")); // 2
    live(d.del("k/a")); // 3
    d.ok(req({ compaction: { revision: 3n } }));
    live(d.put("k/b", "1")); // 4
    d.ok(req({ compaction: { revision: 4n } }));
    const early = new Recorder();
    watch(early, "k/", "k0", 3n);
    const atCompaction = new Recorder();
    watch(atCompaction, "k/", "k0", 4n);
    await settle();
    expect(early.compacted).toEqual([4n]);
    expect(early.events()).toEqual([]);
    expect(atCompaction.events()).toEqual(["put k/b@4"]);
  });
});

describe("catch-up and the live feed", () => {
  test("an applied batch is flushed to each stream once, before notify returns", () => {
    const a = new Recorder();
    const other = new Recorder();
    watch(a, "k/a", "", 0n);
    watch(a, "k/", "k0", 0n);
    watch(other, "k/b", "", 0n);
    live(d.ok(req({ txn: txn([], [op.put(put("k/a", "1")), op.put(put("k/b", "1"))]) })));
    expect([a.responses.length, a.unflushed, a.flushes]).toEqual([2, 0, 1]);
    expect([other.responses.length, other.unflushed, other.flushes]).toEqual([1, 0, 1]);
    live(d.put("k/c", "1")); // a's range watcher only
    expect([a.flushes, other.flushes]).toEqual([2, 1]);
  });

  test("revisions applied while a watcher waits for its catch-up round arrive once, in order", async () => {
    live(d.put("k/a", "1")); // 2
    live(d.put("k/b", "1")); // 3
    const sink = new Recorder();
    watch(sink, "k/", "k0", 2n);
    // Applied and published before the round runs: the unsynced watcher must not get them live...
    live(d.put("k/a", "2")); // 4
    live(d.ok(req({ txn: txn([], [op.put(put("k/c", "1")), op.del(del("k/b"))]) }))); // 5
    expect(sink.events()).toEqual([]);
    await settle();
    // ...but from the round's read, which covers everything up to the revision it started at.
    expect(sink.events()).toEqual(["put k/a@2", "put k/b@3", "put k/a@4", "put k/c@5", "del k/b@5"]);
    expect(sink.caughtUps).toBe(1);
    expect(sink.unflushed).toBe(0); // the round flushed what it sent
    live(d.put("k/d", "1")); // 6
    expect(sink.events().slice(5)).toEqual(["put k/d@6"]);
  });

  test("a revision published after the catch-up read it is not repeated", async () => {
    live(d.put("k/a", "1")); // 2
    const sink = new Recorder();
    watch(sink, "k/", "k0", 2n);
    // Applied but not yet published when the round reads: the read includes it.
    const held = d.put("k/a", "2"); // 3
    await settle();
    expect(sink.events()).toEqual(["put k/a@2", "put k/a@3"]);
    live(held); // the hand-over: already read from history, so skipped
    live(d.put("k/a", "3")); // 4
    expect(sink.events()).toEqual(["put k/a@2", "put k/a@3", "put k/a@4"]);
  });

  test("a catch-up longer than one round's limit continues without gap or split revisions", async () => {
    hub = newHub(2);
    for (let i = 0; i < 5; i++) live(d.put(`k/${i}`, "x")); // 2..6
    live(d.ok(req({ txn: txn([], [op.put(put("k/t1", "1")), op.put(put("k/t2", "1"))]) }))); // 7
    const sink = new Recorder();
    watch(sink, "k/", "k0", 2n);
    await oneRound();
    expect(sink.events()).toEqual(["put k/0@2", "put k/1@3"]);
    expect(hub.sizes().unsynced).toBe(1);
    // Live revisions between rounds are left to the rounds.
    live(d.put("k/8", "x")); // 8
    expect(sink.events().length).toBe(2);
    await settle();
    expect(sink.events()).toEqual([
      "put k/0@2",
      "put k/1@3",
      "put k/2@4",
      "put k/3@5",
      "put k/4@6",
      "put k/t1@7",
      "put k/t2@7",
      "put k/8@8",
    ]);
    for (const [i, r] of sink.responses.entries()) {
      const revs = sink.revisionsPerResponse()[i];
      expect(revs.length).toBeLessThanOrEqual(2);
      // Never from the future: every event is at or below its response's header revision.
      for (const rev of revs) expect(rev).toBeLessThanOrEqual(r.header!.revision);
    }
    live(d.put("k/9", "x")); // 9: live again
    expect(sink.events().at(-1)).toBe("put k/9@9");
  });

  test("a watcher blocked mid-stream is parked at the revision it missed and resumes there", async () => {
    const sink = new Recorder();
    watch(sink, "k/", "k0", 0n);
    live(d.put("k/a", "1")); // 2
    sink.blocked = true;
    live(d.put("k/a", "2")); // 3
    live(d.put("k/b", "1")); // 4
    expect(hub.sizes()).toEqual({ synced: 0, unsynced: 1 });
    await oneRound(); // still blocked: nothing read
    sink.blocked = false;
    hub.wake();
    await settle();
    expect(sink.events()).toEqual(["put k/a@2", "put k/a@3", "put k/b@4"]);
  });

  test("after a snapshot install, synced watchers read the installed revisions from the store", async () => {
    const sink = new Recorder();
    watch(sink, "k/", "k0", 0n);
    live(d.put("k/a", "1")); // 2
    // Revisions 3 and 4 arrive inside a snapshot: in the store, never published.
    d.put("k/a", "2");
    d.del("k/a");
    hub.resync(2n);
    await settle();
    expect(sink.events()).toEqual(["put k/a@2", "put k/a@3", "del k/a@4"]);
  });
});
