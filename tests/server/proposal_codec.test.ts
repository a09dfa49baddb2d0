import { describe, expect, test } from "bun:test";
import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  InternalRaftRequestSchema,
  RequestHeaderSchema,
} from "../../proto/gen/etcdserverpb/raft_internal_pb.ts";
import { PutRequestSchema, RangeRequestSchema } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { decodeProposal, encodeProposal, putProposal, requestIdOf } from "../../server/proposal_codec.ts";

const enc = new TextEncoder();
const IDS = [1n, 127n, 128n, 0x1234_5678_9abcn, (0xffffn << 48n) | 12345n, (1n << 64n) - 1n];

describe("proposal codec", () => {
  const puts = [
    create(PutRequestSchema, { key: enc.encode("k"), value: enc.encode("v") }),
    create(PutRequestSchema, {
      key: enc.encode("/b/00000042"),
      value: new Uint8Array(300).fill(7),
      lease: 0x7fff_ffff_ffffn,
    }),
    create(PutRequestSchema, {
      key: enc.encode("x"),
      lease: -5n,
      prevKv: true,
      ignoreValue: true,
      ignoreLease: true,
    }),
    create(PutRequestSchema, { key: new Uint8Array(0), value: new Uint8Array(20000).fill(1) }),
  ];

  test("a put proposal decodes to the same request the generated code would", () => {
    for (const put of puts) {
      for (const id of IDS) {
        const bytes = encodeProposal(putProposal(put), id);
        const got = fromBinary(InternalRaftRequestSchema, bytes);
        const want = create(InternalRaftRequestSchema, {
          put,
          header: create(RequestHeaderSchema, { ID: id }),
        });
        expect(equals(InternalRaftRequestSchema, got, want)).toBe(true);
        expect(bytes.length).toBe(toBinary(InternalRaftRequestSchema, want).length);
        expect(requestIdOf(bytes)).toBe(id);
      }
    }
  });

  test("a put stamped with who the guard checked keeps the username and auth revision", () => {
    for (
      const [username, authRevision] of [["alice", 7n], ["", 3n], [
        "ü".repeat(100),
        (1n << 64n) - 1n,
      ]] as const
    ) {
      for (const id of IDS) {
        const r = putProposal(puts[1]);
        r.header = create(RequestHeaderSchema, { username, authRevision });
        const bytes = encodeProposal(r, id);
        const want = create(InternalRaftRequestSchema, {
          put: puts[1],
          header: create(RequestHeaderSchema, { ID: id, username, authRevision }),
        });
        expect(equals(InternalRaftRequestSchema, fromBinary(InternalRaftRequestSchema, bytes), want)).toBe(
          true,
        );
        expect(bytes.length).toBe(toBinary(InternalRaftRequestSchema, want).length);
        expect(requestIdOf(bytes)).toBe(id);
      }
    }
  });

  test("other requests go through the generated encoder and keep their ID", () => {
    const range = create(InternalRaftRequestSchema, {
      range: create(RangeRequestSchema, { key: enc.encode("a") }),
    });
    const bytes = encodeProposal(range, 99n);
    expect(bytes).toEqual(toBinary(InternalRaftRequestSchema, range));
    expect(requestIdOf(bytes)).toBe(99n);
    // A put with another field set is not a lone put.
    const odd = putProposal(puts[0]);
    odd.ID = 5n;
    const oddBytes = encodeProposal(odd, 7n);
    expect(fromBinary(InternalRaftRequestSchema, oddBytes).ID).toBe(5n);
    expect(requestIdOf(oddBytes)).toBe(7n);
  });

  test("the ID is found wherever the header is, and absent or garbled bytes give null", () => {
    for (const id of IDS) {
      const r = create(InternalRaftRequestSchema, {
        ID: 3n,
        put: puts[1],
        header: create(RequestHeaderSchema, { ID: id, username: "root", authRevision: 4n }),
      });
      expect(requestIdOf(toBinary(InternalRaftRequestSchema, r))).toBe(id);
    }
    expect(
      requestIdOf(toBinary(InternalRaftRequestSchema, create(InternalRaftRequestSchema, { put: puts[0] }))),
    )
      .toBeNull();
    expect(requestIdOf(new Uint8Array(0))).toBeNull();
    expect(requestIdOf(new Uint8Array([0xa2, 0x06, 0x05, 0x08]))).toBeNull();
    expect(requestIdOf(new Uint8Array([0xff, 0xff, 0xff]))).toBeNull();
  });
});

describe("proposal decoding", () => {
  const put = (init: Parameters<typeof create<typeof PutRequestSchema>>[1]) => create(PutRequestSchema, init);
  const requests = [
    create(InternalRaftRequestSchema, { put: put({ key: enc.encode("k"), value: enc.encode("v") }) }),
    create(InternalRaftRequestSchema, {
      header: create(RequestHeaderSchema, {
        ID: (1n << 64n) - 1n,
        username: "ünïcode",
        authRevision: 1n << 40n,
      }),
      put: put({ key: enc.encode("x"), lease: -5n, prevKv: true, ignoreValue: true, ignoreLease: true }),
    }),
    create(InternalRaftRequestSchema, { header: create(RequestHeaderSchema, { ID: 3n }), put: put({}) }),
    // Not lone puts: the generated decoder reads these.
    create(InternalRaftRequestSchema, { ID: 9n, put: put({ key: enc.encode("a") }) }),
    create(InternalRaftRequestSchema, { range: create(RangeRequestSchema, { key: enc.encode("a") }) }),
    create(InternalRaftRequestSchema, { header: create(RequestHeaderSchema, { ID: 4n }) }),
  ];

  test("reads every request as the generated decoder does", () => {
    for (const want of requests) {
      const got = decodeProposal(toBinary(InternalRaftRequestSchema, want));
      expect(equals(InternalRaftRequestSchema, got, want)).toBe(true);
    }
    for (const p of [putProposal(put({ key: enc.encode("k"), value: new Uint8Array(300) }))]) {
      for (const id of IDS) {
        const bytes = encodeProposal(p, id);
        expect(
          equals(
            InternalRaftRequestSchema,
            decodeProposal(bytes),
            fromBinary(InternalRaftRequestSchema, bytes),
          ),
        )
          .toBe(true);
      }
    }
  });

  test("a put with a field it does not know goes to the generated decoder, which keeps it", () => {
    const bytes = toBinary(InternalRaftRequestSchema, requests[0]);
    const extended = new Uint8Array([...bytes.subarray(0, bytes.length), 0x22, 0x02, 0x38, 0x01]);
    // 0x22 0x02 …: a second put field whose body holds unknown field 7; both decoders merge it.
    const want = fromBinary(InternalRaftRequestSchema, extended);
    expect(equals(InternalRaftRequestSchema, decodeProposal(extended), want)).toBe(true);
  });
});
