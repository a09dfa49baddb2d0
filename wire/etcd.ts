/**
 * etcd's messages that are encoded or decoded by hand, each field list written once here
 * (`write*` serves both the size and the bytes; `read*` is its inverse): KeyValue,
 * PutRequest, the CLI's put/get/del requests and responses, Authenticate.
 *
 * Why by hand: HashKV encodes every retained revision, a put's request and proposal are
 * on the server's hottest path, and the CLI's put/get/del must not load protobuf-es's
 * runtime or descriptors (~35 ms per call in the compiled binary). Decoded values have the
 * shape of protobuf-es messages ($typeName, every field present), so printers and the
 * server take them. tests/wire/roundtrip.test.ts checks every codec against protobuf-es.
 */
import type { KeyValue } from "../proto/gen/mvccpb/kv_pb.ts";
import type {
  DeleteRangeRequest,
  DeleteRangeResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  ResponseHeader,
} from "../proto/gen/etcdserverpb/rpc_pb.ts";
import {
  encode,
  type FieldWriter,
  GatheringWriter,
  ProtoWriter,
  varint64Size,
  varintSize,
} from "./writer.ts";
import { GRPC_PREFIX_BYTES, writePrefix } from "../api/grpc-frame.ts";
import { ProtoReader, WireError } from "./reader.ts";

/** A message's fields without protobuf-es's bookkeeping. */
export type Fields<T> = Omit<T, "$typeName" | "$unknown">;

const EMPTY = new Uint8Array(0);

// ---- mvccpb.KeyValue ------------------------------------------------------------------

/** A KeyValue's fields in number order, zero values left out. */
export function writeKeyValue(w: FieldWriter, kv: Fields<KeyValue>): void {
  w.bytesField(1, kv.key);
  w.int64Field(2, kv.createRevision);
  w.int64Field(3, kv.modRevision);
  w.int64Field(4, kv.version);
  w.bytesField(5, kv.value);
  w.int64Field(6, kv.lease);
}

/** The length of `encodeKeyValue(kv)`, without encoding it (each field below 16: a one-byte tag). */
export function keyValueSize(kv: Fields<KeyValue>): number {
  const bytesField = (n: number) => n === 0 ? 0 : 1 + varintSize(n) + n;
  const intField = (v: bigint) => v === 0n ? 0 : 1 + varint64Size(v);
  return bytesField(kv.key.length) + intField(kv.createRevision) + intField(kv.modRevision) +
    intField(kv.version) + bytesField(kv.value.length) + intField(kv.lease);
}

/**
 * Writes `kv` as `encodeKeyValue` encodes it into `buf` from `at`, where the caller made
 * room for `keyValueSize(kv)` bytes (a page being filled); the offset after it.
 */
export function writeKeyValueAt(buf: Uint8Array, at: number, kv: Fields<KeyValue>): number {
  const w = ProtoWriter.over(buf);
  w.pos = at;
  writeKeyValue(w, kv);
  return w.pos;
}

/** mvccpb.KeyValue in canonical form, byte-identical to etcd's gogo-protobuf Marshal. */
export function encodeKeyValue(kv: Fields<KeyValue>): Uint8Array {
  return encode(writeKeyValue, kv);
}

/**
 * A KeyValue with every field present; unknown fields are skipped, malformed bytes throw.
 * Key and value are views into the input, or copies when under `copyBelow` bytes (see
 * ProtoReader.bytesCopied).
 */
export function readKeyValue(r: ProtoReader, copyBelow = 0): KeyValue {
  const kv: KeyValue = {
    $typeName: "mvccpb.KeyValue",
    key: EMPTY,
    createRevision: 0n,
    modRevision: 0n,
    version: 0n,
    value: EMPTY,
    lease: 0n,
  };
  while (r.more()) {
    const tag = r.tag();
    if (tag === 0x0a) kv.key = r.bytesCopied(copyBelow);
    else if (tag === 0x10) kv.createRevision = r.int64();
    else if (tag === 0x18) kv.modRevision = r.int64();
    else if (tag === 0x20) kv.version = r.int64();
    else if (tag === 0x2a) kv.value = r.bytesCopied(copyBelow);
    else if (tag === 0x30) kv.lease = r.int64();
    else r.skip(tag & 7);
  }
  return kv;
}

