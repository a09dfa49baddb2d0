/**
 * Every hand-written protobuf codec, in one list, each beside the protobuf-es schema it
 * must agree with and the edge values to try. roundtrip.test.ts runs one suite over all of
 * them (hono's one-suite-many-routers pattern); a module that imports wire/'s reader or
 * writer but is not named here fails that suite. Codecs whose values are not protobuf-es
 * messages (raftpb's, the watch frames') are adapted to and from the schema's shape here.
 */
import { create, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import * as rpc from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { InternalRaftRequestSchema } from "../../proto/gen/etcdserverpb/raft_internal_pb.ts";
import { EventSchema, type KeyValue, KeyValueSchema } from "../../proto/gen/mvccpb/kv_pb.ts";
import * as raftpb from "../../proto/gen/raftpb/raft_pb.ts";
import * as etcd from "../../wire/etcd.ts";
import { decodeProposal, encodeProposal } from "../../server/proposal_codec.ts";
import { fastDecoderFor, fastEncoderFor, rangeResponseFrame } from "../../server/grpc/fast_codecs.ts";
import { eventFrame, watchIdField } from "../../server/watch/frame.ts";
import { encodeEvent, encodeHeader } from "../../server/watch/encode.ts";
import * as raft from "../../raft/codec.ts";
import type * as rm from "../../raft/messages.ts";

export interface HandCodec<S extends DescMessage = DescMessage> {
  /** What the suite calls it. */
  readonly name: string;
  readonly schema: S;
  /** Values to try; the suite adds the schema's empty message. */
  readonly samples: readonly MessageInitShape<S>[];
  /** Our bytes for a message; null = this one is left to protobuf-es (a fast path's fallback). */
  readonly encode?: (m: MessageShape<S>) => Uint8Array | null;
  /** A message from bytes; null = left to protobuf-es. */
  readonly decode?: (b: Uint8Array) => MessageShape<S> | null;
  /** The schema's empty message is not one of its values (raftpb writes a snapshot's metadata always). */
  readonly noEmpty?: boolean;
  /** Our bytes equal protobuf-es's toBinary (false where the format writes zeros or orders fields otherwise). */
  readonly canonical: boolean;
}

/** The modules that hold hand codecs (relative to the repository root). */
export const CODEC_MODULES = [
  "wire/etcd.ts",
  "server/proposal_codec.ts",
  "server/grpc/fast_codecs.ts",
  "server/watch/encode.ts",
  "server/watch/frame.ts",
  "raft/codec.ts",
];

const b = (s: string) => new TextEncoder().encode(s);
const MAX_INT64 = 0x7fffffffffffffffn;
const MAX_UINT64 = 0xffffffffffffffffn;

const kvs = [
  {},
  { key: b("k"), value: b("v"), createRevision: 1n, modRevision: 2n, version: 1n },
  {
    key: b("key"),
    value: new Uint8Array(300),
    createRevision: MAX_INT64,
    modRevision: MAX_INT64,
    version: 1n << 53n,
    lease: MAX_INT64,
  },
  { key: new Uint8Array([0, 255, 128]), createRevision: -1n, modRevision: -(1n << 63n), lease: -7n },
  // Big enough for a large range response to send from where they are (fast_codecs.ts).
  { key: new Uint8Array(5000).fill(1), value: new Uint8Array(70_000).fill(2), modRevision: 3n, version: 2n },
];
const headers = [
  { clusterId: 0xbf9973fbc534d7bfn, memberId: 0x6fe13ed764fae1afn, revision: 1n, raftTerm: 2n },
  { clusterId: 1n, memberId: MAX_UINT64, revision: MAX_INT64, raftTerm: 128n },
  { clusterId: 0n, memberId: 0n, revision: -1n, raftTerm: 0n },
];
const puts = [
  { key: b("k") },
  { key: b("key"), value: b("v".repeat(300)) },
  { key: b("k"), value: b("v"), lease: MAX_INT64, prevKv: true },
  { key: b("k"), lease: -1n, ignoreValue: true, ignoreLease: true },
  { key: new Uint8Array([0, 255, 128]), value: new Uint8Array(70_000) },
];

/** A codec; `codec(...)` keeps each entry's schema and functions typed together. */
function codec<S extends DescMessage>(c: HandCodec<S>): HandCodec {
  return c as unknown as HandCodec;
}

const rangeResponses = [
  { header: headers[0], kvs: kvs.slice(0, 3), more: true, count: MAX_INT64 },
  { header: headers[0], kvs: [kvs[1], kvs[4], kvs[2], kvs[4]], count: 4n },
  { header: headers[1], kvs: [], count: 0n },
  { header: headers[2], kvs, count: -1n },
];

const etcdCodecs: HandCodec[] = [
  codec({
    name: "KeyValue (wire/etcd)",
    schema: KeyValueSchema,
    samples: kvs,
    encode: etcd.encodeKeyValue,
    decode: etcd.decodeKeyValue,
    canonical: true,
  }),
  codec({
    name: "KeyValue as the store decodes it, small fields copied (wire/etcd)",
    schema: KeyValueSchema,
    samples: kvs,
    decode: (b) => etcd.decodeKeyValue(b, 4096),
    canonical: true,
  }),
  codec({
    name: "PutRequest (wire/etcd)",
    schema: rpc.PutRequestSchema,
    samples: puts,
    encode: etcd.encodePutRequest,
    decode: etcd.decodePutRequest,
    canonical: true,
  }),
  codec({
    name: "PutRequest (gRPC fast decoder)",
    schema: rpc.PutRequestSchema,
    samples: puts,
    decode: (x) => fastDecoderFor(rpc.PutRequestSchema)!(x) as rpc.PutRequest | null,
    canonical: true,
  }),
  codec({
    name: "RangeRequest (wire/etcd)",
    schema: rpc.RangeRequestSchema,
    samples: [
      { key: b("a"), rangeEnd: b("b"), limit: 10n, revision: MAX_INT64, sortOrder: 2, sortTarget: 4 },
      { key: b("a"), revision: -1n, serializable: true, keysOnly: true, countOnly: true },
      { key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]), minModRevision: 3n, maxCreateRevision: -2n },
    ],
    encode: etcd.encodeRangeRequest,
    canonical: true,
  }),
  codec({
    name: "DeleteRangeRequest (wire/etcd)",
    schema: rpc.DeleteRangeRequestSchema,
    samples: [{ key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]), prevKv: true }, { key: b("x") }],
    encode: etcd.encodeDeleteRangeRequest,
    canonical: true,
  }),
  codec({
    name: "PutResponse (wire/etcd decoder, gRPC fast encoder)",
    schema: rpc.PutResponseSchema,
    samples: [...headers.map((header) => ({ header })), { header: headers[0], prevKv: kvs[2] }],
    encode: (m) => fastEncoderFor(rpc.PutResponseSchema)!(m),
    decode: etcd.decodePutResponse,
    canonical: true,
  }),
  codec({
    name: "RangeResponse (wire/etcd decoder, gRPC fast encoder)",
    schema: rpc.RangeResponseSchema,
    samples: rangeResponses,
    encode: (m) => fastEncoderFor(rpc.RangeResponseSchema)!(m),
    decode: etcd.decodeRangeResponse,
    canonical: true,
  }),
  codec({
    name: "RangeResponse (gRPC frame encoder, whole)",
    schema: rpc.RangeResponseSchema,
    samples: rangeResponses,
    encode: (m) => {
      const f = rangeResponseFrame(m, Infinity);
      return f instanceof Uint8Array ? f.subarray(5) : null;
    },
    canonical: true,
  }),
  codec({
    name: "RangeResponse (gRPC frame encoder, in steps)",
    schema: rpc.RangeResponseSchema,
    samples: rangeResponses,
    encode: (m) => {
      const f = rangeResponseFrame(m, 0);
      if (f === null || f instanceof Uint8Array) return null;
      while (!f.step(1));
      return Buffer.concat(f.pieces()).subarray(5);
    },
    canonical: true,
  }),
  ...([["one gRPC frame", Infinity], ["in pieces", 0]] as const).map(([how, largeBytes]) =>
    codec({
      name: `RangeResponse (stored KeyValues, ${how})`,
      schema: rpc.RangeResponseSchema,
      samples: rangeResponses,
      encode: (m) => {
        const stored = storedKvsOf(m.kvs);
        if (m.header === undefined || stored === null) return null;
        const r = etcd.rangeResponseOfEncoded({ header: m.header, more: m.more, count: m.count }, stored);
        const f = rangeResponseFrame(r, largeBytes);
        if (f === null) throw new Error("encoded kvs always have a frame");
        if ((f instanceof Uint8Array) !== (largeBytes === Infinity)) {
          throw new Error("encoded kvs are one frame below largeBytes, pieces from it");
        }
        return f instanceof Uint8Array ? f.subarray(5) : Buffer.concat(f.pieces()).subarray(5);
      },
      decode: (bytes) => {
        const m = etcd.decodeRangeResponse(bytes);
        const stored = storedKvsOf(m.kvs);
        // Read back through the lazy decoder of stored kvs.
        return stored === null ? m : etcd.rangeResponseOfEncoded(m, stored);
      },
      canonical: true,
    })
  ),
  codec({
    name: "RangeResponse (read worker's kvs, gRPC frame encoder)",
    schema: rpc.RangeResponseSchema,
    samples: rangeResponses,
    encode: (m) => {
      if (m.header === undefined) return null;
      const kvs = new etcd.KvsWriter();
      for (const kv of m.kvs) kvs.add(kv);
      const r = etcd.rangeResponseOfEncoded({ header: m.header, more: m.more, count: m.count }, kvs.finish());
      const f = rangeResponseFrame(r, 0);
      if (f === null || f instanceof Uint8Array) throw new Error("large encoded kvs are sent in pieces");
      return Buffer.concat(f.pieces()).subarray(5);
    },
    decode: (bytes) => {
      const m = etcd.decodeRangeResponse(bytes);
      const kvs = new etcd.KvsWriter();
      for (const kv of m.kvs) kvs.add(kv);
      // Read back through the lazy decoder of encoded kvs.
      return etcd.rangeResponseOfEncoded(m, kvs.finish());
    },
    canonical: true,
  }),
  codec({
    name: "SnapshotResponse frame (wire/etcd)",
    schema: rpc.SnapshotResponseSchema,
    samples: [
      { remainingBytes: 1n << 40n, blob: b("chunk") },
      { remainingBytes: 0n, blob: new Uint8Array(40_000).fill(7) },
      { remainingBytes: 300n, blob: new Uint8Array(0) },
    ],
    encode: (m) => {
      const frames = etcd.snapshotResponseFrames(
        [{ bytes: m.blob.length, remaining: Number(m.remainingBytes) }],
        (blob) => blob.set(m.blob),
      );
      return frames.subarray(5);
    },
    canonical: true,
  }),
  codec({
    name: "DeleteRangeResponse (wire/etcd)",
    schema: rpc.DeleteRangeResponseSchema,
    samples: [{ header: headers[0], deleted: 2n, prevKvs: kvs }, { header: headers[1], deleted: -1n }],
    decode: etcd.decodeDeleteRangeResponse,
    canonical: true,
  }),
  codec({
    name: "AuthenticateRequest (wire/etcd)",
    schema: rpc.AuthenticateRequestSchema,
    samples: [{ name: "root", password: "pässwörd" }, { name: "u" }],
    encode: etcd.encodeAuthenticateRequest,
    canonical: true,
  }),
  codec({
    name: "AuthenticateResponse token (wire/etcd)",
    schema: rpc.AuthenticateResponseSchema,
    samples: [{ token: "abc.123" }, { token: "x".repeat(200) }],
    decode: (x) => create(rpc.AuthenticateResponseSchema, { token: etcd.decodeAuthenticateToken(x) }),
    canonical: true,
  }),
  codec({
    name: "InternalRaftRequest lone put (server/proposal_codec)",
    schema: InternalRaftRequestSchema,
    samples: [
      ...puts.map((put, i) => ({ header: { ID: BigInt(i) * 0x1234567n }, put })),
      { header: { ID: MAX_UINT64, username: "ü", authRevision: MAX_INT64 }, put: puts[2] },
      { header: { ID: 1n }, put: {} },
    ],
    // Every proposal gets a header (its request ID), so a message without one is not ours to write.
    encode: (m) => (m.header === undefined ? null : encodeProposal({ ...m }, m.header.ID)),
    decode: decodeProposal,
    // The header (field 100) comes first, before the put (field 4), so the request ID is found early.
    canonical: false,
  }),
  codec({
    name: "WatchResponse event frame (server/watch/frame)",
    schema: rpc.WatchResponseSchema,
    samples: [
      { header: headers[0], watchId: 1n, events: [{ kv: kvs[1] }, { type: 1, kv: kvs[2], prevKv: kvs[3] }] },
      { header: headers[1], watchId: 0n, fragment: true, events: [{ kv: kvs[0] }] },
      { header: headers[2], watchId: MAX_INT64, events: [] },
      { header: headers[0], watchId: -1n, events: [{ kv: kvs[3] }] },
    ],
    encode: (m) =>
      m.header === undefined ? null : eventFrame({
        header: encodeHeader(m.header),
        watchId: watchIdField(m.watchId),
        events: m.events.map((e) => encodeEvent(create(EventSchema, e))),
        fragment: m.fragment,
      }).subarray(5),
    canonical: true,
  }),
];

