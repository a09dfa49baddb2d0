/** The hand-written Put codecs against the generated ones, byte for byte. */
import { describe, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  PutRequestSchema,
  PutResponseSchema,
  RangeResponseSchema,
  ResponseHeaderSchema,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { KeyValueSchema } from "../../proto/gen/mvccpb/kv_pb.ts";
import { fastDecoderFor, fastEncoderFor, frameEncoderFor } from "../../server/grpc/fast_codecs.ts";
import { encodeFrame } from "../../api/grpc-frame.ts";

const decodePut = fastDecoderFor(PutRequestSchema)!;
const encodePutResponse = fastEncoderFor(PutResponseSchema)!;
const encodeRangeResponse = fastEncoderFor(RangeResponseSchema)!;
const rangeFrame = frameEncoderFor(RangeResponseSchema)!;
const bytes = (s: string) => new TextEncoder().encode(s);

describe("PutRequest", () => {
  const cases = [
    {},
    { key: bytes("k") },
    { key: bytes("key"), value: bytes("v".repeat(300)) },
    { key: bytes("k"), value: bytes("v"), lease: 0x7fffffffffffffffn, prevKv: true },
    { key: bytes("k"), lease: -1n, ignoreValue: true, ignoreLease: true },
    { key: new Uint8Array([0, 255, 128]), value: new Uint8Array(70_000) },
  ];
  for (const c of cases) {
    test(`reads ${JSON.stringify(Object.keys(c))} as the generated code does`, () => {
      const wire = toBinary(PutRequestSchema, create(PutRequestSchema, c));
      expect(decodePut(wire)).toEqual(fromBinary(PutRequestSchema, wire));
    });
  }

  test("leaves unknown fields and malformed bytes to the generated code", () => {
    expect(decodePut(new Uint8Array([0x38, 0x01]))).toBeNull(); // field 7
    expect(decodePut(new Uint8Array([0x0a, 0x05, 0x01]))).toBeNull(); // key longer than the message
  });
});

describe("PutResponse", () => {
  const header = (h: Record<string, bigint>) => create(ResponseHeaderSchema, h);
  const cases = [
    { clusterId: 0xbf9973fbc534d7bfn, memberId: 0x6fe13ed764fae1afn, revision: 1n, raftTerm: 2n },
    { clusterId: 1n, memberId: 0xffffffffffffffffn, revision: 2n ** 40n, raftTerm: 0n },
    { clusterId: 0n, memberId: 0n, revision: 0n, raftTerm: 0n },
    { clusterId: 5n, memberId: 7n, revision: 127n, raftTerm: 128n },
  ];
  for (const h of cases) {
    test(`writes header ${h.revision}/${h.raftTerm} as the generated code does`, () => {
      const m = create(PutResponseSchema, { header: header(h) });
      expect(encodePutResponse(m)).toEqual(toBinary(PutResponseSchema, m));
    });
  }

  test("leaves a response with prev_kv to the generated code", () => {
    const m = create(PutResponseSchema, {
      header: header(cases[0]),
      prevKv: create(KeyValueSchema, { key: bytes("k") }),
    });
    expect(encodePutResponse(m)).toBeNull();
  });
});

describe("RangeResponse", () => {
  const header = create(ResponseHeaderSchema, {
    clusterId: 9n,
    memberId: 2n ** 63n,
    revision: 300n,
    raftTerm: 3n,
  });
  const kv = (i: number, extra: Record<string, unknown> = {}) =>
    create(KeyValueSchema, {
      key: bytes(`key-${i}`),
      value: bytes("v".repeat(i * 7)),
      createRevision: BigInt(i + 1),
      modRevision: BigInt(i * 1000 + 1),
      version: BigInt(i + 1),
      ...extra,
    });
  const cases: Record<string, Parameters<typeof create<typeof RangeResponseSchema>>[1]> = {
    "no keys": { header, count: 0n },
    "one key": { header, kvs: [kv(1)], count: 1n },
    "a page with more": {
      header,
      kvs: Array.from({ length: 100 }, (_, i) => kv(i)),
      more: true,
      count: 12345n,
    },
    "leases and empty values": { header, kvs: [kv(0, { lease: 0x694d77aa9e2c0b1dn }), kv(3)], count: 2n },
    "count only": { header, count: 2n ** 40n },
  };
  for (const [name, c] of Object.entries(cases)) {
    test(`writes ${name} as the generated code does`, () => {
      const m = create(RangeResponseSchema, c);
      expect(encodeRangeResponse(m)).toEqual(toBinary(RangeResponseSchema, m));
    });
  }

  test("leaves negative or huge numbers to the generated code", () => {
    expect(encodeRangeResponse(create(RangeResponseSchema, { header, kvs: [kv(1, { lease: -5n })] })))
      .toBeNull();
  });
});

describe("RangeResponse as a gRPC frame", () => {
  const header = create(ResponseHeaderSchema, { clusterId: 7n, memberId: 9n, revision: 40n, raftTerm: 2n });
  const kvs = Array.from({ length: 9 }, (_, i) =>
    create(KeyValueSchema, {
      key: bytes(`k${i}`),
      value: new Uint8Array(1000 * (i + 1)).fill(i),
      createRevision: 2n,
      modRevision: BigInt(3 + i),
      version: 1n,
    }));
  const message = create(RangeResponseSchema, { header, kvs, more: true, count: 20n });
  const expected = encodeFrame(toBinary(RangeResponseSchema, message));

  test("a small one is written whole, prefix included", () => {
    const framed = rangeFrame(message, 1 << 20);
    expect(framed).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(framed as Uint8Array).equals(Buffer.from(expected))).toBe(true);
  });

  test("a large one is written in steps, to the same bytes", () => {
    const framed = rangeFrame(message, 1);
    if (framed === null || framed instanceof Uint8Array) throw new Error("expected a stepped encoding");
    let steps = 1;
    while (!framed.step(4000)) steps++;
    expect(steps).toBeGreaterThan(2);
    expect(Buffer.concat(framed.pieces()).equals(Buffer.from(expected))).toBe(true);
  });

  test("a large one sends its big values from where they are, not copied", () => {
    const framed = rangeFrame(message, 1);
    if (framed === null || framed instanceof Uint8Array) throw new Error("expected a stepped encoding");
    while (!framed.step(1 << 20));
    const pieces = framed.pieces();
    // Values of 5000 bytes and more are pieces of their own; the rest is one buffer's.
    for (const kv of kvs) expect(pieces.includes(kv.value)).toBe(kv.value.length >= 4096);
    expect(pieces.length).toBe(2 * 5 + 1);
  });

  test("an empty one in steps", () => {
    const empty = create(RangeResponseSchema, { header });
    const framed = rangeFrame(empty, 0);
    if (framed === null || framed instanceof Uint8Array) throw new Error("expected a stepped encoding");
    expect(framed.step(4000)).toBe(true);
    expect(
      Buffer.concat(framed.pieces()).equals(Buffer.from(encodeFrame(toBinary(RangeResponseSchema, empty)))),
    )
      .toBe(true);
  });
});
