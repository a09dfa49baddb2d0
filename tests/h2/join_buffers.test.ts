/**
 * The reused join buffers: a buffer is handed out again only after its write is done, the
 * pool stays bounded, and joins too small or too big for it get buffers of their own; on a
 * connection, a joined write's bytes stay untouched while its socket still holds them.
 */
import { expect, test } from "bun:test";
import {
  JOIN_BUFFER_BYTES,
  JOIN_BUFFER_SIZES,
  JoinBuffers,
  joinBuffers,
  joinInto,
} from "../../server/h2/join_buffers.ts";
import { H2Connection } from "../../server/h2/connection.ts";
import type { H2Stream } from "../../server/h2/stream.ts";
import { waitFor } from "../harness.ts";
import { clientBytes, HoldingSocket } from "./holding_socket.ts";

test("joins pieces in order", () => {
  const { buf } = new JoinBuffers().take(100_000)!;
  const joined = joinInto(buf, [new Uint8Array([1, 2]), new Uint8Array(0), new Uint8Array(99_998).fill(3)]);
  expect(joined.length).toBe(100_000);
  expect([...joined.subarray(0, 3)]).toEqual([1, 2, 3]);
  expect(joined.buffer).toBe(buf.buffer);
});

test("a buffer released twice goes back once", () => {
  const pool = new JoinBuffers();
  const a = pool.take(8_000)!;
  a.release();
  a.release();
  expect(pool.take(8_000)!.buf).toBe(a.buf);
  expect(pool.take(8_000)!.buf).not.toBe(a.buf);
});

test("a buffer is handed out again only once released", () => {
  const pool = new JoinBuffers();
  const a = pool.take(200_000)!;
  const b = pool.take(200_000)!;
  expect(b.buf).not.toBe(a.buf);
  a.release();
  expect(pool.take(300_000)!.buf).toBe(a.buf);
});

test("joins below a page and oversized joins are not pooled", () => {
  const pool = new JoinBuffers();
  expect(pool.take(1000)).toBeNull();
  expect(pool.take(4095)).toBeNull();
  expect(pool.take(4096)).not.toBeNull();
  expect(pool.take(JOIN_BUFFER_BYTES + 1)).toBeNull();
});

test("a join takes a buffer of the smallest size it fits, and sizes are kept apart", () => {
  const pool = new JoinBuffers();
  const taken = JOIN_BUFFER_SIZES.map((s) => pool.take(s.bytes)!);
  expect(taken.map((t) => t.buf.length)).toEqual(JOIN_BUFFER_SIZES.map((s) => s.bytes));
  for (let i = 1; i < JOIN_BUFFER_SIZES.length; i++) {
    expect(pool.take(JOIN_BUFFER_SIZES[i - 1].bytes + 1)!.buf.length).toBe(JOIN_BUFFER_SIZES[i].bytes);
  }
  for (const t of taken) t.release();
  expect(pool.take(200_000)!.buf).toBe(taken[2].buf);
  expect(pool.take(5_000)!.buf).toBe(taken[0].buf);
});

test("each size makes a bounded number of buffers; beyond them a join gets its own", () => {
  const pool = new JoinBuffers();
  for (const size of JOIN_BUFFER_SIZES) {
    const taken = Array.from({ length: size.count }, () => pool.take(size.bytes)!);
    expect(new Set(taken.map((t) => t.buf)).size).toBe(size.count);
    expect(pool.take(size.bytes)).toBeNull();
    for (const t of taken) t.release();
    const again = Array.from({ length: size.count }, () => pool.take(size.bytes)!.buf);
    expect(again.filter((b) => taken.some((t) => t.buf === b)).length).toBe(size.count);
    expect(pool.take(size.bytes)).toBeNull();
  }
  // 100 connections' watch rounds in one turn (~8 KB each) are all pooled.
  const one = new JoinBuffers();
  expect(Array.from({ length: 100 }, () => one.take(8_000)).every((t) => t !== null)).toBe(true);
});

test("a discarded buffer is never handed out again, and frees its place", () => {
  const pool = new JoinBuffers();
  const count = JOIN_BUFFER_SIZES[2].count;
  const taken = Array.from({ length: count }, () => pool.take(JOIN_BUFFER_BYTES)!);
  expect(pool.take(JOIN_BUFFER_BYTES)).toBeNull();
  taken[0].discard();
  taken[0].release(); // a callback after the discard changes nothing
  const fresh = pool.take(JOIN_BUFFER_BYTES)!;
  expect(taken.some((t) => t.buf === fresh.buf)).toBe(false);
  expect(pool.take(JOIN_BUFFER_BYTES)).toBeNull();
});

test("a write that throws does not lose a pooled buffer's place", async () => {
  let throws = 0;
  class ThrowingSocket extends HoldingSocket {
    override write(data: Uint8Array, done?: () => void): boolean {
      if (data.length >= 4096) {
        throws++;
        throw new Error("write refused");
      }
      return super.write(data, done);
    }
  }
  const onStream = (s: H2Stream) => {
    s.respond({ ":status": 200 });
    s.end(new Uint8Array(300_000).fill(1));
  };
  for (let i = 0; i < 3 * JOIN_BUFFER_SIZES[2].count; i++) {
    const socket = new ThrowingSocket(false);
    new H2Connection(socket, { maxConcurrentStreams: 10, onStream });
    socket.emit("data", clientBytes("/a"));
  }
  await new Promise((resolve) => setImmediate(resolve)); // the connections' writes
  expect(throws).toBe(3 * JOIN_BUFFER_SIZES[2].count);
  // Each connection's large write threw: the shared pool still has every buffer of that size.
  const again = Array.from({ length: JOIN_BUFFER_SIZES[2].count }, () => joinBuffers.take(JOIN_BUFFER_BYTES));
  for (const t of again) t?.release();
  expect(again.every((t) => t !== null)).toBe(true);
});

test("a joined write's bytes stay as written until the socket is done with them", async () => {
  // 300 KB in 16 KiB DATA frames: many pieces, joined in a pooled buffer.
  const onStream = (s: H2Stream) => {
    s.respond({ ":status": 200 });
    s.end(new Uint8Array(300_000).fill(s.headers[":path"] === "/a" ? 0xa : 0xb));
  };
  const stuck = new HoldingSocket(true);
  new H2Connection(stuck, { maxConcurrentStreams: 10, onStream });
  stuck.emit("data", clientBytes("/a"));
  await waitFor("the stuck connection's answer", () => stuck.written.some((h) => h.data.length > 300_000));
  // Other connections keep answering while the stuck one's write waits.
  for (let i = 0; i < 4; i++) {
    const moving = new HoldingSocket(false);
    new H2Connection(moving, { maxConcurrentStreams: 10, onStream });
    moving.emit("data", clientBytes("/b"));
    await waitFor("an answer", () => moving.written.some((h) => h.data.length > 300_000));
  }
  for (const h of stuck.written) expect(Buffer.compare(h.data, h.copy)).toBe(0);
  stuck.send();
});
