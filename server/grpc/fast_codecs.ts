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
import {
  encode,
  type FieldWriter,
  GatheringWriter,
  ProtoWriter,
  sizeOf,
  Sizer,
  varintSize,
} from "../../wire/writer.ts";
import {
  copiedBytes,
  decodePutRequest,
  type EncodedKvs,
  encodedKvsOf,
  GATHER_FROM,
  kvsPieces,
  writeKeyValue,
  writeKvs,
} from "../../wire/etcd.ts";
import { GRPC_PREFIX_BYTES, writePrefix } from "../../api/grpc-frame.ts";

/** Reads a request message; null = let the generated code do it. */
export type FastDecoder = (bytes: Uint8Array) => unknown | null;
/** Writes a response message; null = let the generated code do it. */
export type FastEncoder = (message: unknown) => Uint8Array | null;

const decoders: ReadonlyMap<string, FastDecoder> = new Map([
  ["etcdserverpb.PutRequest", decodePutRequest],
]);
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
    idsCache = { cluster, member, bytes: encode(writeIds, { cluster, member }) };
  }
  return idsCache.bytes;
}

function writeIds(w: FieldWriter, ids: { cluster: bigint; member: bigint }): void {
  w.int64Field(1, ids.cluster);
  w.int64Field(2, ids.member);
}

/** A ResponseHeader's fields (cluster and member IDs from the cache). */
function writeHeader(w: FieldWriter, h: ResponseHeader): void {
  w.raw(headerIds(h.clusterId, h.memberId));
  w.int64Field(3, h.revision);
  w.int64Field(4, h.raftTerm);
}

function writePutResponse(w: FieldWriter, header: ResponseHeader): void {
  w.message(1, writeHeader, header);
}

/** PutResponse{header} (no prev_kv: the generated code writes that one). */
function encodePutResponse(m: PutResponse): Uint8Array | null {
  if (m.prevKv !== undefined || m.$unknown !== undefined) return null;
  if (m.header === undefined || m.header.$unknown !== undefined) return null;
  return encode(writePutResponse, m.header);
}

