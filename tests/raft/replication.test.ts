import { describe, expect, test } from "bun:test";
import { ErrProposalDropped } from "../../raft/errors.ts";
import { type Entry, message, MessageType } from "../../raft/messages.ts";
import { ProgressState } from "../../raft/progress.ts";
import { type Raft, StateType } from "../../raft/raft.ts";
import { entry, hup, Network, newRaft, persist, prop, storageWithLog, take } from "./helpers.ts";

const A = 0x8e9e05c52164694dn;
const B = 0x91bc3c398fb3c146n;
const C = 0xfd422379fda50e48n;
const D = 0x1111111111111111n;
const E = 0x2222222222222222n;
const ids = [A, B, C];

function allEntries(r: Raft): Entry[] {
  const ents = r.log.slice(r.log.firstIndex(), r.log.lastIndex() + 1, Infinity);
  if (!Array.isArray(ents)) throw new Error(String(ents));
  return ents;
}

function terms(r: Raft): number[] {
  return allEntries(r).map((e) => e.term);
}

/** A leader of `voters` (A first) whose followers are all replicating, its log persisted. */
function replicatingLeader(voters = ids, opts: Parameters<typeof newRaft>[2] = {}): Raft {
  const lead = newRaft(A, voters, opts);
  lead.step(hup(A));
  lead.step(message({ type: MessageType.MsgVoteResp, from: voters[1], term: 1 }));
  take(lead);
  for (const f of voters.slice(1)) {
    lead.step(message({ type: MessageType.MsgAppResp, from: f, term: 1, index: 1 }));
  }
  take(lead);
  persist(lead);
  return lead;
}

