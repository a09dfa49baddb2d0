/**
 * The CLI's hand-written put/get/del codec must agree with the generated protobuf-es code
 * byte for byte (requests) and field for field (responses).
 */
import { describe, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  DeleteRangeRequestSchema,
  DeleteRangeResponseSchema,
  PutRequestSchema,
  PutResponseSchema,
  RangeRequestSchema,
  RangeResponseSchema,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import {
  decodeDelete,
  decodePut,
  decodeRange,
  encodeDelete,
  encodePut,
  encodeRange,
} from "../../cmd/kv_codec.ts";

const b = (s: string) => new TextEncoder().encode(s);
const kv = (k: string, rev: bigint) => ({
  key: b(k),
  createRevision: rev,
  modRevision: rev + 1n,
  version: 2n,
  value: b(`v-${k}`),
  lease: 0x7fffffffffffffffn,
});
const header = { clusterId: 14841639068965178418n, memberId: 1n << 63n, revision: 123456789n, raftTerm: 7n };

describe("kv codec", () => {
  test("requests encode exactly as the generated code does", () => {
    const put = {
      key: b("k"),
      value: b("v"),
      lease: 0x1234n,
      prevKv: true,
      ignoreValue: false,
      ignoreLease: true,
    };
    expect(encodePut(put)).toEqual(toBinary(PutRequestSchema, create(PutRequestSchema, put)));
    const range = {
      key: b("a"),
      rangeEnd: b("b"),
      limit: 10n,
      revision: 5n,
      sortOrder: 2,
      sortTarget: 4,
      serializable: true,
      keysOnly: true,
      countOnly: false,
    };
    expect(encodeRange(range)).toEqual(toBinary(RangeRequestSchema, create(RangeRequestSchema, range)));
    const del = { key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]), prevKv: true };
    expect(encodeDelete(del)).toEqual(
      toBinary(DeleteRangeRequestSchema, create(DeleteRangeRequestSchema, del)),
    );
  });

  test("responses decode to the generated code's values, uint64s exact", () => {
    const put = create(PutResponseSchema, { header, prevKv: kv("p", 3n) });
    expect(decodePut(toBinary(PutResponseSchema, put))).toEqual(
      fromBinary(PutResponseSchema, toBinary(PutResponseSchema, put)),
    );
    const range = create(RangeResponseSchema, {
      header,
      kvs: [kv("a", 1n), kv("b", 2n)],
      more: true,
      count: 5n,
    });
    const decoded = decodeRange(toBinary(RangeResponseSchema, range));
    expect(decoded).toEqual(fromBinary(RangeResponseSchema, toBinary(RangeResponseSchema, range)));
    expect(decoded.header!.clusterId).toBe(14841639068965178418n);
    const del = create(DeleteRangeResponseSchema, { header, deleted: 2n, prevKvs: [kv("x", 9n)] });
    expect(decodeDelete(toBinary(DeleteRangeResponseSchema, del))).toEqual(
      fromBinary(DeleteRangeResponseSchema, toBinary(DeleteRangeResponseSchema, del)),
    );
    expect(decodePut(new Uint8Array()).header).toBeUndefined();
  });
});
