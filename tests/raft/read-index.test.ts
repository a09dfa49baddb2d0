import { describe, expect, test } from "bun:test";
import { EntryType, message, MessageType, type NodeId } from "../../raft/messages.ts";
import { StateType } from "../../raft/raft.ts";
import { hup, Network, newRaft, prop, take } from "./helpers.ts";

const A = 0x8e9e05c52164694dn;
const B = 0x91bc3c398fb3c146n;
const C = 0xfd422379fda50e48n;
const ids = [A, B, C];

function readIndex(from: NodeId, ctx: string) {
  return message({
    type: MessageType.MsgReadIndex,
    from,
    entries: [{ term: 0, index: 0, type: EntryType.EntryNormal, data: new TextEncoder().encode(ctx) }],
  });
}

function ctxOf(rs: { requestCtx: Uint8Array }): string {
  return new TextDecoder().decode(rs.requestCtx);
}

describe("ReadIndex (§6.4 of the Raft thesis)", () => {
  test("the leader answers at its commit index after a heartbeat round confirms leadership", () => {
    const net = new Network(ids.map((id) => newRaft(id, ids)));
    net.send(hup(A));
    net.send(prop(A));
    net.send(readIndex(A, "r1"));
    const a = net.get(A);
    expect(a.readStates.map(ctxOf)).toEqual(["r1"]);
    expect(a.readStates[0].index).toBe(2);
    // The confirmation was a heartbeat carrying the request's context.
    expect(net.delivered.some((m) => m.type === MessageType.MsgHeartbeat && m.context !== null)).toBe(true);
  });

  test("a follower's request is forwarded and answered with a MsgReadIndexResp", () => {
    const net = new Network(ids.map((id) => newRaft(id, ids)));
    net.send(hup(A));
    net.send(readIndex(B, "from-b"));
    const b = net.get(B);
    expect(b.readStates.map(ctxOf)).toEqual(["from-b"]);
    expect(b.readStates[0].index).toBe(1);
  });

  test("concurrent reads share one heartbeat round", () => {
    const a = newRaft(A, ids);
    a.step(hup(A));
    a.step(message({ type: MessageType.MsgVoteResp, from: B, term: 1 }));
    a.step(message({ type: MessageType.MsgAppResp, from: B, term: 1, index: 1 }));
    take(a);
    a.step(readIndex(A, "1"));
    a.step(readIndex(A, "2"));
    a.step(readIndex(A, "3"));
    const hb = take(a).filter((m) => m.type === MessageType.MsgHeartbeat && m.to === B);
    // One ack for the last request confirms all three.
    a.step(message({ type: MessageType.MsgHeartbeatResp, from: B, term: 1, context: hb.at(-1)!.context }));
    expect(a.readStates.map(ctxOf)).toEqual(["1", "2", "3"]);
  });

  test("a new leader answers only after committing an entry of its term", () => {
    const a = newRaft(A, ids);
    a.step(hup(A));
    a.step(message({ type: MessageType.MsgVoteResp, from: B, term: 1 }));
    expect(a.state).toBe(StateType.Leader);
    take(a);
    a.step(readIndex(A, "early"));
    // No heartbeat round yet: the read waits for the empty entry to commit.
    expect(take(a).some((m) => m.type === MessageType.MsgHeartbeat)).toBe(false);
    a.step(message({ type: MessageType.MsgAppResp, from: B, term: 1, index: 1 }));
    const hb = take(a).filter((m) => m.type === MessageType.MsgHeartbeat && m.to === B);
    expect(hb.length).toBe(1);
    a.step(message({ type: MessageType.MsgHeartbeatResp, from: B, term: 1, context: hb[0].context }));
    expect(a.readStates.map(ctxOf)).toEqual(["early"]);
    expect(a.readStates[0].index).toBe(1);
  });

  test("a deposed leader cut off by a partition never serves a stale read", () => {
    // No CheckQuorum: the old leader does not even know it was deposed.
    const net = new Network(ids.map((id) => newRaft(id, ids)));
    net.send(hup(A));
    net.isolate(A);
    net.send(hup(B));
    expect(net.get(B).state).toBe(StateType.Leader);
    net.send(prop(B, "new value"));
    expect(net.get(A).state).toBe(StateType.Leader);
    net.send(readIndex(A, "stale?"));
    net.tick(A, 5);
    expect(net.get(A).readStates).toEqual([]);
    // After healing, the old leader steps down rather than answering.
    net.recover();
    net.tick(A, 1);
    net.tick(B, 1);
    expect(net.get(A).state).toBe(StateType.Follower);
    expect(net.get(A).readStates).toEqual([]);
  });

  test("a follower without a leader drops the request", () => {
    const b = newRaft(B, ids);
    b.step(readIndex(B, "x"));
    expect(take(b)).toEqual([]);
    expect(b.readStates).toEqual([]);
  });

  test("a single-voter leader answers at once", () => {
    const a = newRaft(A, [A]);
    a.step(hup(A));
    a.step(readIndex(A, "solo"));
    expect(a.readStates.map(ctxOf)).toEqual(["solo"]);
  });
});
