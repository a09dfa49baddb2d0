/**
 * Encoders and decoders for etcd's raftpb messages: Message for the transport, Entry,
 * HardState and Snapshot for the WAL, ConfChange for conf-change entry payloads. They are
 * written by hand because they sit on the hot path of replication (every MsgApp, every WAL
 * record), where the reflection-based generic codec cost several times more than the Raft
 * logic itself (110k vs 1.9M entries/s in bench/raft-bench.ts). The bytes are ordinary
 * protobuf with etcd's field numbers; tests check them against the generated code from
 * proto/raftpb/raft.proto.
 */
import { assert } from "./assert.ts";
import { ProtoWriter, varintSize } from "../wire/writer.ts";
import { ProtoReader, WireError } from "../wire/reader.ts";
import {
  type ConfChange,
  type ConfChangeType,
  type ConfState,
  EMPTY_BYTES,
  type Entry,
  type EntryType,
  type HardState,
  type Message,
  message,
  type MessageType,
  type NodeId,
  type Snapshot,
} from "./messages.ts";

// ---- sizes --------------------------------------------------------------------------------

/**
 * Varint encodings of node IDs, cached: a cluster has a handful of members whose IDs are
 * random 64-bit values, and encoding one with BigInt arithmetic on every message was a
 * measurable share of a leader's CPU.
 */
const idVarints = new Map<NodeId, Uint8Array>();

function idVarint(id: NodeId): Uint8Array {
  let b = idVarints.get(id);
  if (b !== undefined) return b;
  const out: number[] = [];
  let v = BigInt.asUintN(64, id);
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  b = new Uint8Array(out);
  if (idVarints.size < 1024) idVarints.set(id, b);
  return b;
}

/** Decoded node IDs by high and low 32 bits (the same few IDs arrive in every message). */
const decodedIds = new Map<number, Map<number, NodeId>>();

function idSize(id: NodeId): number {
  if (id < 0x80000000n) return varintSize(Number(id));
  return idVarint(id).length;
}

function bytesFieldSize(len: number): number {
  return 1 + varintSize(len) + len;
}

function entryBodySize(e: Entry): number {
  let n = 1 + varintSize(e.type) + 1 + varintSize(e.term) + 1 + varintSize(e.index);
  if (e.data.length > 0) n += bytesFieldSize(e.data.length);
  return n;
}

function confStateBodySize(cs: ConfState): number {
  let n = 0;
  for (const id of cs.voters) n += 1 + idSize(id);
  for (const id of cs.learners) n += 1 + idSize(id);
  return n;
}

function metadataBodySize(s: Snapshot): number {
  const m = s.metadata;
  return bytesFieldSize(confStateBodySize(m.confState)) + 1 + varintSize(m.index) + 1 + varintSize(m.term);
}

function snapshotBodySize(s: Snapshot): number {
  let n = bytesFieldSize(metadataBodySize(s));
  if (s.data.length > 0) n += bytesFieldSize(s.data.length);
  return n;
}

// ---- writing ------------------------------------------------------------------------------

/** A node ID's varint: the number path below 2^31, cached bytes above. */
function writeId(w: ProtoWriter, id: NodeId): void {
  if (id < 0x80000000n) w.varint(Number(id));
  else w.raw(idVarint(id));
}

function writeEntry(w: ProtoWriter, e: Entry): void {
  w.byte(0x08);
  w.varint(e.type);
  w.byte(0x10);
  w.varint(e.term);
  w.byte(0x18);
  w.varint(e.index);
  if (e.data.length > 0) {
    w.byte(0x22);
    w.lengthDelimited(e.data);
  }
}

function writeSnapshot(w: ProtoWriter, s: Snapshot): void {
  w.byte(0x12); // metadata = 2
  w.varint(metadataBodySize(s));
  const cs = s.metadata.confState;
  w.byte(0x0a); // conf_state = 1
  w.varint(confStateBodySize(cs));
  for (const id of cs.voters) {
    w.byte(0x08);
    writeId(w, id);
  }
  for (const id of cs.learners) {
    w.byte(0x10);
    writeId(w, id);
  }
  w.byte(0x10);
  w.varint(s.metadata.index);
  w.byte(0x18);
  w.varint(s.metadata.term);
  if (s.data.length > 0) {
    w.byte(0x0a); // data = 1
    w.lengthDelimited(s.data);
  }
}

