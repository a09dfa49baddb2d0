/** The proxy's range cache: what a write invalidates, and least-recently-used eviction. */
import { expect, test } from "bun:test";
import { create } from "@bufbuild/protobuf";
import { RangeRequestSchema, RangeResponseSchema } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { RangeCache } from "../../server/proxy/cache.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const req = (key: string, end = "") => create(RangeRequestSchema, { key: enc(key), rangeEnd: enc(end) });
const resp = (count: number) => create(RangeResponseSchema, { count: BigInt(count) });

test("a write drops the cached ranges that hold its key, and only those", () => {
  const c = new RangeCache();
  c.add(req("a"), resp(1));
  c.add(req("b", "d"), resp(2));
  c.add(req("x", "\0"), resp(3));
  c.invalidate(enc("c"), new Uint8Array());
  expect(c.get(req("b", "d"))).toBeUndefined();
  expect(c.get(req("a"))?.count).toBe(1n);
  c.invalidate(enc("z1"), new Uint8Array());
  expect(c.get(req("x", "\0"))).toBeUndefined();
  c.invalidate(enc("0"), enc("\0")); // everything from "0" on
  expect(c.get(req("a"))).toBeUndefined();
  expect(c.size).toBe(0);
  expect({ hits: c.hits, misses: c.misses }).toEqual({ hits: 1, misses: 3 });
});

test("a linearizable answer fills the serializable entry; revisions are not cached", () => {
  const c = new RangeCache();
  c.add(req("k"), resp(7));
  expect(c.get(create(RangeRequestSchema, { key: enc("k"), serializable: true }))?.count).toBe(7n);
  c.add(create(RangeRequestSchema, { key: enc("k"), revision: 5n }), resp(1));
  expect(c.get(create(RangeRequestSchema, { key: enc("k"), revision: 5n }))).toBeUndefined();
});

test("beyond its size the least recently used entry goes", () => {
  const c = new RangeCache(2);
  c.add(req("a"), resp(1));
  c.add(req("b"), resp(2));
  c.get(req("a"));
  c.add(req("c"), resp(3));
  expect(c.get(req("b"))).toBeUndefined();
  expect(c.get(req("a"))?.count).toBe(1n);
});
