import { afterEach, beforeEach, expect, test } from "bun:test";
import { Errors, isEtcdError } from "../../api/errors.ts";
import { type Event, Event_EventType as Type } from "../../proto/gen/mvccpb/kv_pb.ts";
import { type EventsQuery, MvccStore } from "../../store/mvcc.ts";
import { b, del, Driver, op, put, req, s, txn } from "./helpers.ts";

let d: Driver;
/** Every event the apply path published, to compare catch-up reads against. */
let published: Event[];

beforeEach(() => {
  d = new Driver(MvccStore.open(":memory:"));
  published = [];
  const record = (o: ReturnType<Driver["ok"]>) => published.push(...o.events);
  record(d.put("a", "1")); // 2
  record(d.put("b", "1")); // 3
  record(d.put("a", "2")); // 4
  record(d.ok(req({ txn: txn([], [op.put(put("c", "1")), op.del(del("b")), op.put(put("a", "3"))]) }))); // 5
  record(d.put("b", "2")); // 6
  record(d.del("a", "\0")); // 7: a, b, c
});
afterEach(() => d.store.close());

function events(
  q: Partial<Omit<EventsQuery, "key" | "rangeEnd">> & { key: string; rangeEnd?: string },
): Event[] {
  const r = d.store.eventsSince({
    fromRev: 1n,
    toRev: d.store.currentRevision(),
    prevKv: true,
    ...q,
    key: b(q.key),
    rangeEnd: b(q.rangeEnd ?? ""),
  });
  if (isEtcdError(r)) throw new Error(r.message);
  return r;
}

const summary = (evs: Event[]) =>
  evs.map((e) => `${e.type === Type.PUT ? "put" : "del"} ${s(e.kv!.key)}@${e.kv!.modRevision}`);

test("catch-up returns exactly what apply published, in order, prevKv included", () => {
  expect(events({ key: "\0", rangeEnd: "\0" })).toEqual(published);
  expect(summary(published)).toEqual([
    "put a@2",
    "put b@3",
    "put a@4",
    "put c@5",
    "del b@5",
    "put a@5",
    "put b@6",
    "del a@7",
    "del b@7",
    "del c@7",
  ]);
});

test("prevKv is the key just before the event; absent for creations or when not asked", () => {
  const evs = events({ key: "a" });
  expect(evs.map((e) => e.prevKv && s(e.prevKv.value))).toEqual([undefined, "1", "2", "3"]);
  expect(evs[3].prevKv).toMatchObject({ modRevision: 5n, version: 3n });
  expect(events({ key: "a", prevKv: false }).every((e) => e.prevKv === undefined)).toBe(true);
  // b was deleted at 5 and re-created at 6: a creation, so no prevKv
  expect(events({ key: "b", fromRev: 6n, toRev: 6n })[0].prevKv).toBeUndefined();
});

test("revision bounds and key ranges", () => {
  expect(summary(events({ key: "a", rangeEnd: "c", fromRev: 4n, toRev: 6n }))).toEqual([
    "put a@4",
    "del b@5",
    "put a@5",
    "put b@6",
  ]);
  expect(events({ key: "zz", rangeEnd: "\0" })).toEqual([]);
});

test("limit counts revisions, keeping a revision's events together", () => {
  expect(summary(events({ key: "\0", rangeEnd: "\0", fromRev: 4n, limit: 2 }))).toEqual([
    "put a@4",
    "put c@5",
    "del b@5",
    "put a@5",
  ]);
  expect(summary(events({ key: "c", rangeEnd: "\0", limit: 1 }))).toEqual(["put c@5"]);
});

test("a start below the compaction revision is Compacted; at it, what compaction kept", () => {
  d.ok(req({ compaction: { revision: 6n } }));
  const r = d.store.eventsSince({ key: b("\0"), rangeEnd: b("\0"), fromRev: 5n, toRev: 7n, prevKv: false });
  expect(r).toBe(Errors.Compacted);
  expect(summary(events({ key: "\0", rangeEnd: "\0", fromRev: 6n }))).toEqual([
    "put b@6",
    "del a@7",
    "del b@7",
    "del c@7",
  ]);
});
