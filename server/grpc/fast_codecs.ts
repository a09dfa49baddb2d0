/**
 * Hand-written wire codecs for the hottest unary calls: Put's request is read and its
 * response written, and Range's response written, without protobuf-es's reflective
 * fromBinary/toBinary, which were ~9% of a put's CPU at 64 clients (profiled) and most of
 * a 100-key range's. Each falls back to the generated code (by
 * returning null) for anything it does not handle; tests/server/fast_codecs.test.ts checks
 * both against the generated code, byte for byte.
 */
import type { DescMessage } from "@bufbuild/protobuf";
import type { PutResponse, RangeResponse, ResponseHeader } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { KeyValue } from "../../proto/gen/mvccpb/kv_pb.ts";
import { decodePut } from "../proposal_codec.ts";

/** Reads a request message; null = let the generated code do it. */
export type FastDecoder = (bytes: Uint8Array) => unknown | null;
/** Writes a response message; null = let the generated code do it. */
export type FastEncoder = (message: unknown) => Uint8Array | null;

const decoders: ReadonlyMap<string, FastDecoder> = new Map([["etcdserverpb.PutRequest", decodePut]]);
const encoders: ReadonlyMap<string, FastEncoder> = new Map([
  ["etcdserverpb.PutResponse", (m) => encodePutResponse(m as PutResponse)],
  ["etcdserverpb.RangeResponse", (m) => encodeRangeResponse(m as RangeResponse)],
]);

export function fastDecoderFor(schema: DescMessage): FastDecoder | undefined {
  return decoders.get(schema.typeName);
}

export function fastEncoderFor(schema: DescMessage): FastEncoder | undefined {
  return encoders.get(schema.typeName);
}