/** Encodes a message as raftpb.Message. */
export function encodeMessage(m: Message): Uint8Array {
  let size = 1 + varintSize(m.type) + 1 + idSize(m.to) + 1 + idSize(m.from) + 1 + varintSize(m.term) + 1 +
    varintSize(m.logTerm) + 1 + varintSize(m.index) + 1 + varintSize(m.commit) + 2 + 1 +
    varintSize(m.rejectHint);
  const ents = m.entries;
  for (let i = 0; i < ents.length; i++) size += bytesFieldSize(entryBodySize(ents[i]));
  if (m.snapshot !== null) size += bytesFieldSize(snapshotBodySize(m.snapshot));
  if (m.context !== null) size += bytesFieldSize(m.context.length);
  const w = new ProtoWriter(size);
  w.byte(0x08);
  w.varint(m.type);
  w.byte(0x10);
  writeId(w, m.to);
  w.byte(0x18);
  writeId(w, m.from);
  w.byte(0x20);
  w.varint(m.term);
  w.byte(0x28);
  w.varint(m.logTerm);
  w.byte(0x30);
  w.varint(m.index);
  for (let i = 0; i < ents.length; i++) {
    w.byte(0x3a);
    w.varint(entryBodySize(ents[i]));
    writeEntry(w, ents[i]);
  }
  w.byte(0x40);
  w.varint(m.commit);
  if (m.snapshot !== null) {
    w.byte(0x4a);
    w.varint(snapshotBodySize(m.snapshot));
    writeSnapshot(w, m.snapshot);
  }
  w.byte(0x50);
  w.byte(m.reject ? 1 : 0);
  w.byte(0x58);
  w.varint(m.rejectHint);
  if (m.context !== null) {
    w.byte(0x62);
    w.lengthDelimited(m.context);
  }
  assert(w.pos === size, () => `encodeMessage size mismatch ${w.pos} != ${size}`);
  return w.buf;
}

/** Encodes an entry as raftpb.Entry (a WAL record body). */
export function encodeEntry(e: Entry): Uint8Array {
  const w = new ProtoWriter(entryBodySize(e));
  writeEntry(w, e);
  return w.finish();
}

export function encodeHardState(hs: HardState): Uint8Array {
  const w = new ProtoWriter(3 + varintSize(hs.term) + idSize(hs.vote) + varintSize(hs.commit));
  w.byte(0x08);
  w.varint(hs.term);
  w.byte(0x10);
  writeId(w, hs.vote);
  w.byte(0x18);
  w.varint(hs.commit);
  return w.finish();
}

export function encodeSnapshot(s: Snapshot): Uint8Array {
  const w = new ProtoWriter(snapshotBodySize(s));
  writeSnapshot(w, s);
  return w.finish();
}

// ---- reading ------------------------------------------------------------------------------

/** Thrown on malformed input: the bytes did not come from a well-behaved peer or WAL. */
export { WireError as DecodeError };

/** A node ID, from the cache of decoded IDs when it is above 2^32. */
function readId(r: ProtoReader): NodeId {
  const lo = r.varint64();
  const hi = r.hi;
  if (hi === 0) return BigInt(lo);
  let byLo = decodedIds.get(hi);
  if (byLo === undefined) decodedIds.set(hi, byLo = new Map());
  let id = byLo.get(lo);
  if (id === undefined) {
    id = (BigInt(hi) << 32n) | BigInt(lo >>> 0);
    if (byLo.size < 1024) byLo.set(lo, id);
  }
  return id;
}

