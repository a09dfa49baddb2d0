/**
 * The reused join buffers: a buffer is handed out again only after its write is done, the
 * pool stays bounded, and joins too small or too big for it get buffers of their own.
 */
import { expect, test } from "bun:test";
import { JOIN_BUFFER_BYTES, JoinBuffers, joinInto } from "../../server/h2/join_buffers.ts";

test("joins pieces in order", () => {
  const { buf } = new JoinBuffers().take(100_000)!;
  const joined = joinInto(buf, [new Uint8Array([1, 2]), new Uint8Array(0), new Uint8Array(99_998).fill(3)]);
  expect(joined.length).toBe(100_000);
  expect([...joined.subarray(0, 3)]).toEqual([1, 2, 3]);
  expect(joined.buffer).toBe(buf.buffer);
});

test("a buffer is handed out again only once released", () => {
  const pool = new JoinBuffers();
  const a = pool.take(200_000)!;
  const b = pool.take(200_000)!;
  expect(b.buf).not.toBe(a.buf);
  a.release();
  expect(pool.take(300_000)!.buf).toBe(a.buf);
});

test("small and oversized joins are not pooled", () => {
  const pool = new JoinBuffers();
  expect(pool.take(1000)).toBeNull();
  expect(pool.take(JOIN_BUFFER_BYTES + 1)).toBeNull();
});

test("the pool keeps a bounded number of free buffers", () => {
  const pool = new JoinBuffers();
  const taken = Array.from({ length: 20 }, () => pool.take(100_000)!);
  for (const t of taken) t.release();
  const again = Array.from({ length: 20 }, () => pool.take(100_000)!.buf);
  expect(again.filter((b) => taken.some((t) => t.buf === b)).length).toBe(8);
});
