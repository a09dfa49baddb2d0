import { describe, expect, test } from "bun:test";
import { message, MessageType, NONE } from "../../raft/messages.ts";
import { StateType } from "../../raft/raft.ts";
import { hup, Network, newRaft, prop, storageWithLog, take } from "./helpers.ts";

// Big IDs on purpose: etcd member IDs are random uint64s beyond 2^53.
const A = 0x8e9e05c52164694dn;
const B = 0x91bc3c398fb3c146n;
const C = 0xfd422379fda50e48n;
const ids = [A, B, C];

describe("leader election (§5.2)", () => {
  test("a candidate with a majority of votes becomes leader", () => {
    const net = new Network(ids.map((id) => newRaft(id, ids)));
    net.send(hup(A));
    expect(net.get(A).state).toBe(StateType.Leader);
    expect(net.get(A).term).toBe(1);
    expect(net.get(B).lead).toBe(A);
    expect(net.get(C).vote).toBe(A);
  });

  test("a follower times out into candidacy after its randomized election timeout", () => {
    const r = newRaft(A, ids);
    for (let i = 0; i < 2 * 10; i++) r.tick();
    expect(r.state).toBe(StateType.Candidate);
    expect(r.term).toBe(1);
    expect(r.vote).toBe(A);
    const votes = take(r).filter((m) => m.type === MessageType.MsgVote);
    expect(votes.map((m) => m.to).sort()).toEqual([B, C].sort());
  });

  test("randomized election timeouts lie in [electionTick, 2*electionTick) and vary", () => {
    const seen = new Set<number>();
    for (let seed = 0; seed < 50; seed++) {
      const r = newRaft(A, ids, { seed });
      expect(r.randomizedElectionTimeout).toBeGreaterThanOrEqual(10);
      expect(r.randomizedElectionTimeout).toBeLessThan(20);
      seen.add(r.randomizedElectionTimeout);
    }
    expect(seen.size).toBeGreaterThan(3);
  });

  test("a candidate without a majority stays candidate; with a majority rejecting, it steps down", () => {
    const net = new Network(ids.map((id) => newRaft(id, ids)));
    net.isolate(A);
    net.send(hup(A));
    expect(net.get(A).state).toBe(StateType.Candidate);
    const r = newRaft(A, ids);
    r.step(hup(A));
    take(r);
    r.step(message({ type: MessageType.MsgVoteResp, from: B, term: 1, reject: true }));
    expect(r.state).toBe(StateType.Candidate);
    r.step(message({ type: MessageType.MsgVoteResp, from: C, term: 1, reject: true }));
    expect(r.state).toBe(StateType.Follower);
  });

  test("a single-voter group elects itself at once", () => {
    const r = newRaft(A, [A]);
    r.step(hup(A));
    expect(r.state).toBe(StateType.Leader);
  });
});

describe("vote granting (§5.2, §5.4.1)", () => {
  function voteFor(voterLog: number[], candIndex: number, candLogTerm: number, vote = NONE) {
    const r = newRaft(B, ids, { storage: storageWithLog(ids, voterLog) });
    r.term = 5;
    r.vote = vote;
    r.step(
      message({ type: MessageType.MsgVote, from: A, to: B, term: 5, index: candIndex, logTerm: candLogTerm }),
    );
    const resp = take(r).find((m) => m.type === MessageType.MsgVoteResp)!;
    return { granted: !resp.reject, r };
  }

  test("grants to an up-to-date candidate and records the vote", () => {
    const { granted, r } = voteFor([1, 2], 2, 2);
    expect(granted).toBe(true);
    expect(r.vote).toBe(A);
  });

  test("rejects a candidate whose last term is lower", () => {
    expect(voteFor([1, 2], 5, 1).granted).toBe(false);
  });

  test("rejects a candidate with the same last term but a shorter log", () => {
    expect(voteFor([1, 2, 2], 2, 2).granted).toBe(false);
  });

  test("grants to a candidate with a higher last term even if its log is shorter", () => {
    expect(voteFor([1, 1, 1], 1, 2).granted).toBe(true);
  });

  test("votes at most once per term, but repeats a vote for the same candidate", () => {
    expect(voteFor([], 0, 0, C).granted).toBe(false);
    expect(voteFor([], 0, 0, A).granted).toBe(true);
  });
});

