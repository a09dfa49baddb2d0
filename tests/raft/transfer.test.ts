import { describe, expect, test } from "bun:test";
import { ErrProposalDropped } from "../../raft/errors.ts";
import { message, MessageType, NONE } from "../../raft/messages.ts";
import { StateType } from "../../raft/raft.ts";
import { hup, Network, newRaft, prop } from "./helpers.ts";

const A = 0x8e9e05c52164694dn;
const B = 0x91bc3c398fb3c146n;
const C = 0xfd422379fda50e48n;
const ids = [A, B, C];

function transfer(to: bigint, via: bigint) {
  return message({ type: MessageType.MsgTransferLeader, from: to, to: via });
}

describe("leadership transfer (§3.10 of the Raft thesis)", () => {
  test("an up-to-date transferee receives MsgTimeoutNow and wins at once", () => {
    for (const preVote of [false, true]) {
      const net = new Network(ids.map((id) => newRaft(id, ids, { preVote, checkQuorum: true })));
      net.send(hup(A));
      net.send(transfer(B, A));
      expect(net.get(B).state).toBe(StateType.Leader);
      expect(net.get(B).term).toBe(2);
      expect(net.get(A).state).toBe(StateType.Follower);
      expect(net.get(A).lead).toBe(B);
    }
  });

  test("a lagging transferee is caught up first", () => {
    const net = new Network(ids.map((id) => newRaft(id, ids)));
    net.send(hup(A));
    net.isolate(C);
    net.send(prop(A));
    net.recover();
    // The transfer message goes to the leader; C catches up, then takes over.
    net.send(transfer(C, A));
    expect(net.get(C).state).toBe(StateType.Leader);
    expect(net.get(C).log.lastIndex()).toBeGreaterThanOrEqual(2);
  });

  test("a follower forwards the request to the leader", () => {
    const net = new Network(ids.map((id) => newRaft(id, ids)));
    net.send(hup(A));
    net.send(transfer(C, B));
    expect(net.get(C).state).toBe(StateType.Leader);
  });

  test("proposals are dropped while a transfer is in progress", () => {
    const net = new Network(ids.map((id) => newRaft(id, ids)));
    net.send(hup(A));
    net.isolate(C);
    net.send(transfer(C, A));
    expect(net.get(A).leadTransferee).toBe(C);
    expect(net.get(A).step(prop(A))).toBe(ErrProposalDropped);
  });

  test("a transfer that does not finish within an election timeout is aborted", () => {
    const net = new Network(ids.map((id) => newRaft(id, ids)));
    net.send(hup(A));
    net.isolate(C);
    net.send(transfer(C, A));
    expect(net.get(A).leadTransferee).toBe(C);
    net.tick(A, 9);
    expect(net.get(A).leadTransferee).toBe(C);
    net.tick(A, 1);
    expect(net.get(A).leadTransferee).toBe(NONE);
    expect(net.get(A).state).toBe(StateType.Leader);
    expect(net.get(A).step(prop(A))).toBe(null);
  });

  test("transferring to the leader itself or to a non-member is ignored", () => {
    const net = new Network(ids.map((id) => newRaft(id, ids)));
    net.send(hup(A));
    net.send(transfer(A, A));
    expect(net.get(A).leadTransferee).toBe(NONE);
    net.send(transfer(0x1234n, A));
    expect(net.get(A).leadTransferee).toBe(NONE);
    expect(net.get(A).state).toBe(StateType.Leader);
  });

  test("MsgTimeoutNow bypasses the leader lease of the other followers", () => {
    const net = new Network(ids.map((id) => newRaft(id, ids, { checkQuorum: true })));
    net.send(hup(A));
    net.send(transfer(C, A));
    expect(net.get(C).state).toBe(StateType.Leader);
  });
});
