import { describe, expect, test } from "bun:test";
import { encodeConfChange } from "../../raft/codec.ts";
import { ErrProposalDropped } from "../../raft/errors.ts";
import { ConfChangeType, EntryType, message, MessageType, type NodeId } from "../../raft/messages.ts";
import { StateType } from "../../raft/raft.ts";
import { hup, Network, newRaft, persist, prop, take } from "./helpers.ts";

const A = 0x8e9e05c52164694dn;
const B = 0x91bc3c398fb3c146n;
const C = 0xfd422379fda50e48n;
const L = 0x0123456789abcdefn;

function propConfChange(from: NodeId, type: ConfChangeType, nodeId: NodeId) {
  return message({
    type: MessageType.MsgProp,
    from,
    entries: [{
      term: 0,
      index: 0,
      type: EntryType.EntryConfChange,
      data: encodeConfChange({ type, nodeId }),
    }],
  });
}

describe("membership changes, one at a time", () => {
  test("a conf change takes effect when applied, not when appended or committed", () => {
    const net = new Network([A, B].map((id) => newRaft(id, [A, B])));
    net.send(hup(A));
    const a = net.get(A);
    net.send(propConfChange(A, ConfChangeType.ConfChangeAddNode, C));
    expect(a.log.committed).toBe(2);
    expect(a.tracker.voters.has(C)).toBe(false);
    expect(a.tracker.quorum()).toBe(2);
    const cs = a.applyConfChange({ type: ConfChangeType.ConfChangeAddNode, nodeId: C });
    expect(cs.voters).toContain(C);
    expect(a.tracker.voters.has(C)).toBe(true);
    // Three voters now: a quorum is two, so A and B alone still commit.
    expect(a.tracker.quorum()).toBe(2);
  });

  test("the leader refuses a second conf change until the first is applied", () => {
    const net = new Network([A, B].map((id) => newRaft(id, [A, B])));
    net.send(hup(A));
    const a = net.get(A);
    a.log.appliedTo(a.log.committed);
    expect(a.step(propConfChange(A, ConfChangeType.ConfChangeAddNode, C))).toBe(null);
    net.send(...take(a));
    expect(a.step(propConfChange(A, ConfChangeType.ConfChangeRemoveNode, B))).toBe(ErrProposalDropped);
    // Normal proposals are still fine.
    expect(a.step(prop(A))).toBe(null);
    a.log.appliedTo(2);
    a.applyConfChange({ type: ConfChangeType.ConfChangeAddNode, nodeId: C });
    expect(a.step(propConfChange(A, ConfChangeType.ConfChangeRemoveNode, B))).toBe(null);
  });

  test("a new leader refuses conf changes until it has applied its whole log", () => {
    const a = newRaft(A, [A]);
    a.step(hup(A));
    expect(a.pendingConfIndex).toBe(0);
    const b = newRaft(A, [A], { storage: a.log.storage });
    persist(a);
    b.step(hup(A));
    expect(b.step(propConfChange(A, ConfChangeType.ConfChangeAddNode, C))).toBe(ErrProposalDropped);
  });

  test("removing a node shrinks the quorum so pending entries can commit", () => {
    const a = newRaft(A, [A, B, C]);
    a.step(hup(A));
    a.step(message({ type: MessageType.MsgVoteResp, from: B, term: 1 }));
    a.step(message({ type: MessageType.MsgAppResp, from: B, term: 1, index: 1 }));
    take(a);
    a.step(prop(A));
    expect(a.log.committed).toBe(1);
    a.applyConfChange({ type: ConfChangeType.ConfChangeRemoveNode, nodeId: B });
    a.applyConfChange({ type: ConfChangeType.ConfChangeRemoveNode, nodeId: C });
    expect(a.log.committed).toBe(2);
  });

  test("a leader that removes itself steps down and hands over", () => {
    const net = new Network([A, B, C].map((id) => newRaft(id, [A, B, C])));
    net.send(hup(A));
    for (const id of [A, B, C]) {
      net.get(id).applyConfChange({ type: ConfChangeType.ConfChangeRemoveNode, nodeId: A });
    }
    const out = take(net.get(A));
    expect(net.get(A).state).toBe(StateType.Follower);
    expect(out.some((m) => m.type === MessageType.MsgTimeoutNow)).toBe(true);
    net.send(...out);
    expect([B, C].some((id) => net.get(id).state === StateType.Leader)).toBe(true);
  });

  test("a removed node does not campaign", () => {
    const r = newRaft(A, [A, B]);
    r.applyConfChange({ type: ConfChangeType.ConfChangeRemoveNode, nodeId: A });
    for (let i = 0; i < 100; i++) r.tick();
    expect(r.state).toBe(StateType.Follower);
    expect(take(r)).toEqual([]);
  });
});

describe("learners", () => {
  test("a learner never campaigns", () => {
    const r = newRaft(L, [A, B], { learners: [L] });
    expect(r.isLearner).toBe(true);
    for (let i = 0; i < 100; i++) r.tick();
    expect(r.state).toBe(StateType.Follower);
    expect(take(r)).toEqual([]);
    r.step(message({ type: MessageType.MsgTimeoutNow, from: A, to: L, term: 0 }));
    expect(r.state).toBe(StateType.Follower);
  });

  test("a learner's vote is not counted and it is not part of any quorum", () => {
    const a = newRaft(A, [A, B], { learners: [L] });
    a.step(hup(A));
    a.step(message({ type: MessageType.MsgVoteResp, from: L, term: 1 }));
    expect(a.state).toBe(StateType.Candidate);
    a.step(message({ type: MessageType.MsgVoteResp, from: B, term: 1 }));
    expect(a.state).toBe(StateType.Leader);
    // No vote request goes to the learner.
    expect(take(a).filter((m) => m.type === MessageType.MsgVote).map((m) => m.to)).toEqual([B]);
    // The learner's acknowledgement does not commit anything.
    a.step(prop(A));
    a.step(message({ type: MessageType.MsgAppResp, from: L, term: 1, index: 2 }));
    expect(a.log.committed).toBe(0);
    a.step(message({ type: MessageType.MsgAppResp, from: B, term: 1, index: 2 }));
    expect(a.log.committed).toBe(2);
  });

  test("a learner receives the log and can be promoted by AddNode", () => {
    const net = new Network([
      newRaft(A, [A, B], { learners: [L] }),
      newRaft(B, [A, B], { learners: [L] }),
      newRaft(L, [A, B], { learners: [L] }),
    ]);
    net.send(hup(A));
    net.send(prop(A));
    net.tick(A, 1);
    expect(net.get(L).log.committed).toBe(2);
    for (const id of [A, B, L]) {
      net.get(id).applyConfChange({ type: ConfChangeType.ConfChangeAddNode, nodeId: L });
    }
    expect(net.get(L).isLearner).toBe(false);
    expect(net.get(A).tracker.voters.has(L)).toBe(true);
    expect(net.get(A).tracker.quorum()).toBe(2);
    // Now it may campaign.
    net.isolate(A);
    net.tick(L, 30);
    expect(net.get(L).state).not.toBe(StateType.Follower);
  });

  test("a learner cannot be the target of a leadership transfer", () => {
    const net = new Network([newRaft(A, [A, B], { learners: [L] }), newRaft(B, [A, B], { learners: [L] })]);
    net.send(hup(A));
    net.send(message({ type: MessageType.MsgTransferLeader, from: L, to: A }));
    expect(net.get(A).leadTransferee).toBe(0n);
  });
});
