/**
 * The HTTP/2 connection layer (server/h2/) on a loopback socket, against node:http2's
 * client and a raw client that sends exactly the frames a test wants: concurrency, flow
 * control both ways, CONTINUATION, resets, and protocol errors that must cost only the
 * offending connection.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as http2 from "node:http2";
import * as net from "node:net";
import { H2Connection } from "../../server/h2/connection.ts";
import {
  CONTINUATION,
  DATA,
  ErrorCode,
  FLAG_ACK,
  FLAG_END_HEADERS,
  FLAG_END_STREAM,
  GOAWAY,
  HEADERS,
  PING,
  RST_STREAM,
  Setting,
  u32,
} from "../../h2/frame.ts";
import type { H2Stream } from "../../server/h2/stream.ts";
import { waitFor } from "../harness.ts";
import { RawClient, u32At } from "./raw_client.ts";

/** `n` pieces of `size` bytes, each filled with its number (mod 251). */
function numberedPieces(n: number, size: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => new Uint8Array(size).fill(i % 251));
}

/** Handlers by path: echo the body, send N bytes, or stream until reset. */
const closedStreams = new Set<string>();
function handle(s: H2Stream): void {
  const path = s.headers[":path"];
  if (path === "/echo" || path === "/late-echo") {
    if (path === "/late-echo") {
      // Listeners attached after an await, as an async adapter would: nothing may be lost.
      setTimeout(() => handle(Object.assign(s, { headers: { ...s.headers, ":path": "/echo" } })), 30);
      return;
    }
    const parts: Uint8Array[] = [];
    s.on("data", (c: Uint8Array) => parts.push(Uint8Array.from(c)));
    s.on("end", () => {
      const body = Buffer.concat(parts);
      s.respond({ ":status": 200, "content-type": "application/octet-stream" });
      s.end(body, { "x-len": String(body.length) });
    });
  } else if (path.startsWith("/big/")) {
    const n = Number(path.slice(5));
    const body = new Uint8Array(n);
    for (let i = 0; i < n; i++) body[i] = i % 251;
    s.respond({ ":status": 200 });
    s.end(body, { "x-done": "yes" });
  } else if (path.startsWith("/pieces/")) {
    // /pieces/N/SIZE: a body written as N pieces of SIZE bytes each, numbered.
    const [n, size] = path.slice(8).split("/").map(Number);
    s.respond({ ":status": 200 });
    s.end(numberedPieces(n, size), { "x-done": "yes" });
  } else if (path.startsWith("/stream/")) {
    const id = path.slice(8);
    s.respond({ ":status": 200 });
    s.on("close", () => closedStreams.add(id));
    const tick = () => {
      if (s.closed) return;
      if (s.write(new Uint8Array(1024).fill(1))) setTimeout(tick, 5);
      else s.once("drain", tick);
    };
    tick();
  } else {
    s.respond({ ":status": 404 }, { endStream: true });
  }
}

function serve(maxConcurrentStreams: number): Promise<{ port: number; server: net.Server }> {
  const server = net.createServer((socket) => {
    socket.on("error", () => {});
    new H2Connection(socket, { maxConcurrentStreams, onStream: handle });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ port: (server.address() as net.AddressInfo).port, server }))
  );
}

let port = 0;
let small = 0;
const servers: net.Server[] = [];
beforeAll(async () => {
  const a = await serve(1000);
  const b = await serve(2);
  servers.push(a.server, b.server);
  port = a.port;
  small = b.port;
});
afterAll(() => {
  for (const s of servers) s.close();
});

/** One request with node:http2's client: status, body, trailers. */
function fetchH2(
  session: http2.ClientHttp2Session,
  path: string,
  body?: Uint8Array,
): Promise<{ status: number; body: Buffer; trailers: http2.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":method": body ? "POST" : "GET", ":path": path }, { endStream: !body });
    let status = 0;
    let trailers: http2.IncomingHttpHeaders = {};
    const parts: Buffer[] = [];
    req.on("response", (h) => status = Number(h[":status"]));
    req.on("trailers", (t) => trailers = t);
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => resolve({ status, body: Buffer.concat(parts), trailers }));
    req.on("error", reject);
    if (body) req.end(body);
  });
}

