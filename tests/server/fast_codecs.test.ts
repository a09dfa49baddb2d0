/** The hand-written Put codecs against the generated ones, byte for byte. */
import { describe, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  PutRequestSchema,
  PutResponseSchema,
  ResponseHeaderSchema,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { KeyValueSchema } from "../../proto/gen/mvccpb/kv_pb.ts";
import { fastDecoderFor, fastEncoderFor } from "../../server/grpc/fast_codecs.ts";

const decodePut = fastDecoderFor(PutRequestSchema)!;
const encodePutResponse = fastEncoderFor(PutResponseSchema)!;
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