describe("term handling (§5.1)", () => {
  test("a node that sees a higher term becomes follower of that term and clears its vote", () => {
    const net = new Network(ids.map((id) => newRaft(id, ids)));
    net.send(hup(A));
    const a = net.get(A);
    a.step(message({ type: MessageType.MsgAppResp, from: B, to: A, term: 7 }));
    expect(a.state).toBe(StateType.Follower);
    expect(a.term).toBe(7);
    expect(a.vote).toBe(NONE);
  });

  test("a heartbeat from a leader of a higher term sets the leader", () => {
    const r = newRaft(B, ids);
    r.step(message({ type: MessageType.MsgHeartbeat, from: A, to: B, term: 3 }));
    expect(r.term).toBe(3);
    expect(r.lead).toBe(A);
  });

  test("messages from an older term are ignored", () => {
    const r = newRaft(B, ids);
    r.becomeFollower(5, C);
    r.step(message({ type: MessageType.MsgApp, from: A, to: B, term: 4, entries: [] }));
    expect(r.term).toBe(5);
    expect(r.lead).toBe(C);
    expect(take(r)).toEqual([]);
  });

  test("with CheckQuorum an old-term MsgApp is answered with our term, deposing the stale leader", () => {
    const r = newRaft(B, ids, { checkQuorum: true });
    r.becomeFollower(5, C);
    r.step(message({ type: MessageType.MsgApp, from: A, to: B, term: 4 }));
    const out = take(r);
    expect(out.length).toBe(1);
    expect(out[0].type).toBe(MessageType.MsgAppResp);
    expect(out[0].term).toBe(5);
  });
});

describe("PreVote", () => {
  test("a partitioned node does not raise its term and cannot disrupt a stable leader", () => {
    const rs = ids.map((id) => newRaft(id, ids, { preVote: true }));
    const net = new Network(rs);
    net.send(hup(A));
    expect(net.get(A).state).toBe(StateType.Leader);
    net.isolate(C);
    // The group moves on without C, so C's log falls behind.
    net.send(prop(A));
    net.tick(C, 100);
    expect(net.get(C).term).toBe(1);
    expect(net.get(C).state).toBe(StateType.PreCandidate);
    net.recover();
    // Its next pre-vote is rejected (its log is behind); the leader stays.
    net.tick(C, 30);
    net.tick(A, 1);
    expect(net.get(A).state).toBe(StateType.Leader);
    expect(net.get(A).term).toBe(1);
    expect(net.get(C).lead).toBe(A);
  });

  test("without PreVote the same partition forces a new election at a higher term", () => {
    const net = new Network(ids.map((id) => newRaft(id, ids)));
    net.send(hup(A));
    net.isolate(C);
    net.tick(C, 100);
    expect(net.get(C).term).toBeGreaterThan(1);
    net.recover();
    net.tick(C, 30);
    expect(net.get(A).term).toBeGreaterThan(1);
  });

  test("pre-votes do not change the voter's term or vote", () => {
    const r = newRaft(B, ids, { preVote: true });
    r.becomeFollower(2, NONE);
    r.step(message({ type: MessageType.MsgPreVote, from: A, to: B, term: 3, index: 0, logTerm: 0 }));
    const resp = take(r)[0];
    expect(resp.type).toBe(MessageType.MsgPreVoteResp);
    expect(resp.reject).toBe(false);
    expect(resp.term).toBe(3);
    expect(r.term).toBe(2);
    expect(r.vote).toBe(NONE);
  });
});

describe("CheckQuorum", () => {
  test("a leader that loses contact with a quorum steps down after an election timeout", () => {
    const net = new Network(ids.map((id) => newRaft(id, ids, { checkQuorum: true })));
    net.send(hup(A));
    net.isolate(A);
    net.tick(A, 10);
    expect(net.get(A).state).toBe(StateType.Leader);
    net.tick(A, 10);
    expect(net.get(A).state).toBe(StateType.Follower);
  });

  test("a leader that hears from a quorum stays leader", () => {
    const net = new Network(ids.map((id) => newRaft(id, ids, { checkQuorum: true })));
    net.send(hup(A));
    net.isolate(C);
    net.tick(A, 50);
    expect(net.get(A).state).toBe(StateType.Leader);
  });

  test("followers in a live leader's lease ignore vote requests", () => {
    const net = new Network(ids.map((id) => newRaft(id, ids, { checkQuorum: true })));
    net.send(hup(A));
    const b = net.get(B);
    b.step(message({ type: MessageType.MsgVote, from: C, to: B, term: 2, index: 10, logTerm: 1 }));
    expect(b.term).toBe(1);
    expect(take(b)).toEqual([]);
  });
});
