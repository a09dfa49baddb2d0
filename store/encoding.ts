/**
 * The byte layouts etcd hashes: bbolt's revision keys and the protobuf encoding of
 * mvccpb.KeyValue. Hand-written because HashKV encodes every retained revision.
 */
import type { KeyValue } from "../proto/gen/mvccpb/kv_pb.ts";

/**
 * etcd's revision key: 8-byte big-endian main revision, '_', 8-byte big-endian sub
 * revision, and a trailing 't' for a tombstone.
 */
export function revisionKey(main: bigint, sub: bigint, tombstone: boolean): Uint8Array {
  const out = new Uint8Array(tombstone ? 18 : 17);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt.asUintN(64, main));
  out[8] = 0x5f; // '_'
  view.setBigUint64(9, BigInt.asUintN(64, sub));
  if (tombstone) out[17] = 0x74; // 't'
  return out;
}

/** The fields of a KeyValue (no message type needed). */
export type KvFields = Omit<KeyValue, "$typeName" | "$unknown">;

/**
 * mvccpb.KeyValue in canonical proto3 binary form (fields in number order, zero values
 * omitted), byte-identical to etcd's gogo-protobuf Marshal.
 */
export function encodeKeyValue(kv: KvFields): Uint8Array {
  // Each of the six fields needs at most 1 tag byte + a 10-byte varint besides its bytes.
  const w = new ProtoWriter(kv.key.length + kv.value.length + 6 * 11);
  w.bytesField(1, kv.key);
  w.int64Field(2, kv.createRevision);
  w.int64Field(3, kv.modRevision);
  w.int64Field(4, kv.version);
  w.bytesField(5, kv.value);
  w.int64Field(6, kv.lease);
  return w.finish();
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

class ProtoWriter {
  readonly #buf: Uint8Array;
  #pos = 0;

  constructor(capacity: number) {
    this.#buf = new Uint8Array(capacity);
  }

  bytesField(field: number, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#smallVarint(field << 3 | 2);
    this.#smallVarint(bytes.length);
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
  }

  int64Field(field: number, value: bigint): void {
    if (value === 0n) return;
    this.#smallVarint(field << 3);
    if (value > 0n && value <= MAX_SAFE) this.#smallVarint(Number(value));
    else this.#varint(BigInt.asUintN(64, value)); // a negative int64 takes ten bytes, as in Go
  }

  finish(): Uint8Array {
    return this.#buf.subarray(0, this.#pos);
  }

  /** A varint of a non-negative safe integer, without bigint arithmetic (the common case). */
  #smallVarint(value: number): void {
    let v = value;
    while (v >= 0x80) {
      this.#buf[this.#pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.#buf[this.#pos++] = v;
  }

  #varint(value: bigint): void {
    let v = value;
    while (v >= 0x80n) {
      this.#buf[this.#pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.#buf[this.#pos++] = Number(v);
  }
}