/** Decodes an mvccpb.KeyValue (a stored revision, an imported backend's); `copyBelow` as readKeyValue's. */
export function decodeKeyValue(b: Uint8Array, copyBelow = 0): KeyValue {
  return readKeyValue(new ProtoReader(b), copyBelow);
}

// ---- PutRequest -----------------------------------------------------------------------

/** PutRequest's fields: the CLI's request and the body of a lone-put proposal. */
export function writePutRequest(w: FieldWriter, p: Fields<PutRequest>): void {
  w.bytesField(1, p.key);
  w.bytesField(2, p.value);
  w.int64Field(3, p.lease);
  w.boolField(4, p.prevKv);
  w.boolField(5, p.ignoreValue);
  w.boolField(6, p.ignoreLease);
}

/**
 * A PutRequest; null for anything but its six known fields in their wire types (unknown
 * fields, which the generated code keeps) and for malformed bytes (which it refuses).
 */
export function readPutRequest(r: ProtoReader): PutRequest | null {
  const p: PutRequest = {
    $typeName: "etcdserverpb.PutRequest",
    key: EMPTY,
    value: EMPTY,
    lease: 0n,
    prevKv: false,
    ignoreValue: false,
    ignoreLease: false,
  };
  try {
    while (r.more()) {
      const tag = r.tag();
      if (tag === 0x0a) p.key = r.bytes();
      else if (tag === 0x12) p.value = r.bytes();
      else if (tag === 0x18) p.lease = r.int64();
      else if (tag === 0x20) p.prevKv = r.bool();
      else if (tag === 0x28) p.ignoreValue = r.bool();
      else if (tag === 0x30) p.ignoreLease = r.bool();
      else return null;
    }
  } catch (e) {
    if (e instanceof WireError) return null;
    throw e;
  }
  return p;
}

/** PutRequest bytes by hand; null as `readPutRequest`. */
export function decodePutRequest(b: Uint8Array): PutRequest | null {
  return readPutRequest(new ProtoReader(b));
}

export function encodePutRequest(p: Fields<PutRequest>): Uint8Array {
  return encode(writePutRequest, p);
}

// ---- the CLI's other requests ---------------------------------------------------------

function writeRangeRequest(w: FieldWriter, r: Fields<RangeRequest>): void {
  w.bytesField(1, r.key);
  w.bytesField(2, r.rangeEnd);
  w.int64Field(3, r.limit);
  w.int64Field(4, r.revision);
  w.uintField(5, r.sortOrder);
  w.uintField(6, r.sortTarget);
  w.boolField(7, r.serializable);
  w.boolField(8, r.keysOnly);
  w.boolField(9, r.countOnly);
  w.int64Field(10, r.minModRevision);
  w.int64Field(11, r.maxModRevision);
  w.int64Field(12, r.minCreateRevision);
  w.int64Field(13, r.maxCreateRevision);
}

/** RangeRequest bytes; the revision filters default to zero (the CLI's get sets none). */
export function encodeRangeRequest(
  r: Omit<
    Fields<RangeRequest>,
    "minModRevision" | "maxModRevision" | "minCreateRevision" | "maxCreateRevision"
  >,
): Uint8Array {
  return encode(writeRangeRequest, {
    minModRevision: 0n,
    maxModRevision: 0n,
    minCreateRevision: 0n,
    maxCreateRevision: 0n,
    ...r,
  });
}

function writeDeleteRangeRequest(w: FieldWriter, r: Fields<DeleteRangeRequest>): void {
  w.bytesField(1, r.key);
  w.bytesField(2, r.rangeEnd);
  w.boolField(3, r.prevKv);
}

export function encodeDeleteRangeRequest(r: Fields<DeleteRangeRequest>): Uint8Array {
  return encode(writeDeleteRangeRequest, r);
}

// ---- the CLI's responses ----------------------------------------------------------------

/** A ResponseHeader (what the server writes in server/grpc/fast_codecs.ts). */
export function readResponseHeader(r: ProtoReader): ResponseHeader {
  const h: ResponseHeader = {
    $typeName: "etcdserverpb.ResponseHeader",
    clusterId: 0n,
    memberId: 0n,
    revision: 0n,
    raftTerm: 0n,
  };
  while (r.more()) {
    const tag = r.tag();
    if (tag === 0x08) h.clusterId = r.uint64();
    else if (tag === 0x10) h.memberId = r.uint64();
    else if (tag === 0x18) h.revision = r.int64();
    else if (tag === 0x20) h.raftTerm = r.uint64();
    else r.skip(tag & 7);
  }
  return h;
}