describe("with node:http2's client", () => {
  test("many concurrent streams on one connection each get their own answer", async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const bodies = Array.from(
        { length: 300 },
        (_, i) => new TextEncoder().encode(`request ${i} `.repeat(i % 7)),
      );
      const got = await Promise.all(bodies.map((b) => fetchH2(session, "/echo", b)));
      got.forEach((r, i) => {
        expect(r.status).toBe(200);
        expect(r.body.equals(Buffer.from(bodies[i]))).toBe(true);
        expect(r.trailers["x-len"]).toBe(String(bodies[i].length));
      });
    } finally {
      session.close();
    }
  });

  test("a handler that listens late still gets the whole body and its end", async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const body = new Uint8Array(3_000_000).fill(3);
      const [big, empty] = await Promise.all([
        fetchH2(session, "/late-echo", body),
        fetchH2(session, "/late-echo"),
      ]);
      expect(big.trailers["x-len"]).toBe(String(body.length));
      expect(big.body.equals(Buffer.from(body))).toBe(true);
      expect(empty.trailers["x-len"]).toBe("0");
    } finally {
      session.close();
    }
  });

  test("a large response completes to a client with a tiny window", async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 1000 } });
    try {
      const n = 3_000_000;
      const r = await fetchH2(session, `/big/${n}`);
      expect(r.body.length).toBe(n);
      let ok = true;
      for (let i = 0; i < n; i += 4999) ok &&= r.body[i] === i % 251;
      expect(ok).toBe(true);
      expect(r.trailers["x-done"]).toBe("yes");
    } finally {
      session.close();
    }
  });

  test("a request larger than the stream and connection windows is read whole", async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const body = new Uint8Array(20_000_000).fill(7);
      const r = await fetchH2(session, "/echo", body);
      expect(r.body.length).toBe(body.length);
      expect(r.trailers["x-len"]).toBe(String(body.length));
    } finally {
      session.close();
    }
  });
});

