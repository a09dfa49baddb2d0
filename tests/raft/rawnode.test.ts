import { describe, expect, test } from "bun:test";
import { decodeConfChange } from "../../raft/codec.ts";
import { ErrProposalDropped, ErrStepLocalMsg } from "../../raft/errors.ts";
import {
  ConfChangeType,
  EntryType,
  type Message,
  message,
  MessageType,
  type NodeId,
} from "../../raft/messages.ts";
import { ProgressState } from "../../raft/progress.ts";
import { StateType } from "../../raft/raft.ts";
import { RawNode, type Ready } from "../../raft/rawnode.ts";
import { MemoryStorage } from "../../raft/storage.ts";

const A = 0x8e9e05c52164694dn;
const B = 0x91bc3c398fb3c146n;
const C = 0xfd422379fda50e48n;
const ids = [A, B, C];

/** Drives a RawNode the way the application must: persist, send, apply, advance. */
function handle(
  n: RawNode,
  s: MemoryStorage,
  out: Message[],
  applied: { index: number; data: string }[],
): Ready {
  const rd = n.ready();
  if (rd.snapshot) s.applySnapshot(rd.snapshot);
  s.append(rd.entries);
  if (rd.hardState) s.setHardState(rd.hardState);
  out.push(...rd.messages);
  for (const e of rd.committedEntries) {
    if (e.type === EntryType.EntryConfChange) n.applyConfChange(decodeConfChange(e.data));
    applied.push({ index: e.index, data: new TextDecoder().decode(e.data) });
  }
  n.advance(rd);
  return rd;
}