export function decodePutResponse(bytes: Uint8Array): PutResponse {
  const r = new ProtoReader(bytes);
  const m: PutResponse = { $typeName: "etcdserverpb.PutResponse", header: undefined, prevKv: undefined };
  while (r.more()) {
    const tag = r.tag();
    if (tag === 0x0a) m.header = readResponseHeader(r.sub());
    else if (tag === 0x12) m.prevKv = readKeyValue(r.sub());
    else r.skip(tag & 7);
  }
  return m;
}

export function decodeRangeResponse(bytes: Uint8Array): RangeResponse {
  const r = new ProtoReader(bytes);
  const m: RangeResponse = {
    $typeName: "etcdserverpb.RangeResponse",
    header: undefined,
    kvs: [],
    more: false,
    count: 0n,
  };
  while (r.more()) {
    const tag = r.tag();
    if (tag === 0x0a) m.header = readResponseHeader(r.sub());
    else if (tag === 0x12) m.kvs.push(readKeyValue(r.sub()));
    else if (tag === 0x18) m.more = r.bool();
    else if (tag === 0x20) m.count = r.int64();
    else r.skip(tag & 7);
  }
  return m;
}

/**
 * In a large response, keys and values this big are sent from where they are, not copied
 * into the response (wire/writer.ts's GatheringWriter, KvsWriter).
 */
export const GATHER_FROM = 4096;

/** The bytes of `kv`'s encoding (`encoded` long) a gathering writer copies: less the fields it gathers. */
export function copiedBytes(kv: Fields<KeyValue>, encoded: number): number {
  let n = encoded;
  if (kv.key.length >= GATHER_FROM) n -= kv.key.length;
  if (kv.value.length >= GATHER_FROM) n -= kv.value.length;
  return n;
}

/**
 * A RangeResponse's `kvs` as their encoded fields (field 2, one per KeyValue, in order):
 * written into pieces to be sent one after the other (what a read worker answers:
 * store/read_workers.ts), or the stored KeyValues themselves, framed as fields only where
 * the answer is written (server/apply/range.ts: one copy of them, not two).
 */
export type EncodedKvs = WrittenKvs | StoredKvs;

/** Encoded `kvs` fields, in pieces (`KvsWriter`). */
export interface WrittenKvs {
  readonly pieces: readonly Uint8Array[];
  /** The pieces' bytes in all. */
  readonly length: number;
  readonly rows: number;
}

/** KeyValues as stored (a store's `history.kv`), each to be written as one `kvs` field (`storedKvs`). */
export interface StoredKvs {
  readonly stored: readonly Uint8Array[];
  /** The bytes of their fields in all. */
  readonly length: number;
  readonly rows: number;
}

/** RangeResponse's field number of `kvs`. */
const KVS_FIELD = 2;

/** The bytes of a `kvs` field holding a KeyValue encoded in `n` bytes. */
function kvsFieldBytes(n: number): number {
  return 1 + varintSize(n) + n;
}

/** `kvsFieldBytes` of a stored KeyValue (a store's `history.kv`), which is never empty: a key is not. */
function storedFieldBytes(kv: Uint8Array): number {
  if (kv.length === 0) throw new Error("wire: an encoded KeyValue is never empty");
  return kvsFieldBytes(kv.length);
}

/** The bytes a gathering writer copies for the `kvs` field of `kv` (encoded in `size` bytes). */
function copiedFieldBytes(kv: Fields<KeyValue>, size: number): number {
  return 1 + varintSize(size) + copiedBytes(kv, size);
}

/**
 * Writes KeyValues as RangeResponse `kvs` fields, as pieces: its own buffers for the tags,
 * lengths, numbers and small fields, and big keys and values where they are (a 100 KB
 * value copied into fresh memory cost more than reading it). `addAll` and
 * `addAllEncoded` size the buffer for a whole batch at once: buffers grown piecemeal cost a
 * 1000-key range's encoding more in allocation and collection (0.80 vs 0.74 ms at best).
 */
