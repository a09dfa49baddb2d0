import { describe, expect, test } from "bun:test";
import { ErrCompacted, ErrSnapOutOfDate, ErrUnavailable } from "../../raft/errors.ts";
import { message, MessageType, type Snapshot } from "../../raft/messages.ts";
import { ProgressState } from "../../raft/progress.ts";
import { RawNode } from "../../raft/rawnode.ts";
import { MemoryStorage } from "../../raft/storage.ts";
import { entry, hup, Network, newRaft, prop, storageWith, storageWithLog, take } from "./helpers.ts";

const A = 0x8e9e05c52164694dn;
const B = 0x91bc3c398fb3c146n;
const C = 0xfd422379fda50e48n;
const ids = [A, B, C];

function snap(index: number, term: number, voters = ids): Snapshot {
  return {
    data: new TextEncoder().encode(`state@${index}`),
    metadata: { index, term, confState: { voters, learners: [] } },
  };
}

describe("InstallSnapshot", () => {
  test("a follower behind the compacted log is sent a snapshot and then replicated to", () => {
    const net = new Network(ids.map((id) => newRaft(id, ids)));
    net.send(hup(A));
    net.isolate(C);
    for (let i = 0; i < 10; i++) net.send(prop(A, `v${i}`));
    const a = net.get(A);
    const st = a.log.storage as MemoryStorage;
    a.log.appliedTo(a.log.committed);
    st.createSnapshot(11, { data: new TextEncoder().encode("kv@11") });
    st.compact(11);
    net.recover();
    net.tick(A, 1);
    const c = net.get(C);
    expect(net.delivered.some((m) => m.type === MessageType.MsgSnap && m.to === C)).toBe(true);
    expect(c.log.committed).toBe(11);
    expect(c.log.firstIndex()).toBe(12);
    // The follower's acknowledgement of the snapshot moves it straight to replicate; the
    // application's later report that the send finished changes nothing.
    const pr = a.tracker.progress.get(C)!;
    expect(pr.state).toBe(ProgressState.Replicate);
    expect(pr.match).toBe(11);
    a.step(message({ type: MessageType.MsgSnapStatus, from: C }));
    expect(pr.state).toBe(ProgressState.Replicate);
    net.send(prop(A, "after"));
    net.tick(A, 1);
    expect(c.log.lastIndex()).toBe(12);
    expect(pr.state).toBe(ProgressState.Replicate);
  });

  test("a failed snapshot send returns the follower to probing from its match", () => {
    const a = newRaft(A, ids);
    a.step(hup(A));
    a.step(message({ type: MessageType.MsgVoteResp, from: B, term: 1 }));
    const pr = a.tracker.progress.get(C)!;
    pr.becomeSnapshot(10);
    a.step(message({ type: MessageType.MsgSnapStatus, from: C, reject: true }));
    expect(pr.state).toBe(ProgressState.Probe);
    expect(pr.next).toBe(pr.match + 1);
    expect(pr.probeSent).toBe(true);
  });

  test("a follower restores a newer snapshot, replacing its log and membership", () => {
    const f = newRaft(B, ids, { storage: storageWithLog(ids, [1, 1]) });
    f.becomeFollower(2, A);
    f.step(message({ type: MessageType.MsgSnap, from: A, to: B, term: 2, snapshot: snap(10, 2, [A, B]) }));
    expect(f.log.committed).toBe(10);
    expect(f.log.lastIndex()).toBe(10);
    expect(f.log.unstable.snapshot?.metadata.index).toBe(10);
    expect([...f.tracker.voters].sort()).toEqual([A, B].sort());
    expect(take(f)[0]).toMatchObject({ type: MessageType.MsgAppResp, index: 10 });
  });

  test("a stale snapshot is ignored and answered with the commit index", () => {
    const f = newRaft(B, ids, { storage: storageWithLog(ids, [1, 1, 1]) });
    f.becomeFollower(1, A);
    f.log.commitTo(3);
    f.step(message({ type: MessageType.MsgSnap, from: A, to: B, term: 1, snapshot: snap(2, 1) }));
    expect(f.log.lastIndex()).toBe(3);
    expect(take(f)[0]).toMatchObject({ type: MessageType.MsgAppResp, index: 3 });
  });

  test("a snapshot whose last entry we already have only advances the commit index", () => {
    const f = newRaft(B, ids, { storage: storageWithLog(ids, [1, 1, 1, 1]) });
    f.becomeFollower(1, A);
    f.step(message({ type: MessageType.MsgSnap, from: A, to: B, term: 1, snapshot: snap(3, 1) }));
    expect(f.log.committed).toBe(3);
    expect(f.log.lastIndex()).toBe(4);
    expect(f.log.unstable.snapshot).toBe(null);
  });

  test("RawNode hands the snapshot to the application and counts it as applied", () => {
    const storage = storageWith(ids);
    const n = new RawNode({ id: B, storage });
    n.step(message({ type: MessageType.MsgSnap, from: A, to: B, term: 3, snapshot: snap(20, 3) }));
    const rd = n.ready();
    expect(rd.snapshot?.metadata.index).toBe(20);
    expect(rd.hardState).toMatchObject({ term: 3, commit: 20 });
    expect(rd.messages[0]).toMatchObject({ type: MessageType.MsgAppResp, index: 20 });
    storage.applySnapshot(rd.snapshot!);
    storage.setHardState(rd.hardState!);
    n.advance(rd);
    expect(n.status().applied).toBe(20);
    expect(n.hasReady()).toBe(false);
  });
});

