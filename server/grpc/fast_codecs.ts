/**
 * Hand-written wire codecs for the hottest unary calls: Put's request is read and its
 * response written, and Range's response written, without protobuf-es's reflective
 * fromBinary/toBinary, which were ~9% of a put's CPU at 64 clients (profiled) and most of
 * a 100-key range's. Each falls back to the generated code (by returning null) for
 * anything it does not handle; tests/server/fast_codecs.test.ts checks both against the
 * generated code, byte for byte.
 */
import type { DescMessage } from "@bufbuild/protobuf";
import type { PutResponse, RangeResponse, ResponseHeader } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { boolFieldSize, int64FieldSize, messageFieldSize, ProtoWriter } from "../../lib/proto_writer.ts";
import { keyValueSize, writeKeyValue } from "../../store/encoding.ts";
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

/**
 * cluster_id and member_id are the same in every header a member writes: encoded once
 * (varints of random 64-bit IDs take bigint arithmetic).
 */
let idsCache: { cluster: bigint; member: bigint; bytes: Uint8Array } | null = null;

function headerIds(cluster: bigint, member: bigint): Uint8Array {
  if (idsCache === null || idsCache.cluster !== cluster || idsCache.member !== member) {
    const w = new ProtoWriter(int64FieldSize(1, cluster) + int64FieldSize(2, member));
    w.int64Field(1, cluster);
    w.int64Field(2, member);
    idsCache = { cluster, member, bytes: w.finish() };
  }
  return idsCache.bytes;
}

/** The size of a ResponseHeader's fields; -1 if it carries unknown fields. */
function headerSize(h: ResponseHeader | undefined): number {
  if (h === undefined || h.$unknown !== undefined) return -1;
  return headerIds(h.clusterId, h.memberId).length + int64FieldSize(3, h.revision) +
    int64FieldSize(4, h.raftTerm);
}

/** Field 1, the header, whose fields take `size` bytes. */
function writeHeader(w: ProtoWriter, h: ResponseHeader, size: number): void {
  w.messageHeader(1, size);
  w.raw(headerIds(h.clusterId, h.memberId));
  w.int64Field(3, h.revision);
  w.int64Field(4, h.raftTerm);
}

/** PutResponse{header} (no prev_kv: the generated code writes that one). */
function encodePutResponse(m: PutResponse): Uint8Array | null {
  if (m.prevKv !== undefined || m.$unknown !== undefined) return null;
  const header = headerSize(m.header);
  if (header < 0) return null;
  const w = new ProtoWriter(messageFieldSize(1, header));
  writeHeader(w, m.header!, header);
  return w.finish();
}

/** RangeResponse{header, kvs, more, count}; KeyValues with negative numbers go to the generated code. */
function encodeRangeResponse(m: RangeResponse): Uint8Array | null {
  if (m.$unknown !== undefined) return null;
  const header = headerSize(m.header);
  if (header < 0) return null;
  let size = messageFieldSize(1, header) + boolFieldSize(3, m.more) + int64FieldSize(4, m.count);
  const kvSizes: number[] = [];
  for (const kv of m.kvs) {
    if (
      kv.$unknown !== undefined || kv.createRevision < 0n || kv.modRevision < 0n || kv.version < 0n ||
      kv.lease < 0n
    ) {
      return null;
    }
    const n = keyValueSize(kv);
    kvSizes.push(n);
    size += messageFieldSize(2, n);
  }
  const w = new ProtoWriter(size);
  writeHeader(w, m.header!, header);
  for (let i = 0; i < m.kvs.length; i++) {
    w.messageHeader(2, kvSizes[i]);
    writeKeyValue(w, m.kvs[i]);
  }
  w.boolField(3, m.more);
  w.int64Field(4, m.count);
  return w.finish();
}