// ---- raftpb: our types use numbers below 2^53 and null for absent parts ------------------

const n = Number;
const toEntry = (e: raftpb.Entry): rm.Entry => ({
  term: n(e.Term),
  index: n(e.Index),
  type: e.Type,
  data: e.Data,
});
const fromEntry = (e: rm.Entry) =>
  create(raftpb.EntrySchema, { Term: BigInt(e.term), Index: BigInt(e.index), Type: e.type, Data: e.data });
const toConfState = (c: raftpb.ConfState | undefined): rm.ConfState => ({
  voters: c?.voters ?? [],
  learners: c?.learners ?? [],
});
const fromConfState = (c: rm.ConfState) =>
  create(raftpb.ConfStateSchema, { voters: [...c.voters], learners: [...c.learners] });
const toSnapshot = (s: raftpb.Snapshot): rm.Snapshot => ({
  data: s.data,
  metadata: {
    confState: toConfState(s.metadata?.confState),
    index: n(s.metadata?.index ?? 0n),
    term: n(s.metadata?.term ?? 0n),
  },
});
const fromSnapshot = (s: rm.Snapshot) =>
  create(raftpb.SnapshotSchema, {
    data: s.data,
    metadata: {
      confState: fromConfState(s.metadata.confState),
      index: BigInt(s.metadata.index),
      term: BigInt(s.metadata.term),
    },
  });