export class KvsWriter {
  /** The pieces of the buffers filled before the current one. */
  readonly #filled: Uint8Array[] = [];
  /** The current buffer's writer: none until something is written (a writer costs its allocations). */
  #w: GatheringWriter | null = null;
  #length = 0;
  #rows = 0;

  /** `add` of each of `kvs`, with room made for all of them first. */
  addAll(kvs: readonly Fields<KeyValue>[]): void {
    let room = 0;
    for (const kv of kvs) room += copiedFieldBytes(kv, keyValueSize(kv));
    this.#room(room);
    for (const kv of kvs) this.add(kv);
  }

  add(kv: Fields<KeyValue>): void {
    const size = keyValueSize(kv);
    const w = this.#room(copiedFieldBytes(kv, size));
    w.messageHeader(KVS_FIELD, size);
    writeKeyValue(w, kv);
    this.#length += kvsFieldBytes(size);
    this.#rows++;
  }

  /** Adds each of `kvs`, KeyValues as stored (`history.kv`), with room made for all of them first. */
  addAllEncoded(kvs: readonly Uint8Array[]): void {
    let room = 0;
    let length = 0;
    for (const kv of kvs) {
      const bytes = storedFieldBytes(kv);
      length += bytes;
      // Big ones are gathered, not copied into the buffer.
      room += kv.length >= GATHER_FROM ? bytes - kv.length : bytes;
    }
    const w = this.#room(room);
    for (const kv of kvs) w.bytesField(KVS_FIELD, kv);
    this.#length += length;
    this.#rows += kvs.length;
  }

