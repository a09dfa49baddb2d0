/**
 * mvccpb.KeyValue's protobuf encoding, hand-written because HashKV encodes every retained
 * revision, a backend import decodes every one, and the CLI decodes its responses without
 * loading protobuf-es. Shared by server, store and CLI, hence here.
 */
import type { KeyValue } from "../proto/gen/mvccpb/kv_pb.ts";
import { bytesFieldSize, int64FieldSize, ProtoWriter } from "../lib/proto_writer.ts";
import { ProtoReader } from "../lib/proto_reader.ts";

/** The fields of a KeyValue (no message type needed). */
export type KvFields = Omit<KeyValue, "$typeName" | "$unknown">;

/** The size of a KeyValue's fields, as `writeKeyValue` writes them. */
export function keyValueSize(kv: KvFields): number {
  return bytesFieldSize(1, kv.key.length) + int64FieldSize(2, kv.createRevision) +
    int64FieldSize(3, kv.modRevision) + int64FieldSize(4, kv.version) + bytesFieldSize(5, kv.value.length) +
    int64FieldSize(6, kv.lease);
}

/** A KeyValue's fields in number order, zero values left out (into a message or standalone). */
export function writeKeyValue(w: ProtoWriter, kv: KvFields): void {
  w.bytesField(1, kv.key);
  w.int64Field(2, kv.createRevision);
  w.int64Field(3, kv.modRevision);
  w.int64Field(4, kv.version);
  w.bytesField(5, kv.value);
  w.int64Field(6, kv.lease);
}

/**
 * mvccpb.KeyValue in canonical proto3 binary form, byte-identical to etcd's gogo-protobuf
 * Marshal.
 */
export function encodeKeyValue(kv: KvFields): Uint8Array {
  const w = new ProtoWriter(keyValueSize(kv));
  writeKeyValue(w, kv);
  return w.finish();
}

/**
 * Reads an mvccpb.KeyValue with every field present, shaped as protobuf-es's (so printers
 * take it): the CLI's responses carry them, and an imported backend's key bucket holds one
 * per revision. Unknown fields are skipped; malformed bytes throw.
 */
export function readKeyValue(r: ProtoReader): KeyValue {
  const kv = {
    $typeName: "mvccpb.KeyValue",
    key: new Uint8Array(0),
    createRevision: 0n,
    modRevision: 0n,
    version: 0n,
    value: new Uint8Array(0),
    lease: 0n,
  } as KeyValue;
  for (let t = r.tag(); t; t = r.tag()) {
    const [f, wire] = t;
    if (f === 1 && wire === 2) kv.key = r.bytes();
    else if (f === 2 && wire === 0) kv.createRevision = BigInt.asIntN(64, r.varint());
    else if (f === 3 && wire === 0) kv.modRevision = BigInt.asIntN(64, r.varint());
    else if (f === 4 && wire === 0) kv.version = BigInt.asIntN(64, r.varint());
    else if (f === 5 && wire === 2) kv.value = r.bytes();
    else if (f === 6 && wire === 0) kv.lease = BigInt.asIntN(64, r.varint());
    else r.skip(wire);
  }
  return kv;
}

/** Decodes an mvccpb.KeyValue (see `readKeyValue`). */
export function decodeKeyValue(b: Uint8Array): KeyValue {
  return readKeyValue(new ProtoReader(b));
}
