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
import { keyValueSize, writeKeyValue } from "../../api/keyvalue.ts";
import { decodePut } from "../proposal_codec.ts";
import { GRPC_PREFIX_BYTES, writePrefix } from "../../api/grpc-frame.ts";

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
 * Writes a response straight into its gRPC frame, in steps when it is `largeBytes` or
 * more; null = use the FastEncoder or the generated code.
 */
export type FrameEncoder = (message: unknown, largeBytes: number) => Uint8Array | SteppedEncoding | null;

const frameEncoders: ReadonlyMap<string, FrameEncoder> = new Map([
  ["etcdserverpb.RangeResponse", (m, large) => rangeResponseFrame(m as RangeResponse, large)],
]);

export function frameEncoderFor(schema: DescMessage): FrameEncoder | undefined {
  return frameEncoders.get(schema.typeName);
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
  const plan = planRangeResponse(m);
  if (plan === null) return null;
  const w = new ProtoWriter(plan.size);
  writeRangeResponse(w, m, plan, 0, m.kvs.length);
  return w.finish();
}

/** What writing a RangeResponse takes: its size, its header's and each KeyValue's. */
interface RangePlan {
  readonly size: number;
  readonly header: number;
  readonly kvSizes: readonly number[];
}

function planRangeResponse(m: RangeResponse): RangePlan | null {
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
  return { size, header, kvSizes };
}

/** Writes the KeyValues [from, to) of `m`, with the header before the first and the rest after the last. */
function writeRangeResponse(
  w: ProtoWriter,
  m: RangeResponse,
  plan: RangePlan,
  from: number,
  to: number,
): void {
  if (from === 0) writeHeader(w, m.header!, plan.header);
  for (let i = from; i < to; i++) {
    w.messageHeader(2, plan.kvSizes[i]);
    writeKeyValue(w, m.kvs[i]);
  }
  if (to !== m.kvs.length) return;
  w.boolField(3, m.more);
  w.int64Field(4, m.count);
}

/**
 * A large response written in steps: each `step()` writes about `stepBytes` more and
 * answers true once all is written; `frame()` is then the gRPC frame (prefix included).
 */
export interface SteppedEncoding {
  step(stepBytes: number): boolean;
  frame(): Uint8Array;
}

/**
 * RangeResponse as a gRPC frame, written in place after its prefix (no copy to frame
 * it). From `largeBytes` on it is written a slice of KeyValues at a time, so that a
 * range of a hundred MB is encoded over several event-loop turns (the first touch of
 * fresh memory costs ~3 ms per MB here) instead of stalling every other client for the
 * whole of it. Null: not one the fast path writes.
 */
export function rangeResponseFrame(
  m: RangeResponse,
  largeBytes: number,
): Uint8Array | SteppedEncoding | null {
  const plan = planRangeResponse(m);
  if (plan === null) return null;
  const w = new ProtoWriter(plan.size, GRPC_PREFIX_BYTES);
  const frame = () => {
    const bytes = w.finish();
    writePrefix(bytes, 0, plan.size);
    return bytes;
  };
  if (plan.size < largeBytes) {
    writeRangeResponse(w, m, plan, 0, m.kvs.length);
    return frame();
  }
  let next = 0;
  return {
    step(stepBytes: number): boolean {
      let to = next;
      let bytes = 0;
      while (to < m.kvs.length && (bytes < stepBytes || to === next)) bytes += plan.kvSizes[to++];
      if (next === 0 || to > next) writeRangeResponse(w, m, plan, next, to);
      next = to;
      return next === m.kvs.length;
    },
    frame,
  };
}