describe("RawNode", () => {
  test("bootstraps a new group from peers as committed conf-change entries", () => {
    const s = new MemoryStorage();
    const n = new RawNode({ id: A, peers: ids, storage: s });
    const rd = n.ready();
    expect(rd.entries.length).toBe(3);
    expect(rd.entries.every((e) => e.type === EntryType.EntryConfChange && e.term === 1)).toBe(true);
    expect(rd.hardState).toEqual({ term: 1, vote: 0n, commit: 3 });
    expect(rd.committedEntries.length).toBe(3);
    expect(rd.committedEntries.map((e) => decodeConfChange(e.data).nodeId)).toEqual(ids);
    expect(decodeConfChange(rd.committedEntries[0].data).type).toBe(ConfChangeType.ConfChangeAddNode);
    expect(rd.mustSync).toBe(true);
  });

  test("restarting from storage does not bootstrap again and replays unapplied entries", () => {
    const s = new MemoryStorage();
    const out: Message[] = [];
    const applied: { index: number; data: string }[] = [];
    const n = new RawNode({ id: A, peers: [A], storage: s });
    handle(n, s, out, applied);
    n.campaign();
    handle(n, s, out, applied);
    n.propose(new TextEncoder().encode("x"));
    handle(n, s, out, applied);
    expect(applied.map((a) => a.index)).toEqual([1, 2, 3]);
    const restarted = new RawNode({ id: A, peers: [A], storage: s });
    const rd = restarted.ready();
    expect(rd.entries).toEqual([]);
    expect(rd.committedEntries.map((e) => e.index)).toEqual([1, 2, 3]);
    expect(restarted.raft.term).toBe(2);
    // With `applied`, entries the state machine already has are not replayed.
    const again = new RawNode({ id: A, storage: s, applied: 3 });
    expect(again.hasReady()).toBe(false);
  });

  test("ready carries the hard state and entries to persist before the messages", () => {
    const s = new MemoryStorage();
    const n = new RawNode({ id: A, peers: ids, storage: s });
    handle(n, s, [], []);
    n.campaign();
    const rd = n.ready();
    expect(rd.softState).toEqual({ lead: 0n, state: StateType.Candidate });
    expect(rd.hardState).toMatchObject({ term: 2, vote: A });
    expect(rd.mustSync).toBe(true);
    expect(rd.messages.filter((m) => m.type === MessageType.MsgVote).length).toBe(2);
    expect(() => n.ready()).toThrow();
    n.advance(rd);
    expect(n.hasReady()).toBe(false);
  });

  test("a commit-index-only change needs no fsync", () => {
    const s = new MemoryStorage();
    const n = new RawNode({ id: B, peers: ids, storage: s });
    handle(n, s, [], []);
    n.step(message({
      type: MessageType.MsgApp,
      from: A,
      to: B,
      term: 2,
      index: 3,
      logTerm: 1,
      entries: [{ index: 4, term: 2, type: 0, data: new Uint8Array() }],
    }));
    handle(n, s, [], []);
    n.step(message({ type: MessageType.MsgHeartbeat, from: A, to: B, term: 2, commit: 4 }));
    const rd = n.ready();
    expect(rd.hardState?.commit).toBe(4);
    expect(rd.mustSync).toBe(false);
    expect(rd.committedEntries.map((e) => e.index)).toEqual([4]);
  });

  test("propose returns ErrProposalDropped as a value when there is no leader", () => {
    const n = new RawNode({ id: A, peers: ids, storage: new MemoryStorage() });
    expect(n.propose(new Uint8Array([1]))).toBe(ErrProposalDropped);
    expect(n.proposeConfChange({ type: ConfChangeType.ConfChangeRemoveNode, nodeId: B })).toBe(
      ErrProposalDropped,
    );
  });

  test("step rejects local message types from the network", () => {
    const n = new RawNode({ id: A, peers: ids, storage: new MemoryStorage() });
    expect(n.step(message({ type: MessageType.MsgHup, from: B }))).toBe(ErrStepLocalMsg);
  });

  test("a batch of proposals is one Ready and one MsgApp per follower", () => {
    const nodes = new Map<NodeId, { n: RawNode; s: MemoryStorage }>();
    for (const id of ids) {
      const s = new MemoryStorage();
      nodes.set(id, { n: new RawNode({ id, peers: ids, storage: s }), s });
    }
    const queue: Message[] = [];
    const pump = () => {
      for (let round = 0; round < 50; round++) {
        for (const { n, s } of nodes.values()) if (n.hasReady()) handle(n, s, queue, []);
        if (queue.length === 0) return;
        for (const m of queue.splice(0)) nodes.get(m.to)!.n.step(m);
      }
    };
    pump();
    nodes.get(A)!.n.campaign();
    pump();
    const a = nodes.get(A)!;
    expect(a.n.raft.state).toBe(StateType.Leader);
    a.n.proposeBatch(Array.from({ length: 100 }, (_, i) => new TextEncoder().encode(`p${i}`)));
    const rd = a.n.ready();
    expect(rd.entries.length).toBe(100);
    expect(rd.messages.filter((m) => m.type === MessageType.MsgApp).map((m) => m.entries.length)).toEqual([
      100,
      100,
    ]);
    a.s.append(rd.entries);
    a.n.advance(rd);
  });

  test("input between ready() and advance() (as during an async fsync) comes out in the next Ready", () => {
    const s = new MemoryStorage();
    const n = new RawNode({ id: A, peers: [A], storage: s });
    handle(n, s, [], []);
    n.campaign();
    handle(n, s, [], []);
    n.propose(new TextEncoder().encode("first"));
    const rd1 = n.ready();
    expect(rd1.entries.map((e) => e.index)).toEqual([3]);
    // While rd1 is being persisted, more work arrives.
    n.propose(new TextEncoder().encode("second"));
    n.tick();
    s.append(rd1.entries);
    if (rd1.hardState) s.setHardState(rd1.hardState);
    n.advance(rd1);
    expect(n.hasReady()).toBe(true);
    const rd2 = n.ready();
    expect(rd2.entries.map((e) => e.index)).toEqual([4]);
    expect(rd2.committedEntries.map((e) => e.index)).toEqual([4]);
    s.append(rd2.entries);
    n.advance(rd2);
    expect(n.status().applied).toBe(4);
    expect(n.raft.log.unstable.entries).toEqual([]);
  });

  test("status reports progress on the leader", () => {
    const s = new MemoryStorage();
    const n = new RawNode({ id: A, peers: [A], storage: s });
    // The bootstrap conf changes must be applied before campaigning.
    handle(n, s, [], []);
    n.campaign();
    const st = n.status();
    expect(st.state).toBe(StateType.Leader);
    expect(st.progress.get(A)?.state).toBe(ProgressState.Replicate);
    expect(st.isLearner).toBe(false);
  });
});