function varintLength(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Writes a non-negative integer below 2^53 as a varint at `pos`; returns the next position. */
function writeVarint(buf: Uint8Array, pos: number, v: number): number {
  while (v >= 0x80) {
    buf[pos++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

/** A uint64 as varint bytes (IDs use all 64 bits). */
function varintBytes(v: bigint): number[] {
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

/** cluster_id and member_id are the same in every header a member writes: encoded once. */
let idsCache: { cluster: bigint; member: bigint; bytes: Uint8Array } | null = null;

function headerIds(cluster: bigint, member: bigint): Uint8Array {
  if (idsCache === null || idsCache.cluster !== cluster || idsCache.member !== member) {
    const bytes: number[] = [];
    if (cluster !== 0n) bytes.push(0x08, ...varintBytes(BigInt.asUintN(64, cluster)));
    if (member !== 0n) bytes.push(0x10, ...varintBytes(BigInt.asUintN(64, member)));
    idsCache = { cluster, member, bytes: new Uint8Array(bytes) };
  }
  return idsCache.bytes;
}

/** A header's fields as numbers; null when one is outside what this writer handles. */
function headerNumbers(h: ResponseHeader | undefined): { rev: number; term: number; len: number } | null {
  if (h === undefined || h.$unknown !== undefined) return null;
  const rev = Number(h.revision);
  const term = Number(h.raftTerm);
  if (!Number.isSafeInteger(rev) || rev < 0 || !Number.isSafeInteger(term) || term < 0) return null;
  const len = headerIds(h.clusterId, h.memberId).length + (rev === 0 ? 0 : 1 + varintLength(rev)) +
    (term === 0 ? 0 : 1 + varintLength(term));
  return { rev, term, len };
}

/** Writes field 1 (the header) at `pos`; returns the next position. */
function writeHeader(
  out: Uint8Array,
  pos: number,
  h: ResponseHeader,
  n: { rev: number; term: number; len: number },
) {
  out[pos++] = 0x0a;
  pos = writeVarint(out, pos, n.len);
  const ids = headerIds(h.clusterId, h.memberId);
  out.set(ids, pos);
  pos += ids.length;
  if (n.rev !== 0) {
    out[pos++] = 0x18;
    pos = writeVarint(out, pos, n.rev);
  }
  if (n.term !== 0) {
    out[pos++] = 0x20;
    pos = writeVarint(out, pos, n.term);
  }
  return pos;
}

/** PutResponse{header} (no prev_kv: the generated code writes that one). */
function encodePutResponse(m: PutResponse): Uint8Array | null {
  if (m.prevKv !== undefined || m.$unknown !== undefined) return null;
  const n = headerNumbers(m.header);
  if (n === null) return null;
  const out = new Uint8Array(1 + varintLength(n.len) + n.len);
  writeHeader(out, 0, m.header!, n);
  return out;
}

/** A safe non-negative int64 as a number, or -1. */
function small(v: bigint): number {
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : -1;
}

/** The varint length of a non-negative int64 (lease IDs use all 63 bits). */
function int64Length(v: bigint): number {
  const n = Number(v);
  return Number.isSafeInteger(n) ? varintLength(n) : varintBytes(v).length;
}

/** The body length of a KeyValue; -1 when a field is outside what this writer handles. */
function kvLength(kv: KeyValue): number {
  if (kv.$unknown !== undefined) return -1;
  let len = 0;
  for (const v of [kv.createRevision, kv.modRevision, kv.version, kv.lease]) {
    if (v < 0n) return -1;
    if (v !== 0n) len += 1 + int64Length(v);
  }
  if (kv.key.length > 0) len += 1 + varintLength(kv.key.length) + kv.key.length;
  if (kv.value.length > 0) len += 1 + varintLength(kv.value.length) + kv.value.length;
  return len;
}

/** Writes a non-negative int64 field unless it is zero; returns the next position. */
function writeInt(out: Uint8Array, pos: number, tag: number, v: bigint): number {
  if (v === 0n) return pos;
  out[pos++] = tag;
  const n = Number(v);
  if (Number.isSafeInteger(n)) return writeVarint(out, pos, n);
  for (const b of varintBytes(v)) out[pos++] = b;
  return pos;
}

function writeBytes(out: Uint8Array, pos: number, tag: number, b: Uint8Array): number {
  if (b.length === 0) return pos;
  out[pos++] = tag;
  pos = writeVarint(out, pos, b.length);
  out.set(b, pos);
  return pos + b.length;
}

/** RangeResponse{header, kvs, more, count}. */
function encodeRangeResponse(m: RangeResponse): Uint8Array | null {
  if (m.$unknown !== undefined) return null;
  const n = headerNumbers(m.header);
  const count = small(m.count);
  if (n === null || count < 0) return null;
  const lens: number[] = [];
  let size = 1 + varintLength(n.len) + n.len + (m.more ? 2 : 0) + (count === 0 ? 0 : 1 + varintLength(count));
  for (const kv of m.kvs) {
    const len = kvLength(kv);
    if (len < 0) return null;
    lens.push(len);
    size += 1 + varintLength(len) + len;
  }
  const out = new Uint8Array(size);
  let pos = writeHeader(out, 0, m.header!, n);
  for (let i = 0; i < m.kvs.length; i++) {
    const kv = m.kvs[i];
    out[pos++] = 0x12;
    pos = writeVarint(out, pos, lens[i]);
    pos = writeBytes(out, pos, 0x0a, kv.key);
    pos = writeInt(out, pos, 0x10, kv.createRevision);
    pos = writeInt(out, pos, 0x18, kv.modRevision);
    pos = writeInt(out, pos, 0x20, kv.version);
    pos = writeBytes(out, pos, 0x2a, kv.value);
    pos = writeInt(out, pos, 0x30, kv.lease);
  }
  if (m.more) (out[pos++] = 0x18), (out[pos++] = 1);
  if (count !== 0) {
    out[pos++] = 0x20;
    writeVarint(out, pos, count);
  }
  return out;
}