  /**
   * The pieces written since the last `take`, handed over (their buffers may be
   * transferred: the writer starts a buffer of its own for what comes next).
   */
  take(): Uint8Array[] {
    const pieces = this.#filled.splice(0);
    if (this.#w !== null) pieces.push(...this.#w.written());
    this.#w = null;
    return pieces;
  }

  /** What is left to take, and the totals of all that was written. */
  finish(): WrittenKvs {
    return { pieces: this.take(), length: this.#length, rows: this.#rows };
  }

  /** Makes room for `bytes` more in the buffer: a new one, if need be, after what is written. */
  #room(bytes: number): GatheringWriter {
    const w = this.#w;
    if (w !== null && w.pos + bytes <= w.buf.length) return w;
    if (w !== null) this.#filled.push(...w.written());
    return this.#w = new GatheringWriter(Math.max(bytes, 2 * (w?.buf.length ?? 0)), 0, GATHER_FROM);
  }
}

/** KeyValues as stored (a store's `history.kv`, none empty) as a RangeResponse's `kvs`. */
export function storedKvs(kvs: readonly Uint8Array[]): StoredKvs {
  let length = 0;
  for (const kv of kvs) length += storedFieldBytes(kv);
  return { stored: kvs, length, rows: kvs.length };
}

/** `encoded` as pieces: stored KeyValues are written as `KvsWriter` does (big ones gathered, not copied). */
export function kvsPieces(encoded: EncodedKvs): readonly Uint8Array[] {
  if ("pieces" in encoded) return encoded.pieces;
  const out = new KvsWriter();
  out.addAllEncoded(encoded.stored);
  return out.take();
}

/** Writes `encoded` into `w`, which has room for its `length` bytes. */
export function writeKvs(w: FieldWriter, encoded: EncodedKvs): void {
  if ("stored" in encoded) {
    for (const kv of encoded.stored) w.bytesField(KVS_FIELD, kv);
  } else {
    for (const piece of encoded.pieces) w.raw(piece);
  }
}

/** Where a RangeResponse made by `rangeResponseOfEncoded` keeps its encoded `kvs`. */
const ENCODED_KVS = Symbol("encoded kvs");

/**
 * A RangeResponse whose `kvs` are `encoded`: the gRPC encoder writes those bytes as they
 * are (`encodedKvsOf`); anything reading `kvs` (the JSON gateway, the proxy) gets them
 * decoded on first access, after which the message is an ordinary one.
 */
export function rangeResponseOfEncoded(
  fields: Pick<RangeResponse, "header" | "more" | "count">,
  encoded: EncodedKvs,
): RangeResponse {
  const m = { $typeName: "etcdserverpb.RangeResponse", ...fields } as RangeResponse;
  const settle = (kvs: KeyValue[]) => {
    delete (m as { [ENCODED_KVS]?: EncodedKvs })[ENCODED_KVS];
    Object.defineProperty(m, "kvs", { value: kvs, writable: true, enumerable: true, configurable: true });
    return kvs;
  };
  Object.defineProperty(m, "kvs", {
    enumerable: true,
    configurable: true,
    get: () => {
      if ("stored" in encoded) return settle(encoded.stored.map((kv) => decodeKeyValue(kv)));
      const { pieces, length } = encoded;
      return settle(decodeKvsFields(pieces.length === 1 ? pieces[0] : Buffer.concat(pieces, length)));
    },
    set: settle,
  });
  Object.defineProperty(m, ENCODED_KVS, { value: encoded, enumerable: false, configurable: true });
  return m;
}

/** The encoded `kvs` of a response from `rangeResponseOfEncoded` whose `kvs` no one has read, or undefined. */
export function encodedKvsOf(m: RangeResponse): EncodedKvs | undefined {
  return (m as { [ENCODED_KVS]?: EncodedKvs })[ENCODED_KVS];
}

function decodeKvsFields(bytes: Uint8Array): KeyValue[] {
  const r = new ProtoReader(bytes);
  const kvs: KeyValue[] = [];
  while (r.more()) {
    const tag = r.tag();
    if (tag !== (KVS_FIELD << 3 | 2)) throw new WireError(`RangeResponse kvs: unexpected tag ${tag}`);
    kvs.push(readKeyValue(r.sub()));
  }
  return kvs;
}

export function decodeDeleteRangeResponse(bytes: Uint8Array): DeleteRangeResponse {
  const r = new ProtoReader(bytes);
  const m: DeleteRangeResponse = {
    $typeName: "etcdserverpb.DeleteRangeResponse",
    header: undefined,
    deleted: 0n,
    prevKvs: [],
  };
  while (r.more()) {
    const tag = r.tag();
    if (tag === 0x0a) m.header = readResponseHeader(r.sub());
    else if (tag === 0x10) m.deleted = r.int64();
    else if (tag === 0x1a) m.prevKvs.push(readKeyValue(r.sub()));
    else r.skip(tag & 7);
  }
  return m;
}

// ---- Authenticate (the client's login without the generated descriptors) ---------------

function writeAuthenticateRequest(w: FieldWriter, r: { name: string; password: string }): void {
  w.stringField(1, r.name);
  w.stringField(2, r.password);
}

export function encodeAuthenticateRequest(r: { name: string; password: string }): Uint8Array {
  return encode(writeAuthenticateRequest, r);
}

/** AuthenticateResponse's token (field 2); the header is not needed. */
export function decodeAuthenticateToken(bytes: Uint8Array): string {
  const r = new ProtoReader(bytes);
  let token = "";
  while (r.more()) {
    const tag = r.tag();
    if (tag === 0x12) token = r.string();
    else r.skip(tag & 7);
  }
  return token;
}

/** One SnapshotResponse of a snapshot stream: its blob's size and the bytes after it. */
export interface SnapshotChunk {
  readonly bytes: number;
  readonly remaining: number;
}

/**
 * gRPC frames of SnapshotResponse{remaining_bytes = 2, blob = 3}, one per chunk, in one
 * buffer; `fill` writes each blob in place (a snapshot's file is read straight into them).
 */
export function snapshotResponseFrames(
  chunks: readonly SnapshotChunk[],
  fill: (blob: Uint8Array) => void,
): Uint8Array {
  let size = 0;
  for (const c of chunks) size += GRPC_PREFIX_BYTES + snapshotResponseBytes(c);
  const w = new ProtoWriter(size);
  for (const c of chunks) {
    const frame = w.pos;
    w.pos += GRPC_PREFIX_BYTES;
    w.uintField(2, c.remaining);
    if (c.bytes > 0) {
      w.messageHeader(3, c.bytes);
      fill(w.buf.subarray(w.pos, w.pos + c.bytes));
      w.pos += c.bytes;
    }
    writePrefix(w.buf, frame, snapshotResponseBytes(c));
  }
  return w.buf;
}

function snapshotResponseBytes(c: SnapshotChunk): number {
  return (c.remaining === 0 ? 0 : 1 + varintSize(c.remaining)) +
    (c.bytes === 0 ? 0 : 1 + varintSize(c.bytes) + c.bytes);
}