describe("with a raw client", () => {
  const GET = (path: string): [string, string][] => [
    [":method", "GET"],
    [":scheme", "http"],
    [":path", path],
    [":authority", "http://127.0.0.1:2379"], // a full URL, as etcdctl 3.4 sends: accepted
  ];

  test("settings are acknowledged and pings answered", async () => {
    const c = await RawClient.connect(port);
    try {
      await c.waitFrame("SETTINGS ACK", (f) => f.type === 0x4 && f.flags === FLAG_ACK);
      c.send({ type: PING, flags: 0, streamId: 0, payload: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]) });
      const pong = await c.waitFrame("PING ACK", (f) => f.type === PING && f.flags === FLAG_ACK);
      expect([...pong.payload]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    } finally {
      c.close();
    }
  });

  test("a header block split over CONTINUATION frames is one request", async () => {
    const c = await RawClient.connect(port);
    try {
      const block = RawClient.block([...GET("/big/10"), ["x-filler", "f".repeat(3000)]]);
      const cuts = [0, 100, 2000, block.length];
      for (let i = 0; i < 3; i++) {
        c.send({
          type: i === 0 ? HEADERS : CONTINUATION,
          flags: (i === 0 ? FLAG_END_STREAM : 0) | (i === 2 ? FLAG_END_HEADERS : 0),
          streamId: 1,
          payload: block.subarray(cuts[i], cuts[i + 1]),
        });
      }
      const h = await c.waitFrame("response headers", (f) => f.type === HEADERS && f.streamId === 1);
      expect(c.decodeHeaders(h)).toContainEqual([":status", "200"]);
      await c.waitFrame(
        "trailers",
        (f) => f.type === HEADERS && f.streamId === 1 && (f.flags & FLAG_END_STREAM) !== 0,
      );
      const data = c.frames.filter((f) => f.type === DATA && f.streamId === 1);
      expect(data.reduce((n, f) => n + f.payload.length, 0)).toBe(10);
    } finally {
      c.close();
    }
  });

  test("a frame between HEADERS and its CONTINUATION ends the connection with GOAWAY", async () => {
    const c = await RawClient.connect(port);
    try {
      const block = RawClient.block(GET("/big/1"));
      c.send({ type: HEADERS, flags: FLAG_END_STREAM, streamId: 1, payload: block.subarray(0, 5) });
      c.send({ type: PING, flags: 0, streamId: 0, payload: new Uint8Array(8) });
      const g = await c.waitFrame("GOAWAY", (f) => f.type === GOAWAY);
      expect(u32At(g.payload, 4)).toBe(ErrorCode.PROTOCOL_ERROR);
      await waitFor("connection closed", () => c.closed);
    } finally {
      c.close();
    }
  });

  test("garbage after the preface gets GOAWAY, and the server keeps serving", async () => {
    const c = await RawClient.connect(port);
    try {
      c.write(new TextEncoder().encode("this is not HTTP/2 at all, just some garbage"));
      const g = await c.waitFrame("GOAWAY", (f) => f.type === GOAWAY);
      expect(u32At(g.payload, 4)).not.toBe(ErrorCode.NO_ERROR);
      await waitFor("connection closed", () => c.closed);
    } finally {
      c.close();
    }
    const again = await RawClient.connect(port);
    try {
      again.request(1, GET("/big/5"), true);
      await again.waitFrame("answer", (f) => f.streamId === 1 && (f.flags & FLAG_END_STREAM) !== 0);
    } finally {
      again.close();
    }
  });

  test("a client's RST_STREAM mid-response closes that stream only", async () => {
    const c = await RawClient.connect(port);
    try {
      c.request(1, GET("/stream/rst-a"), true);
      await c.waitFrame("some data", (f) => f.type === DATA && f.streamId === 1);
      c.send({ type: RST_STREAM, flags: 0, streamId: 1, payload: u32(ErrorCode.CANCEL) });
      await waitFor("server saw the reset", () => closedStreams.has("rst-a"));
      c.request(3, GET("/big/7"), true);
      await c.waitFrame("next stream answered", (f) => f.streamId === 3 && (f.flags & FLAG_END_STREAM) !== 0);
      expect(c.frames.some((f) => f.type === GOAWAY)).toBe(false);
    } finally {
      c.close();
    }
  });

  test("a body written in many small pieces goes out in as few DATA frames as the frame size allows", async () => {
    const c = await RawClient.connect(port);
    try {
      c.request(1, GET("/pieces/300/5"), true);
      c.request(3, GET("/pieces/200/100"), true);
      for (const id of [1, 3]) {
        await c.waitFrame(
          `stream ${id}'s trailers`,
          (f) => f.type === HEADERS && f.streamId === id && (f.flags & FLAG_END_STREAM) !== 0,
        );
      }
      const data = (id: number) => c.frames.filter((f) => f.type === DATA && f.streamId === id);
      const body = (n: number, size: number) => Buffer.concat(numberedPieces(n, size));
      // 1,500 bytes: one frame. 20,000 bytes: a full frame (16,384, the default size) and the rest.
      expect(data(1).map((f) => f.payload.length)).toEqual([1500]);
      expect(data(3).map((f) => f.payload.length)).toEqual([16384, 3616]);
      expect(Buffer.concat(data(1).map((f) => f.payload))).toEqual(body(300, 5));
      expect(Buffer.concat(data(3).map((f) => f.payload))).toEqual(body(200, 100));
    } finally {
      c.close();
    }
  });

  test("streams over SETTINGS_MAX_CONCURRENT_STREAMS are refused", async () => {
    const c = await RawClient.connect(small);
    try {
      const s = await c.waitFrame("server SETTINGS", (f) => f.type === 0x4 && f.flags === 0);
      const settings = new Map<number, number>();
      for (let off = 0; off < s.payload.length; off += 6) {
        settings.set((s.payload[off] << 8) | s.payload[off + 1], u32At(s.payload, off + 2));
      }
      expect(settings.get(Setting.MAX_CONCURRENT_STREAMS)).toBe(2);
      c.request(1, GET("/stream/mc-1"), true);
      c.request(3, GET("/stream/mc-2"), true);
      c.request(5, GET("/stream/mc-3"), true);
      const rst = await c.waitFrame("RST_STREAM on 5", (f) => f.type === RST_STREAM && f.streamId === 5);
      expect(u32At(rst.payload, 0)).toBe(ErrorCode.REFUSED_STREAM);
      expect(c.frames.some((f) => f.type === RST_STREAM && f.streamId !== 5)).toBe(false);
    } finally {
      c.close();
    }
    await waitFor(
      "streams closed with the connection",
      () => closedStreams.has("mc-1") && closedStreams.has("mc-2"),
    );
  });

  test("window updates and resets for streams not opened yet, and late HEADERS, cost no other call", async () => {
    const c = await RawClient.connect(port);
    try {
      c.send({ type: 0x8, flags: 0, streamId: 11, payload: u32(1000) }); // WINDOW_UPDATE
      c.send({ type: RST_STREAM, flags: 0, streamId: 13, payload: u32(ErrorCode.CANCEL) });
      c.request(7, GET("/big/3"), true);
      c.request(5, GET("/big/3"), true); // below the last stream id: refused alone
      const rst = await c.waitFrame("RST_STREAM on 5", (f) => f.type === RST_STREAM && f.streamId === 5);
      expect(u32At(rst.payload, 0)).toBe(ErrorCode.STREAM_CLOSED);
      await c.waitFrame("stream 7 answered", (f) => f.streamId === 7 && (f.flags & FLAG_END_STREAM) !== 0);
      c.request(9, GET("/big/3"), true);
      await c.waitFrame("stream 9 answered", (f) => f.streamId === 9 && (f.flags & FLAG_END_STREAM) !== 0);
      expect(c.frames.some((f) => f.type === GOAWAY)).toBe(false);
    } finally {
      c.close();
    }
  });

  test("DATA on a stream never opened ends the connection with PROTOCOL_ERROR", async () => {
    const c = await RawClient.connect(port);
    try {
      c.send({ type: DATA, flags: 0, streamId: 9, payload: new Uint8Array(3) });
      const g = await c.waitFrame("GOAWAY", (f) => f.type === GOAWAY);
      expect(u32At(g.payload, 4)).toBe(ErrorCode.PROTOCOL_ERROR);
    } finally {
      c.close();
    }
  });
});
