/**
 * Converts between the in-memory Raft types and etcd's raftpb protobuf encoding, for the
 * transport (Message) and the WAL (Entry, HardState, Snapshot) and for conf-change entry
 * payloads (ConfChange). Kept apart from the core so that the state machine itself never
 * loads protobuf descriptors.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as pb from "../proto/gen/raftpb/raft_pb.ts";
import type {
  ConfChange,
  ConfChangeType,
  ConfState,
  Entry,
  EntryType,
  HardState,
  Message,
  MessageType,
  Snapshot,
} from "./messages.ts";
import { message } from "./messages.ts";

function entryToPb(e: Entry): pb.Entry {
  return create(pb.EntrySchema, {
    Term: BigInt(e.term),
    Index: BigInt(e.index),
    Type: e.type as number as pb.EntryType,
    Data: e.data,
  });
}

function entryFromPb(e: pb.Entry): Entry {
  return { term: Number(e.Term), index: Number(e.Index), type: e.Type as number as EntryType, data: e.Data };
}

function confStateToPb(cs: ConfState): pb.ConfState {
  return create(pb.ConfStateSchema, { voters: [...cs.voters], learners: [...cs.learners] });
}

function confStateFromPb(cs: pb.ConfState | undefined): ConfState {
  return { voters: cs?.voters ?? [], learners: cs?.learners ?? [] };
}

function snapshotToPb(s: Snapshot): pb.Snapshot {
  return create(pb.SnapshotSchema, {
    data: s.data,
    metadata: {
      confState: confStateToPb(s.metadata.confState),
      index: BigInt(s.metadata.index),
      term: BigInt(s.metadata.term),
    },
  });
}

function snapshotFromPb(s: pb.Snapshot): Snapshot {
  return {
    data: s.data,
    metadata: {
      confState: confStateFromPb(s.metadata?.confState),
      index: Number(s.metadata?.index ?? 0n),
      term: Number(s.metadata?.term ?? 0n),
    },
  };
}

/** Encodes a message for the wire (raftpb.Message). */
export function encodeMessage(m: Message): Uint8Array {
  const msg = create(pb.MessageSchema, {
    type: m.type as number as pb.MessageType,
    to: m.to,
    from: m.from,
    term: BigInt(m.term),
    logTerm: BigInt(m.logTerm),
    index: BigInt(m.index),
    entries: m.entries.map(entryToPb),
    commit: BigInt(m.commit),
    reject: m.reject,
    rejectHint: BigInt(m.rejectHint),
  });
  if (m.snapshot !== null) msg.snapshot = snapshotToPb(m.snapshot);
  if (m.context !== null) msg.context = m.context;
  return toBinary(pb.MessageSchema, msg);
}

/** Decodes a message received from a peer. Throws on malformed input (a transport error). */
export function decodeMessage(bytes: Uint8Array): Message {
  const m = fromBinary(pb.MessageSchema, bytes);
  return message({
    type: m.type as number as MessageType,
    to: m.to,
    from: m.from,
    term: Number(m.term),
    logTerm: Number(m.logTerm),
    index: Number(m.index),
    entries: m.entries.map(entryFromPb),
    commit: Number(m.commit),
    snapshot: m.snapshot === undefined ? null : snapshotFromPb(m.snapshot),
    reject: m.reject,
    rejectHint: Number(m.rejectHint),
    context: m.context.length === 0 ? null : m.context,
  });
}

export function encodeEntry(e: Entry): Uint8Array {
  return toBinary(pb.EntrySchema, entryToPb(e));
}

export function decodeEntry(bytes: Uint8Array): Entry {
  return entryFromPb(fromBinary(pb.EntrySchema, bytes));
}

export function encodeHardState(hs: HardState): Uint8Array {
  return toBinary(
    pb.HardStateSchema,
    create(pb.HardStateSchema, { term: BigInt(hs.term), vote: hs.vote, commit: BigInt(hs.commit) }),
  );
}

export function decodeHardState(bytes: Uint8Array): HardState {
  const hs = fromBinary(pb.HardStateSchema, bytes);
  return { term: Number(hs.term), vote: hs.vote, commit: Number(hs.commit) };
}

export function encodeSnapshot(s: Snapshot): Uint8Array {
  return toBinary(pb.SnapshotSchema, snapshotToPb(s));
}

export function decodeSnapshot(bytes: Uint8Array): Snapshot {
  return snapshotFromPb(fromBinary(pb.SnapshotSchema, bytes));
}

export function encodeConfState(cs: ConfState): Uint8Array {
  return toBinary(pb.ConfStateSchema, confStateToPb(cs));
}

export function decodeConfState(bytes: Uint8Array): ConfState {
  return confStateFromPb(fromBinary(pb.ConfStateSchema, bytes));
}

/** Encodes a conf change as etcd does for the data of an EntryConfChange entry. */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  const msg = create(pb.ConfChangeSchema, {
    type: cc.type as number as pb.ConfChangeType,
    nodeId: cc.nodeId,
    id: cc.id ?? 0n,
  });
  if (cc.context !== undefined) msg.context = cc.context;
  return toBinary(pb.ConfChangeSchema, msg);
}

export function decodeConfChange(bytes: Uint8Array): ConfChange {
  const cc = fromBinary(pb.ConfChangeSchema, bytes);
  return { type: cc.type as number as ConfChangeType, nodeId: cc.nodeId, context: cc.context, id: cc.id };
}
