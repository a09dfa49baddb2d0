/**
 * The key tree's level listing against an in-memory keyspace with etcd's range semantics
 * (limit, `more`, `count` of the whole range): the entries, the folder counts, paging, and
 * that a level costs ranges per folder, not per key.
 */
import { describe, expect, test } from "bun:test";
import { prefixEnd, TO_END, utf8 } from "../../server/ui/app/bytes.ts";
import { type KeysPage, listLevel, type RangeKeys, searchLevel } from "../../server/ui/app/tree.ts";

/** etcd's keys-only range over a sorted array of keys; `read` counts the keys it touched. */
function fakeStore(keys: string[]): { range: RangeKeys; touched: () => number } {
  const sorted = [...keys].sort();
  let touched = 0;
  const lowerBound = (k: string) => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid] < k) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const range: RangeKeys = (from, to, limit): Promise<KeysPage> => {
    const a = lowerBound(from);
    const b = to === TO_END ? sorted.length : lowerBound(to);
    const n = Math.max(0, b - a);
    touched += Math.min(n, limit + 1);
    return Promise.resolve({
      keys: sorted.slice(a, a + Math.min(n, limit)),
      more: n > limit,
      count: n,
      revision: 7,
    });
  };
  return { range, touched: () => touched };
}

const names = (l: { children: { name: string; kind: string; count: number }[] }) =>
  l.children.map((c) => `${c.kind === "dir" ? "d" : "k"}:${c.name}:${c.count}`);

describe("listLevel", () => {
  const keys = [
    "a",
    "a/1",
    "a/2",
    "a/b/1",
    "b",
    ...Array.from({ length: 1000 }, (_, i) => `big/${String(i).padStart(4, "0")}`),
    "c/x",
    "d",
    "e/f/g",
  ];

  test("lists keys and folders with their counts", async () => {
    const { range } = fakeStore(keys);
    for (const batch of [1, 2, 3, 200]) {
      const top = await listLevel(range, { base: "", sep: "/", max: 100, batch });
      expect(names(top)).toEqual(["k:a:1", "d:a/:3", "k:b:1", "d:big/:1000", "d:c/:1", "k:d:1", "d:e/:1"]);
      expect(top.next).toBeNull();
      expect(top.revision).toBe(7);
      const a = await listLevel(range, { base: "a/", sep: "/", max: 100, batch });
      expect(names(a)).toEqual(["k:1:1", "k:2:1", "d:b/:1"]);
    }
  });

  test("jumps over a large folder instead of reading it", async () => {
    const { range, touched } = fakeStore(keys);
    const top = await listLevel(range, { base: "", sep: "/", max: 100, batch: 20 });
    expect(names(top)).toContain("d:big/:1000");
    expect(touched()).toBeLessThan(100);
    expect(top.ranges).toBeLessThan(10);
  });

  test("pages a level with max and continues from next", async () => {
    const { range } = fakeStore(keys);
    const seen: string[] = [];
    let from: string | undefined;
    for (let i = 0; i < 10; i++) {
      const l = await listLevel(range, { base: "", sep: "/", max: 2, batch: 3, from });
      seen.push(...names(l));
      if (l.next === null) break;
      from = l.next;
    }
    expect(seen).toEqual(["k:a:1", "d:a/:3", "k:b:1", "d:big/:1000", "d:c/:1", "k:d:1", "d:e/:1"]);
  });

  test("pages a flat folder", async () => {
    const { range } = fakeStore(keys);
    const l = await listLevel(range, { base: "big/", sep: "/", max: 10, batch: 4 });
    expect(l.children.map((c) => c.name)).toEqual(
      Array.from({ length: 10 }, (_, i) => String(i).padStart(4, "0")),
    );
    expect(l.next).toBe("big/0010");
    const rest = await listLevel(range, { base: "big/", sep: "/", max: 1000, from: l.next! });
    expect(rest.children.length).toBe(990);
    expect(rest.next).toBeNull();
  });

  test("an empty separator lists every key flat", async () => {
    const { range } = fakeStore(["x/1", "x/2", "y"]);
    expect(names(await listLevel(range, { base: "", sep: "", max: 10 }))).toEqual([
      "k:x/1:1",
      "k:x/2:1",
      "k:y:1",
    ]);
  });

  test("multi-byte separators and keys with empty segments", async () => {
    const { range } = fakeStore(["/registry/pods/a", "/registry/pods/b", "//x", "a::b::c", "a::d"]);
    expect(names(await listLevel(range, { base: "", sep: "/", max: 10 }))).toEqual([
      "d:/:3",
      "k:a::b::c:1",
      "k:a::d:1",
    ]);
    expect(names(await listLevel(range, { base: "/", sep: "/", max: 10 }))).toEqual([
      "d:/:1",
      "d:registry/:2",
    ]);
    expect(names(await listLevel(range, { base: "", sep: "::", max: 10, from: "a", to: prefixEnd("a") })))
      .toEqual(["d:a:::2"]);
  });

  test("search lists the prefix within its folder", async () => {
    const { range } = fakeStore(keys);
    const s = searchLevel("big/09", "/");
    expect(s.base).toBe("big/");
    const l = await listLevel(range, { ...s, sep: "/", max: 1000 });
    expect(l.children.length).toBe(100);
    expect(l.children[0].path).toBe("big/0900");
    const top = searchLevel("a", "/");
    expect(names(await listLevel(range, { ...top, sep: "/", max: 100 }))).toEqual(["k:a:1", "d:a/:3"]);
  });

  test("bytes above 0x7f order as etcd orders them", async () => {
    const k = [utf8("é/1"), utf8("z/1"), "\xff\xff/1"];
    const { range } = fakeStore(k);
    expect(names(await listLevel(range, { base: "", sep: "/", max: 10 }))).toEqual([
      "d:z/:1",
      `d:${utf8("é")}/:1`,
      "d:\xff\xff/:1",
    ]);
  });
});

test("onEntry hears each entry as it is complete, in order", async () => {
  const { range } = fakeStore(["a/1", "a/2", "b", "c/1"]);
  const heard: string[] = [];
  const l = await listLevel(range, {
    base: "",
    sep: "/",
    max: 10,
    batch: 1,
    onEntry: (c) => heard.push(`${c.name}:${c.count}`),
  });
  expect(heard).toEqual(["a/:2", "b:1", "c/:1"]);
  expect(l.children.map((c) => `${c.name}:${c.count}`)).toEqual(heard);
});

test("many small folders cost a few ranges, not one each", async () => {
  const keys = Array.from(
    { length: 100 * 125 },
    (_, i) => `pods/ns${String(i % 100).padStart(2, "0")}/obj-${i}`,
  );
  const { range } = fakeStore(keys);
  const l = await listLevel(range, { base: "pods/", sep: "/", max: 200 });
  expect(l.children).toHaveLength(100);
  expect(l.children.every((c) => c.count === 125)).toBe(true);
  expect(l.ranges).toBeLessThan(20);
});