/** RangeResponse{header, kvs, more, count}; KeyValues with negative numbers go to the generated code. */
function encodeRangeResponse(m: RangeResponse): Uint8Array | null {
  const encoded = encodedKvsOf(m);
  if (encoded !== undefined) return encodedRange(m, encoded, 0, true)[0];
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
  if (m.$unknown !== undefined || m.header === undefined || m.header.$unknown !== undefined) return null;
  const header = sizeOf(writeHeader, m.header);
  const s = new Sizer();
  s.messageHeader(1, header);
  s.boolField(3, m.more);
  s.int64Field(4, m.count);
  let size = s.size + header;
  const kvSizes: number[] = [];
  for (const kv of m.kvs) {
    if (
      kv.$unknown !== undefined || kv.createRevision < 0n || kv.modRevision < 0n || kv.version < 0n ||
      kv.lease < 0n
    ) {
      return null;
    }
    s.size = 0;
    writeKeyValue(s, kv);
    const n = s.size;
    kvSizes.push(n);
    s.messageHeader(2, n);
    size += s.size;
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
  if (from === 0) {
    w.messageHeader(1, plan.header);
    writeHeader(w, m.header!);
  }
  for (let i = from; i < to; i++) {
    w.messageHeader(2, plan.kvSizes[i]);
    writeKeyValue(w, m.kvs[i]);
  }
  if (to === m.kvs.length) writeRangeTail(w, m);
}

/**
 * A RangeResponse with encoded kvs (read_workers.ts, or stored ones: server/apply/range.ts)
 * after `reserve` bytes: in one buffer (`oneBuffer`: stored KeyValues, which are copied
 * once either way), or in pieces: the header, the kvs as written (`kvsPieces`, any number),
 * then `more` and `count`.
 */
function encodedRange(
  m: RangeResponse,
  encoded: EncodedKvs,
  reserve: number,
  oneBuffer: boolean,
): Uint8Array[] {
  const header = plainHeaderSize(m);
  const headBytes = 1 + varintSize(header) + header;
  const tailBytes = sizeOf(writeRangeTail, m);
  const w = new ProtoWriter(oneBuffer ? headBytes + encoded.length + tailBytes : headBytes, reserve);
  w.messageHeader(1, header);
  writeHeader(w, m.header!);
  if (oneBuffer) {
    writeKvs(w, encoded);
    writeRangeTail(w, m);
    return [w.finish()];
  }
  const tail = new ProtoWriter(tailBytes);
  writeRangeTail(tail, m);
  return [w.finish(), ...kvsPieces(encoded), tail.finish()];
}

/** The size of the header of a RangeResponse with encoded kvs, which must be a plain one. */
function plainHeaderSize(m: RangeResponse): number {
  if (m.header === undefined || m.header.$unknown !== undefined || m.$unknown !== undefined) {
    throw new Error("grpc: a RangeResponse with encoded kvs must have a plain header");
  }
  return sizeOf(writeHeader, m.header);
}

function writeRangeTail(w: FieldWriter, m: RangeResponse): void {
  w.boolField(3, m.more);
  w.int64Field(4, m.count);
}

/**
 * A large response written in steps: each `step()` writes about `stepBytes` more and
 * answers true once all is written; `pieces()` is then the gRPC frame (prefix included),
 * in pieces to be sent one after the other.
 */
export interface SteppedEncoding {
  step(stepBytes: number): boolean;
  pieces(): readonly Uint8Array[];
}

/**
 * RangeResponse as a gRPC frame, written in place after its prefix (no copy to frame
 * it). Encoded kvs (`encodedKvsOf`) are framed around: a read worker's pieces as they
 * are, stored KeyValues copied into one buffer below `largeBytes`. Other responses from
 * `largeBytes` on keep big keys and values where they are (the frame comes in pieces)
 * and write the rest a slice of KeyValues at a time, so that a range of a million small
 * keys is encoded over several event-loop turns instead of stalling every other client
 * for the whole of it. Null: not one the fast path writes.
 */
export function rangeResponseFrame(
  m: RangeResponse,
  largeBytes: number,
): Uint8Array | SteppedEncoding | null {
  const encoded = encodedKvsOf(m);
  if (encoded !== undefined) {
    // A read worker's pieces go out as they are: the connection copies a turn's frames into
    // one socket write anyway, and one buffer first cost a second copy into fresh pages
    // (1000-key ranges over 1M keys: the event loop's CPU 0.55 -> 0.38 ms per range, half
    // of it system time). Stored KeyValues are copied once whichever way.
    const oneBuffer = "stored" in encoded && encoded.length < largeBytes;
    const pieces = encodedRange(m, encoded, GRPC_PREFIX_BYTES, oneBuffer);
    const length = pieces.reduce((n, p) => n + p.length, 0);
    writePrefix(pieces[0], 0, length - GRPC_PREFIX_BYTES);
    if (pieces.length === 1) return pieces[0];
    // The kvs are sent from where they were written, between a head and a tail.
    return { step: () => true, pieces: () => pieces };
  }
  const plan = planRangeResponse(m);
  if (plan === null) return null;
  if (plan.size < largeBytes) {
    const w = new ProtoWriter(plan.size, GRPC_PREFIX_BYTES);
    writeRangeResponse(w, m, plan, 0, m.kvs.length);
    const bytes = w.finish();
    writePrefix(bytes, 0, plan.size);
    return bytes;
  }
  let gathered = 0;
  for (let i = 0; i < m.kvs.length; i++) gathered += plan.kvSizes[i] - copiedBytes(m.kvs[i], plan.kvSizes[i]);
  const w = new GatheringWriter(plan.size - gathered, GRPC_PREFIX_BYTES, GATHER_FROM);
  writePrefix(w.buf, 0, plan.size);
  let next = 0;
  return {
    step(stepBytes: number): boolean {
      let to = next;
      let bytes = 0;
      while (to < m.kvs.length && (bytes < stepBytes || to === next)) {
        // Gathered fields cost no copy, but each KeyValue some work.
        bytes += copiedBytes(m.kvs[to], plan.kvSizes[to]) + 64;
        to++;
      }
      if (next === 0 || to > next) writeRangeResponse(w, m, plan, next, to);
      next = to;
      return next === m.kvs.length;
    },
    pieces: () => w.pieces(),
  };
}