function readEntry(r: ProtoReader): Entry {
  let type = 0;
  let term = 0;
  let index = 0;
  let data = EMPTY_BYTES;
  while (r.pos < r.end) {
    const tag = r.number();
    switch (tag) {
      case 0x08:
        type = r.number();
        break;
      case 0x10:
        term = r.number();
        break;
      case 0x18:
        index = r.number();
        break;
      case 0x22:
        data = r.bytes();
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return { term, index, type: type as EntryType, data };
}

function readIds(r: ProtoReader, wireType: number, into: NodeId[]): void {
  if (wireType === 0) {
    into.push(readId(r));
    return;
  }
  // Packed encoding, which other protobuf implementations may produce.
  const packed = r.sub();
  while (packed.more()) into.push(readId(packed));
}

function readConfState(r: ProtoReader): ConfState {
  const voters: NodeId[] = [];
  const learners: NodeId[] = [];
  while (r.pos < r.end) {
    const tag = r.number();
    const field = tag >>> 3;
    if (field === 1) readIds(r, tag & 7, voters);
    else if (field === 2) readIds(r, tag & 7, learners);
    else r.skip(tag & 7);
  }
  return { voters, learners };
}

function readSnapshot(r: ProtoReader): Snapshot {
  let data = EMPTY_BYTES;
  let confState: ConfState = { voters: [], learners: [] };
  let index = 0;
  let term = 0;
  while (r.pos < r.end) {
    const tag = r.number();
    if (tag === 0x0a) data = r.bytes();
    else if (tag === 0x12) {
      const m = r.sub();
      while (m.pos < m.end) {
        const t = m.number();
        if (t === 0x0a) confState = readConfState(m.sub());
        else if (t === 0x10) index = m.number();
        else if (t === 0x18) term = m.number();
        else m.skip(t & 7);
      }
    } else r.skip(tag & 7);
  }
  return { data, metadata: { confState, index, term } };
}

/**
 * Decodes a raftpb.Message; throws DecodeError on malformed input. Entry data and context
 * are views into `bytes`, so the caller must not reuse that buffer afterwards.
 */
export function decodeMessage(bytes: Uint8Array): Message {
  const r = new ProtoReader(bytes, 0, bytes.length);
  let type = 0;
  let to = 0n;
  let from = 0n;
  let term = 0;
  let logTerm = 0;
  let index = 0;
  const entries: Entry[] = [];
  let commit = 0;
  let snapshot: Snapshot | null = null;
  let reject = false;
  let rejectHint = 0;
  let context: Uint8Array | null = null;
  while (r.pos < r.end) {
    const tag = r.number();
    switch (tag) {
      case 0x08:
        type = r.number();
        break;
      case 0x10:
        to = readId(r);
        break;
      case 0x18:
        from = readId(r);
        break;
      case 0x20:
        term = r.number();
        break;
      case 0x28:
        logTerm = r.number();
        break;
      case 0x30:
        index = r.number();
        break;
      case 0x3a:
        entries.push(readEntry(r.sub()));
        break;
      case 0x40:
        commit = r.number();
        break;
      case 0x4a: {
        const s = readSnapshot(r.sub());
        // etcd always encodes the (non-nullable) snapshot field; an empty one means none.
        snapshot = s.metadata.index === 0 ? null : s;
        break;
      }
      case 0x50:
        reject = r.number() !== 0;
        break;
      case 0x58:
        rejectHint = r.number();
        break;
      case 0x62:
        context = r.bytes();
        if (context.length === 0) context = null;
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return message({
    type: type as MessageType,
    to,
    from,
    term,
    logTerm,
    index,
    entries,
    commit,
    snapshot,
    reject,
    rejectHint,
    context,
  });
}

export function decodeEntry(bytes: Uint8Array): Entry {
  return readEntry(new ProtoReader(bytes, 0, bytes.length));
}

export function decodeHardState(bytes: Uint8Array): HardState {
  const r = new ProtoReader(bytes, 0, bytes.length);
  let term = 0;
  let vote = 0n;
  let commit = 0;
  while (r.pos < r.end) {
    const tag = r.number();
    if (tag === 0x08) term = r.number();
    else if (tag === 0x10) vote = readId(r);
    else if (tag === 0x18) commit = r.number();
    else r.skip(tag & 7);
  }
  return { term, vote, commit };
}

export function decodeSnapshot(bytes: Uint8Array): Snapshot {
  return readSnapshot(new ProtoReader(bytes, 0, bytes.length));
}

function confChangeBodySize(cc: ConfChange): number {
  let n = 1 + idSize(cc.id ?? 0n) + 1 + varintSize(cc.type) + 1 + idSize(cc.nodeId);
  if (cc.context !== undefined && cc.context.length > 0) n += bytesFieldSize(cc.context.length);
  return n;
}

/** Encodes a conf change as etcd does for the data of an EntryConfChange entry. */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  const w = new ProtoWriter(confChangeBodySize(cc));
  w.byte(0x08);
  writeId(w, cc.id ?? 0n);
  w.byte(0x10);
  w.varint(cc.type);
  w.byte(0x18);
  writeId(w, cc.nodeId);
  if (cc.context !== undefined && cc.context.length > 0) {
    w.byte(0x22);
    w.lengthDelimited(cc.context);
  }
  return w.finish();
}

export function decodeConfChange(bytes: Uint8Array): ConfChange {
  const r = new ProtoReader(bytes, 0, bytes.length);
  let id = 0n;
  let type = 0;
  let nodeId = 0n;
  let context = EMPTY_BYTES;
  while (r.pos < r.end) {
    const tag = r.number();
    if (tag === 0x08) id = readId(r);
    else if (tag === 0x10) type = r.number();
    else if (tag === 0x18) nodeId = readId(r);
    else if (tag === 0x22) context = r.bytes();
    else r.skip(tag & 7);
  }
  return { type: type as ConfChangeType, nodeId, context, id };
}

export function encodeConfState(cs: ConfState): Uint8Array {
  const w = new ProtoWriter(confStateBodySize(cs));
  for (const id of cs.voters) {
    w.byte(0x08);
    writeId(w, id);
  }
  for (const id of cs.learners) {
    w.byte(0x10);
    writeId(w, id);
  }
  return w.finish();
}

export function decodeConfState(bytes: Uint8Array): ConfState {
  return readConfState(new ProtoReader(bytes, 0, bytes.length));
}
