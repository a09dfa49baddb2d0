/** wire/'s varints against protobuf-es's BinaryWriter/BinaryReader at the edges of both paths. */
import { describe, expect, test } from "bun:test";
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { ProtoWriter, sizeOf, varint64Size } from "../../wire/writer.ts";
import { ProtoReader, WireError } from "../../wire/reader.ts";

const INT64 = [
  0n,
  1n,
  127n,
  128n,
  2n ** 31n - 1n,
  2n ** 31n,
  2n ** 32n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 63n - 1n,
  -1n,
  -(2n ** 53n),
  -(2n ** 53n) - 1n,
  -(2n ** 63n),
];

function ours(v: bigint): Uint8Array {
  const w = new ProtoWriter(varint64Size(v));
  w.varint64(v);
  return w.finish();
}

describe("varints", () => {
  for (const v of INT64) {
    test(`int64 ${v} is written and read as protobuf-es does`, () => {
      const theirs = new BinaryWriter().int64(v).finish();
      expect([...ours(v)]).toEqual([...theirs]);
      expect(new ProtoReader(theirs).int64()).toBe(v);
      expect(new ProtoReader(theirs).uint64()).toBe(BigInt.asUintN(64, v));
      expect(new BinaryReader(ours(v)).int64()).toBe(v);
    });
  }

  test("uint64 2^64-1 round-trips", () => {
    const max = 2n ** 64n - 1n;
    expect([...ours(max)]).toEqual([...new BinaryWriter().uint64(max).finish()]);
    expect(new ProtoReader(ours(max)).uint64()).toBe(max);
  });

  test("number() is exact below 2^53 and refuses more", () => {
    expect(new ProtoReader(ours(2n ** 53n - 1n)).number()).toBe(2 ** 53 - 1);
    expect(() => new ProtoReader(ours(2n ** 53n)).number()).toThrow(WireError);
  });

  test("truncated and overlong varints throw", () => {
    expect(() => new ProtoReader(new Uint8Array([0x80])).number()).toThrow(WireError);
    expect(() => new ProtoReader(new Uint8Array(11).fill(0xff)).uint64()).toThrow(WireError);
    expect(() => new ProtoReader(new Uint8Array([0x0a, 0x05, 0x01])).bytes()).toThrow("protobuf: truncated");
  });

  test("a Sizer counts exactly what the writer writes", () => {
    const write = (w: Parameters<Parameters<typeof sizeOf>[0]>[0], v: bigint) => {
      w.int64Field(1, v);
      w.uintField(2, 300);
      w.boolField(3, true);
      w.stringField(4, "ü");
      w.bytesField(5, new Uint8Array(200));
    };
    for (const v of INT64) {
      const w = new ProtoWriter(sizeOf(write, v));
      write(w, v);
      expect(w.finish().length).toBe(sizeOf(write, v));
    }
  });
});
