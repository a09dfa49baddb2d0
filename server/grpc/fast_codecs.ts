/**
 * Hand-written wire codecs for the hottest unary call, Put: its request is read and its
 * response written without protobuf-es's reflective fromBinary/toBinary, which were ~9%
 * of a put's CPU at 64 clients (profiled). Each falls back to the generated code (by
 * returning null) for anything it does not handle; tests/server/fast_codecs.test.ts checks
 * both against the generated code, byte for byte.
 */
import type { DescMessage } from "@bufbuild/protobuf";
import type { PutResponse } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { decodePut } from "../proposal_codec.ts";

/** Reads a request message; null = let the generated code do it. */
export type FastDecoder = (bytes: Uint8Array) => unknown | null;
/** Writes a response message; null = let the generated code do it. */
export type FastEncoder = (message: unknown) => Uint8Array | null;

const decoders: ReadonlyMap<string, FastDecoder> = new Map([["etcdserverpb.PutRequest", decodePut]]);
const encoders: ReadonlyMap<string, FastEncoder> = new Map([
  ["etcdserverpb.PutResponse", (m) => encodePutResponse(m as PutResponse)],
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

/** PutResponse{header} (no prev_kv: the generated code writes that one). */
function encodePutResponse(m: PutResponse): Uint8Array | null {
  const h = m.header;
  if (m.prevKv !== undefined || h === undefined || m.$unknown !== undefined || h.$unknown !== undefined) {
    return null;
  }
  const rev = Number(h.revision);
  const term = Number(h.raftTerm);
  if (!Number.isSafeInteger(rev) || rev < 0 || !Number.isSafeInteger(term) || term < 0) return null;
  const ids = headerIds(h.clusterId, h.memberId);
  const headerLen = ids.length + (rev === 0 ? 0 : 1 + varintLength(rev)) +
    (term === 0 ? 0 : 1 + varintLength(term));
  const out = new Uint8Array(1 + varintLength(headerLen) + headerLen);
  out[0] = 0x0a;
  let pos = writeVarint(out, 1, headerLen);
  out.set(ids, pos);
  pos += ids.length;
  if (rev !== 0) {
    out[pos++] = 0x18;
    pos = writeVarint(out, pos, rev);
  }
  if (term !== 0) {
    out[pos++] = 0x20;
    writeVarint(out, pos, term);
  }
  return out;
}