describe("MemoryStorage", () => {
  test("serves entries and terms within bounds and reports errors as values", () => {
    const s = storageWithLog(ids, [1, 1, 2, 2, 3]);
    expect(s.firstIndex()).toBe(1);
    expect(s.lastIndex()).toBe(5);
    expect(s.term(3)).toBe(2);
    expect(s.term(6)).toBe(ErrUnavailable);
    const got = s.entries(2, 5, Infinity) as readonly { index: number }[];
    expect(got.map((e) => e.index)).toEqual([2, 3, 4]);
    expect(s.entries(2, 7, Infinity)).toBe(ErrUnavailable);
  });

  test("limits entries by size but returns at least one", () => {
    const s = storageWithLog(ids, [1, 1, 1]);
    expect((s.entries(1, 4, 0) as unknown[]).length).toBe(1);
    expect((s.entries(1, 4, 24) as unknown[]).length).toBe(2);
  });

  test("compaction keeps the term of the last compacted entry", () => {
    const s = storageWithLog(ids, [1, 1, 2, 2, 3]);
    expect(s.compact(3)).toBe(null);
    expect(s.firstIndex()).toBe(4);
    expect(s.term(3)).toBe(2);
    expect(s.term(2)).toBe(ErrCompacted);
    expect(s.entries(3, 5, Infinity)).toBe(ErrCompacted);
    expect(s.compact(2)).toBe(ErrCompacted);
  });

  test("append replaces a conflicting tail and ignores compacted entries", () => {
    const s = storageWithLog(ids, [1, 1, 1, 1]);
    s.append([entry(3, 2), entry(4, 2), entry(5, 2)]);
    expect([1, 2, 3, 4, 5].map((i) => s.term(i))).toEqual([1, 1, 2, 2, 2]);
    s.compact(4);
    s.append([entry(3, 2), entry(4, 2), entry(5, 2), entry(6, 2)]);
    expect(s.lastIndex()).toBe(6);
  });

  test("snapshots: create at an applied index, refuse older ones", () => {
    const s = storageWithLog(ids, [1, 1, 2]);
    const created = s.createSnapshot(2, { data: new Uint8Array([7]) }) as Snapshot;
    expect(created.metadata).toMatchObject({ index: 2, term: 1 });
    expect(s.createSnapshot(1, { data: new Uint8Array() })).toBe(ErrSnapOutOfDate);
    expect(s.applySnapshot(snap(2, 1))).toBe(ErrSnapOutOfDate);
    expect(s.applySnapshot(snap(9, 4))).toBe(null);
    expect(s.firstIndex()).toBe(10);
    expect(s.lastIndex()).toBe(9);
    expect(s.term(9)).toBe(4);
  });
});
