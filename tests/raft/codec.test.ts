import { describe, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as pb from "../../proto/gen/raftpb/raft_pb.ts";
import {
  decodeConfChange,
  decodeConfState,
  decodeEntry,
  DecodeError,
  decodeHardState,
  decodeMessage,
  decodeSnapshot,
  encodeConfChange,
  encodeConfState,
  encodeEntry,
  encodeHardState,
  encodeMessage,
  encodeSnapshot,
} from "../../raft/codec.ts";
import { ConfChangeType, message, MessageType } from "../../raft/messages.ts";
import { entry } from "./helpers.ts";

const BIG = 0xfd422379fda50e48n;
const MAX = 0xffffffffffffffffn;

const appMsg = message({
  type: MessageType.MsgApp,
  to: BIG,
  from: 0x8e9e05c52164694dn,
  term: 7,
  logTerm: 6,
  index: 2 ** 40 + 3,
  entries: [entry(2 ** 40 + 4, 7, "a"), entry(2 ** 40 + 5, 7, ""), entry(2 ** 40 + 6, 7, "x".repeat(300))],
  commit: 99,
  rejectHint: 5,
  context: new Uint8Array([1, 2]),
});

const snapMsg = message({
  type: MessageType.MsgSnap,
  to: 1n,
  from: MAX,
  term: 3,
  snapshot: {
    data: new Uint8Array([9, 8]),
    metadata: { index: 5, term: 2, confState: { voters: [1n, BIG, MAX], learners: [3n] } },
  },
});

describe("raftpb codec", () => {
  test("messages round-trip, including uint64 IDs beyond 2^53 and indices beyond 2^32", () => {
    expect(decodeMessage(encodeMessage(appMsg))).toEqual(appMsg);
    expect(decodeMessage(encodeMessage(snapMsg))).toEqual(snapMsg);
    const empty = message({ type: MessageType.MsgHeartbeat });
    expect(decodeMessage(encodeMessage(empty))).toEqual(empty);
  });

  test("our bytes decode with the generated protobuf code", () => {
    const m = fromBinary(pb.MessageSchema, encodeMessage(appMsg));
    expect(m.type).toBe(pb.MessageType.MsgApp);
    expect(m.to).toBe(BIG);
    expect(m.index).toBe(BigInt(2 ** 40 + 3));
    expect(m.entries.length).toBe(3);
    expect(m.entries[2].Data.length).toBe(300);
    expect(m.entries[0].Term).toBe(7n);
    expect(m.context).toEqual(new Uint8Array([1, 2]));
    const s = fromBinary(pb.MessageSchema, encodeMessage(snapMsg));
    expect(s.from).toBe(MAX);
    expect(s.snapshot?.metadata?.confState?.voters).toEqual([1n, BIG, MAX]);
    expect(s.snapshot?.metadata?.index).toBe(5n);
  });

  test("bytes from the generated protobuf code decode with ours", () => {
    const bytes = toBinary(
      pb.MessageSchema,
      create(pb.MessageSchema, {
        type: pb.MessageType.MsgAppResp,
        to: MAX,
        from: BIG,
        term: 9n,
        index: 77n,
        reject: true,
        rejectHint: 70n,
        logTerm: 8n,
        entries: [{ Term: 9n, Index: 78n, Type: pb.EntryType.EntryConfChange, Data: new Uint8Array([5]) }],
        // etcd always writes its non-nullable snapshot field, empty or not.
        snapshot: { metadata: { confState: {}, index: 0n, term: 0n } },
      }),
    );
    const m = decodeMessage(bytes);
    expect(m).toMatchObject({
      type: MessageType.MsgAppResp,
      to: MAX,
      from: BIG,
      term: 9,
      index: 77,
      reject: true,
      rejectHint: 70,
      logTerm: 8,
      snapshot: null,
      context: null,
    });
    expect(m.entries).toEqual([{ term: 9, index: 78, type: 1, data: new Uint8Array([5]) }]);
  });

  test("field numbers match etcd's raftpb", () => {
    // Entry{Type:Normal (1), Term:2 (2), Index:3 (3), Data:"x" (4)}
    expect([...encodeEntry(entry(3, 2, "x"))]).toEqual([0x08, 0, 0x10, 2, 0x18, 3, 0x22, 1, 0x78]);
    // HardState{term:1, vote:2, commit:3}
    expect([...encodeHardState({ term: 1, vote: 2n, commit: 3 })]).toEqual([0x08, 1, 0x10, 2, 0x18, 3]);
    // ConfChange{ID:1 (1), Type:AddLearner (2), NodeID:5 (3)}
    expect([...encodeConfChange({ type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: 5n, id: 1n })])
      .toEqual([0x08, 1, 0x10, 3, 0x18, 5]);
  });

  test("entries, hard states, snapshots, conf states and conf changes round-trip", () => {
    expect(decodeEntry(encodeEntry(entry(5, 3, "hello")))).toEqual(entry(5, 3, "hello"));
    expect(decodeHardState(encodeHardState({ term: 4, vote: BIG, commit: 9 }))).toEqual({
      term: 4,
      vote: BIG,
      commit: 9,
    });
    const s = {
      data: new Uint8Array([1]),
      metadata: { index: 8, term: 2, confState: { voters: [BIG], learners: [] } },
    };
    expect(decodeSnapshot(encodeSnapshot(s))).toEqual(s);
    expect(decodeConfState(encodeConfState({ voters: [1n, MAX], learners: [BIG] }))).toEqual({
      voters: [1n, MAX],
      learners: [BIG],
    });
    const cc = decodeConfChange(
      encodeConfChange({ type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: BIG, id: 42n }),
    );
    expect(cc).toMatchObject({ type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: BIG, id: 42n });
    const viaPb = fromBinary(
      pb.ConfChangeSchema,
      encodeConfChange({ type: 1, nodeId: MAX, context: new Uint8Array([7]) }),
    );
    expect(viaPb.nodeId).toBe(MAX);
    expect(viaPb.context).toEqual(new Uint8Array([7]));
  });

  test("packed repeated IDs from other encoders are accepted", () => {
    const bytes = new Uint8Array([0x0a, 0x02, 0x01, 0x02, 0x10, 0x03]);
    expect(decodeConfState(bytes)).toEqual({ voters: [1n, 2n], learners: [3n] });
  });

  test("malformed input is a DecodeError, not garbage", () => {
    expect(() => decodeMessage(new Uint8Array([0x3a, 0x10, 0x08]))).toThrow(DecodeError);
    expect(() => decodeMessage(new Uint8Array([0x08, 0xff]))).toThrow(DecodeError);
  });
});

describe("raftpb codec, unknown fields", () => {
  test("unknown fields of every wire type are skipped", () => {
    const known = encodeHardState({ term: 1, vote: 2n, commit: 3 });
    // field 15 as varint, length-delimited, fixed64 and fixed32
    const extra = [0x78, 0x96, 0x01, 0x7a, 0x02, 0xaa, 0xbb, 0x79, 1, 2, 3, 4, 5, 6, 7, 8, 0x7d, 1, 2, 3, 4];
    const bytes = new Uint8Array([...extra, ...known]);
    expect(decodeHardState(bytes)).toEqual({ term: 1, vote: 2n, commit: 3 });
  });
});