describe("log replication (§5.3)", () => {
  test("a new leader appends an empty entry of its term and replicates it", () => {
    const net = new Network(ids.map((id) => newRaft(id, ids)));
    net.send(hup(A));
    for (const id of ids) {
      expect(terms(net.get(id))).toEqual([1]);
      expect(net.get(id).log.committed).toBe(1);
    }
  });

  test("a proposal is replicated and committed on all nodes", () => {
    const net = new Network(ids.map((id) => newRaft(id, ids)));
    net.send(hup(A));
    net.send(prop(A, "hello"));
    for (const id of ids) {
      const r = net.get(id);
      net.tick(A, 1); // heartbeats carry the commit index to followers
      expect(r.log.committed).toBe(2);
      expect(new TextDecoder().decode(allEntries(r)[1].data)).toBe("hello");
    }
  });

  test("a follower forwards proposals to the leader", () => {
    const net = new Network(ids.map((id) => newRaft(id, ids)));
    net.send(hup(A));
    net.send(prop(B, "via follower"));
    expect(net.get(A).log.lastIndex()).toBe(2);
    expect(net.get(A).log.committed).toBe(2);
  });

  test("a proposal with no leader is dropped with an error value", () => {
    const r = newRaft(A, ids);
    expect(r.step(prop(A))).toBe(ErrProposalDropped);
    r.step(hup(A));
    expect(r.state).toBe(StateType.Candidate);
    expect(r.step(prop(A))).toBe(ErrProposalDropped);
  });

  test("the leader overwrites conflicting follower entries (Figure 7)", () => {
    // The leader's log (term 8 after it wins) against followers with missing,
    // extra and conflicting entries.
    const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    const followerLogs = [
      [1, 1, 1, 4, 4, 5, 5, 6, 6],
      [1, 1, 1, 4],
      [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
      [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
      [1, 1, 1, 4, 4, 4, 4],
      [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
    ];
    for (const flog of followerLogs) {
      const lead = newRaft(A, ids, { storage: storageWithLog(ids, leaderLog) });
      lead.term = 7;
      const follower = newRaft(B, ids, { storage: storageWithLog(ids, flog) });
      follower.term = 7;
      // C votes for A; then A leads at term 8.
      const net = new Network([lead, follower, newRaft(C, ids, { storage: storageWithLog(ids, leaderLog) })]);
      net.get(C).term = 7;
      net.send(hup(A));
      expect(lead.state).toBe(StateType.Leader);
      net.send(prop(A));
      expect(terms(follower)).toEqual(terms(lead));
    }
  });

  test("rejection hints skip a whole conflicting term per round trip", () => {
    // The follower has 50 entries of term 2 the leader never had.
    const leaderLog = [1, 1, 3];
    const followerLog = [1, 1, ...Array(50).fill(2)];
    const lead = newRaft(A, ids, { storage: storageWithLog(ids, leaderLog) });
    lead.term = 3;
    const follower = newRaft(B, ids, { storage: storageWithLog(ids, followerLog) });
    follower.term = 3;
    const c = newRaft(C, ids, { storage: storageWithLog(ids, leaderLog) });
    c.term = 3;
    const net = new Network([lead, follower, c]);
    net.send(hup(A));
    const rejections = net.delivered.filter((m) =>
      m.type === MessageType.MsgAppResp && m.reject && m.from === B
    );
    expect(rejections.length).toBeLessThanOrEqual(2);
    expect(terms(follower)).toEqual(terms(lead));
  });

  test("an append below the commit index is answered with the commit index, not applied", () => {
    const r = newRaft(B, ids, { storage: storageWithLog(ids, [1, 1, 1]) });
    r.becomeFollower(2, A);
    r.log.commitTo(3);
    r.step(message({
      type: MessageType.MsgApp,
      from: A,
      to: B,
      term: 2,
      index: 1,
      logTerm: 1,
      entries: [entry(2, 2)],
      commit: 3,
    }));
    expect(terms(r)).toEqual([1, 1, 1]);
    expect(take(r)[0].index).toBe(3);
    // And the log itself refuses to overwrite a committed entry: that would be a bug.
    expect(() => r.log.maybeAppend(1, 1, 3, [entry(2, 2)])).toThrow();
  });
});

describe("commit rules (§5.4.2)", () => {
  test("the leader commits once a majority stores an entry of its term", () => {
    const lead = newRaft(A, [A, B, C, D, E]);
    lead.step(hup(A));
    for (const id of [B, C]) lead.step(message({ type: MessageType.MsgVoteResp, from: id, term: 1 }));
    expect(lead.state).toBe(StateType.Leader);
    lead.step(prop(A));
    expect(lead.log.committed).toBe(0);
    lead.step(message({ type: MessageType.MsgAppResp, from: B, term: 1, index: 2 }));
    expect(lead.log.committed).toBe(0);
    lead.step(message({ type: MessageType.MsgAppResp, from: C, term: 1, index: 2 }));
    expect(lead.log.committed).toBe(2);
  });

  test("entries of an earlier term are not committed by counting replicas (Figure 8)", () => {
    // A was leader in term 2 and replicated index 2 (term 2) to B only; now A is leader of
    // term 4 and B acknowledges index 2: a majority has it, but it must stay uncommitted
    // until an entry of term 4 is replicated to a majority.
    const lead = newRaft(A, ids, { storage: storageWithLog(ids, [1, 2]) });
    lead.term = 3;
    lead.step(hup(A));
    lead.step(message({ type: MessageType.MsgVoteResp, from: B, term: 4 }));
    expect(lead.state).toBe(StateType.Leader);
    take(lead);
    lead.step(message({ type: MessageType.MsgAppResp, from: B, term: 4, index: 2 }));
    expect(lead.log.committed).toBe(0);
    // Once index 3 (term 4, the leader's empty entry) is on a majority, both commit.
    lead.step(message({ type: MessageType.MsgAppResp, from: B, term: 4, index: 3 }));
    expect(lead.log.committed).toBe(3);
  });

  test("followers learn the commit index from appends and heartbeats, never beyond what they have", () => {
    const f = newRaft(B, ids, { storage: storageWithLog(ids, [1, 1]) });
    f.becomeFollower(1, A);
    f.step(message({ type: MessageType.MsgHeartbeat, from: A, to: B, term: 1, commit: 2 }));
    expect(f.log.committed).toBe(2);
    f.step(message({
      type: MessageType.MsgApp,
      from: A,
      to: B,
      term: 1,
      index: 2,
      logTerm: 1,
      entries: [{ index: 3, term: 1, type: 0, data: new Uint8Array() }],
      commit: 10,
    }));
    expect(f.log.committed).toBe(3);
  });
});

describe("flow control", () => {
  test("a follower in probe state gets one MsgApp per heartbeat interval", () => {
    const lead = newRaft(A, [A, B], { maxSizePerMsg: 0 });
    lead.step(hup(A));
    lead.step(message({ type: MessageType.MsgVoteResp, from: B, term: 1 }));
    take(lead);
    const pr = lead.tracker.progress.get(B)!;
    expect(pr.state).toBe(ProgressState.Probe);
    for (let i = 0; i < 5; i++) lead.step(prop(A));
    const apps = take(lead).filter((m) => m.type === MessageType.MsgApp);
    expect(apps.length).toBe(0); // paused: the empty-entry probe is still outstanding
  });

  test("in replicate state MsgApps pipeline up to the inflight limit, then pause", () => {
    const lead = newRaft(A, [A, B], { maxSizePerMsg: 0, maxInflightMsgs: 3 });
    lead.step(hup(A));
    lead.step(message({ type: MessageType.MsgVoteResp, from: B, term: 1 }));
    take(lead);
    lead.step(message({ type: MessageType.MsgAppResp, from: B, term: 1, index: 1 }));
    expect(lead.tracker.progress.get(B)!.state).toBe(ProgressState.Replicate);
    take(lead);
    for (let i = 0; i < 10; i++) lead.step(prop(A));
    const apps = take(lead).filter((m) => m.type === MessageType.MsgApp && m.entries.length > 0);
    expect(apps.length).toBe(3);
    // Acknowledging the first frees one slot.
    lead.step(
      message({ type: MessageType.MsgAppResp, from: B, term: 1, index: apps[0].entries.at(-1)!.index }),
    );
    expect(take(lead).filter((m) => m.type === MessageType.MsgApp).length).toBeGreaterThan(0);
  });

  test("one MsgApp carries many entries, bounded by maxSizePerMsg", () => {
    const lead = replicatingLeader([A, B], { maxSizePerMsg: 1000 });
    // Batch while B's window is full, then let it drain.
    const datas = Array.from({ length: 100 }, () => new Uint8Array(88));
    lead.step(message({
      type: MessageType.MsgProp,
      from: A,
      entries: datas.map((data) => ({ term: 0, index: 0, type: 0, data })),
    }));
    const apps = take(lead).filter((m) => m.type === MessageType.MsgApp);
    expect(apps[0].entries.length).toBe(10); // 10 * (88 + 12) = 1000 bytes
  });

  test("the uncommitted tail is bounded by maxUncommittedEntriesSize", () => {
    const lead = newRaft(A, ids, { maxUncommittedEntriesSize: 100 });
    lead.step(hup(A));
    lead.step(message({ type: MessageType.MsgVoteResp, from: B, term: 1 }));
    const big = (n: number) =>
      message({
        type: MessageType.MsgProp,
        from: A,
        entries: [{ term: 0, index: 0, type: 0, data: new Uint8Array(n) }],
      });
    expect(lead.step(big(60))).toBe(null);
    expect(lead.step(big(60))).toBe(ErrProposalDropped);
  });
});

describe("batched appends", () => {
  test("proposals of one Ready reach each follower as one MsgApp holding all of them", () => {
    const lead = replicatingLeader();
    for (let i = 0; i < 10; i++) lead.step(prop(A, `p${i}`));
    const apps = take(lead).filter((m) => m.type === MessageType.MsgApp);
    expect(apps.map((m) => m.to).sort()).toEqual([B, C].sort());
    for (const m of apps) {
      expect(m.index).toBe(1);
      expect(m.entries.map((e) => e.index)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
      expect(lead.tracker.progress.get(m.to)!.next).toBe(12);
      // One message in flight, not ten: the window counts messages.
      expect(lead.tracker.progress.get(m.to)!.inflights.size()).toBe(1);
    }
  });

  test("a commit advance rides on the MsgApp already queued instead of a message of its own", () => {
    const lead = replicatingLeader();
    lead.step(prop(A, "a"));
    lead.step(message({ type: MessageType.MsgAppResp, from: B, term: 1, index: 2 }));
    expect(lead.log.committed).toBe(2);
    const apps = take(lead).filter((m) => m.type === MessageType.MsgApp);
    expect(apps.length).toBe(2);
    for (const m of apps) expect(m.commit).toBe(2);
  });

  test("a batch takes one inflight slot however it grows; acknowledging it frees the slot", () => {
    const lead = replicatingLeader([A, B], { maxInflightMsgs: 2 });
    const pr = lead.tracker.progress.get(B)!;
    const sent = () =>
      take(lead).filter((m) => m.type === MessageType.MsgApp && m.entries.length > 0).map((m) =>
        m.entries.map((e) => e.index)
      );
    for (let i = 0; i < 3; i++) lead.step(prop(A));
    expect(sent()).toEqual([[2, 3, 4]]);
    expect(pr.inflights.size()).toBe(1);
    lead.step(prop(A));
    expect(sent()).toEqual([[5]]);
    expect(pr.inflights.full()).toBe(true);
    for (let i = 0; i < 2; i++) lead.step(prop(A));
    expect(sent()).toEqual([]); // paused: they wait for an acknowledgement
    lead.step(message({ type: MessageType.MsgAppResp, from: B, term: 1, index: 4 }));
    expect(sent()).toEqual([[6, 7]]);
  });

  test("a follower forwards the proposals of one Ready to the leader as one MsgProp, in order", () => {
    const net = new Network(ids.map((id) => newRaft(id, ids)));
    net.send(hup(A));
    const b = net.get(B);
    take(b);
    for (let i = 0; i < 4; i++) b.step(prop(B, `f${i}`));
    const props = take(b);
    expect(props.length).toBe(1);
    expect(props[0].type).toBe(MessageType.MsgProp);
    expect(props[0].to).toBe(A);
    expect(props[0].entries.map((e) => new TextDecoder().decode(e.data))).toEqual(["f0", "f1", "f2", "f3"]);
  });

  test("with batching off every proposal is its own MsgApp, as in etcd's raft", () => {
    const lead = replicatingLeader(ids, { batchAppends: false });
    for (let i = 0; i < 3; i++) lead.step(prop(A));
    const apps = take(lead).filter((m) => m.type === MessageType.MsgApp);
    expect(apps.length).toBe(6);
  });
});