const BIG = 0xfd422379fda50e48n;
const entries = [
  { Term: 0n, Index: 0n, Type: 0, Data: new Uint8Array(0) },
  { Term: 7n, Index: 2n ** 40n, Type: 1, Data: b("x".repeat(300)) },
  { Term: 2n ** 53n - 1n, Index: 1n, Type: 2, Data: b("a") },
];
const snapshot = {
  data: b("snap"),
  metadata: { confState: { voters: [1n, BIG, MAX_UINT64], learners: [3n] }, index: 5n, term: 2n },
};

const raftCodecs: HandCodec[] = [
  codec({
    name: "raftpb.Entry (raft/codec)",
    schema: raftpb.EntrySchema,
    samples: entries,
    encode: (m) => raft.encodeEntry(toEntry(m)),
    decode: (x) => fromEntry(raft.decodeEntry(x)),
    canonical: false,
  }),
  codec({
    name: "raftpb.HardState (raft/codec)",
    schema: raftpb.HardStateSchema,
    samples: [{ term: 0n, vote: 0n, commit: 0n }, { term: 9n, vote: MAX_UINT64, commit: 2n ** 40n }],
    encode: (m) => raft.encodeHardState({ term: n(m.term), vote: m.vote, commit: n(m.commit) }),
    decode: (x) => {
      const h = raft.decodeHardState(x);
      return create(raftpb.HardStateSchema, { term: BigInt(h.term), vote: h.vote, commit: BigInt(h.commit) });
    },
    canonical: false,
  }),
  codec({
    name: "raftpb.ConfState (raft/codec)",
    schema: raftpb.ConfStateSchema,
    samples: [{ voters: [1n, BIG, MAX_UINT64], learners: [3n] }, { voters: [2n ** 31n, 2n ** 32n] }],
    encode: (m) => raft.encodeConfState(toConfState(m)),
    decode: (x) => fromConfState(raft.decodeConfState(x)),
    canonical: true,
  }),
  codec({
    name: "raftpb.ConfChange (raft/codec)",
    schema: raftpb.ConfChangeSchema,
    samples: [
      { id: 0n, type: 0, nodeId: 1n, context: new Uint8Array(0) },
      { id: MAX_UINT64, type: 3, nodeId: BIG, context: b("peer-urls") },
    ],
    encode: (m) => raft.encodeConfChange({ id: m.id, type: m.type, nodeId: m.nodeId, context: m.context }),
    decode: (x) => {
      const c = raft.decodeConfChange(x);
      return create(raftpb.ConfChangeSchema, {
        id: c.id,
        type: c.type,
        nodeId: c.nodeId,
        context: c.context,
      });
    },
    canonical: false,
  }),
  codec({
    name: "raftpb.Snapshot (raft/codec)",
    schema: raftpb.SnapshotSchema,
    samples: [snapshot],
    noEmpty: true,
    encode: (m) => raft.encodeSnapshot(toSnapshot(m)),
    decode: (x) => fromSnapshot(raft.decodeSnapshot(x)),
    canonical: false,
  }),
  codec({
    name: "raftpb.Message (raft/codec)",
    schema: raftpb.MessageSchema,
    samples: [
      {
        type: 3,
        to: BIG,
        from: MAX_UINT64,
        term: 7n,
        logTerm: 6n,
        index: 2n ** 40n,
        entries,
        commit: 99n,
        snapshot,
        reject: true,
        rejectHint: 5n,
        context: b("ctx"),
      },
      {
        type: 8,
        to: 1n,
        from: 2n,
        term: 0n,
        logTerm: 0n,
        index: 0n,
        commit: 0n,
        reject: false,
        rejectHint: 0n,
      },
    ],
    encode: (m) =>
      raft.encodeMessage({
        type: m.type,
        to: m.to,
        from: m.from,
        term: n(m.term),
        logTerm: n(m.logTerm),
        index: n(m.index),
        entries: m.entries.map(toEntry),
        commit: n(m.commit),
        snapshot: m.snapshot === undefined ? null : toSnapshot(m.snapshot),
        reject: m.reject,
        rejectHint: n(m.rejectHint),
        context: m.context.length === 0 ? null : m.context,
      } as rm.Message),
    decode: (x) => {
      const m = raft.decodeMessage(x);
      return create(raftpb.MessageSchema, {
        type: m.type,
        to: m.to,
        from: m.from,
        term: BigInt(m.term),
        logTerm: BigInt(m.logTerm),
        index: BigInt(m.index),
        entries: m.entries.map(fromEntry),
        commit: BigInt(m.commit),
        snapshot: m.snapshot === null ? undefined : fromSnapshot(m.snapshot),
        reject: m.reject,
        rejectHint: BigInt(m.rejectHint),
        context: m.context ?? new Uint8Array(0),
      });
    },
    canonical: false,
  }),
];

/** Every hand codec. */
export const HAND_CODECS: readonly HandCodec[] = [...etcdCodecs, ...raftCodecs];

/** The stored-KeyValue form of `kvs`, or null where one would be empty (a stored KeyValue holds its key). */
function storedKvsOf(kvs: readonly KeyValue[]): etcd.StoredKvs | null {
  const encoded = kvs.map((kv) => etcd.encodeKeyValue(kv));
  return encoded.some((kv) => kv.length === 0) ? null : etcd.storedKvs(encoded);
}
