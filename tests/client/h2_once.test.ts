/**
 * The one-shot path (client/h2_once.ts, what the CLI's put/get/del and snapshot save use): the same
 * assertions against etcdts and the real etcd (their HTTP/2 stacks encode headers
 * differently: Go's uses Huffman strings and the dynamic table), then wire details from an
 * in-process node:http2 server that a real server cannot be made to show.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import http2 from "node:http2";
import * as net from "node:net";
import { encodeFrame } from "../../api/grpc-frame.ts";
import { createHash } from "node:crypto";
import { fromBinary } from "@bufbuild/protobuf";
import { serverStreamOnce, unaryOnce } from "../../client/h2_once.ts";
import {
  DATA,
  encodeFrame as h2Frame,
  FLAG_END_HEADERS,
  FLAG_END_STREAM,
  FrameReader,
  HEADERS,
  u32,
  WINDOW_UPDATE,
} from "../../h2/frame.ts";
import { encodeHeaders } from "../../h2/hpack.ts";
import { SnapshotResponseSchema } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { Client, Code, GrpcError } from "../../client/mod.ts";
import {
  decodePutResponse as decodePut,
  decodeRangeResponse as decodeRange,
  encodePutRequest as encodePut,
  encodeRangeRequest as encodeRange,
} from "../../wire/etcd.ts";
import type { RangeInit } from "../../cmd/kv.ts";
import { cleanup, defer, freePort, haveRealEtcd, type ServerProcess, startServer } from "../harness.ts";

const frame = (type: number, flags: number, streamId: number, payload: Uint8Array) =>
  h2Frame({ type, flags, streamId, payload });

const enc = new TextEncoder();
const dec = new TextDecoder();

function putReq(key: string, value: Uint8Array) {
  return encodePut({
    key: enc.encode(key),
    value,
    lease: 0n,
    prevKv: false,
    ignoreValue: false,
    ignoreLease: false,
  });
}

function rangeReq(key: string, init: Partial<RangeInit> = {}) {
  return encodeRange({
    key: enc.encode(key),
    rangeEnd: new Uint8Array(0),
    limit: 0n,
    revision: 0n,
    sortOrder: 0,
    sortTarget: 0,
    serializable: false,
    keysOnly: false,
    countOnly: false,
    ...init,
  });
}

// A server that answers the client's first bytes with an empty SETTINGS and then `frames`.
async function rawServer(frames: Uint8Array[]): Promise<string> {
  const srv = net.createServer((sock) => {
    sock.on("error", () => {});
    sock.once("data", () => sock.write(Buffer.concat([frame(4, 0, 0, new Uint8Array(0)), ...frames])));
  });
  const port = await freePort();
  await new Promise<void>((r) => srv.listen(port, "127.0.0.1", r));
  defer(() => void srv.close());
  return `http://127.0.0.1:${port}`;
}

const opts = (path: string) => ({ path, dialTimeoutMs: 2000, deadline: Date.now() + 10_000 });

afterAll(cleanup);

for (const kind of ["etcdts", "etcd"] as const) {
  describe.skipIf(kind === "etcd" && !haveRealEtcd())(`one-shot unary against ${kind}`, () => {
    let server: ServerProcess;
    beforeAll(async () => {
      server = await startServer(kind);
    });

    test("put then range", async () => {
      const put = decodePut(
        await unaryOnce(server.clientUrl, putReq("h2/a", enc.encode("1")), opts("/etcdserverpb.KV/Put")),
      );
      expect(put.header!.revision).toBeGreaterThan(1n);
      const got = decodeRange(
        await unaryOnce(server.clientUrl, rangeReq("h2/a"), opts("/etcdserverpb.KV/Range")),
      );
      expect(got.kvs.map((kv) => dec.decode(kv.value))).toEqual(["1"]);
      expect(got.header!.revision).toBe(put.header!.revision);
    });

    test("a 1.2 MB value both ways (flow control beyond the 64 KiB default windows)", async () => {
      const value = new Uint8Array(1_200_000).map((_, i) => i % 251);
      await unaryOnce(server.clientUrl, putReq("h2/big", value), opts("/etcdserverpb.KV/Put"));
      const got = decodeRange(
        await unaryOnce(server.clientUrl, rangeReq("h2/big"), opts("/etcdserverpb.KV/Range")),
      );
      expect(got.kvs[0].value).toEqual(value);
    });

    test("server errors carry the code and etcd's message", async () => {
      const err = await unaryOnce(
        server.clientUrl,
        rangeReq("h2/a", { revision: 1_000_000n }),
        opts("/etcdserverpb.KV/Range"),
      )
        .catch((e) => e);
      expect(err).toBeInstanceOf(GrpcError);
      expect(err.code).toBe(Code.OutOfRange);
      expect(err.message).toBe("etcdserver: mvcc: required revision is a future revision");
      expect(err.local).toBe(false);
    });

    test("many calls in a row decode every header block (fresh HPACK state each)", async () => {
      for (let i = 0; i < 20; i++) {
        const r = decodeRange(
          await unaryOnce(server.clientUrl, rangeReq("h2/a"), opts("/etcdserverpb.KV/Range")),
        );
        expect(r.count).toBe(1n);
      }
    });

    test("a snapshot streamed to a sink: every message in order, its sha256 last", async () => {
      const c = new Client({ endpoints: [server.endpoint], oneShot: true });
      const blobs: Uint8Array[] = [];
      const remaining: bigint[] = [];
      await c.serverStreamBytes("/etcdserverpb.Maintenance/Snapshot", new Uint8Array(0), (m) => {
        const r = fromBinary(SnapshotResponseSchema, m);
        blobs.push(r.blob);
        remaining.push(r.remainingBytes);
      }, { timeoutMs: 10_000 });
      c.close();
      const sha = blobs.pop()!;
      const total = blobs.reduce((n, b) => n + b.length, 0);
      expect(total).toBeGreaterThan(0);
      expect(remaining[0]).toBe(BigInt(total - blobs[0].length));
      expect(remaining.at(-1)).toBe(0n);
      const hash = createHash("sha256");
      for (const b of blobs) hash.update(Buffer.from(b));
      expect(Buffer.from(sha).toString("hex")).toBe(hash.digest("hex"));
    });

    test("Client with oneShot fails over past a refused endpoint, pinning the live one", async () => {
      const down = `127.0.0.1:${await freePort()}`;
      const c = new Client({ endpoints: [down, server.endpoint], oneShot: true });
      const r = decodeRange(
        await c.unaryBytes("/etcdserverpb.KV/Range", rangeReq("h2/a"), { timeoutMs: 5000 }),
      );
      expect(r.count).toBe(1n);
      c.close();
    });
  });
}

describe("one-shot unary wire details", () => {
  let endpoint: string;
  let silentPort: number;
  const seen: http2.IncomingHttpHeaders[] = [];
  beforeAll(async () => {
    const server = http2.createServer();
    server.on("sessionError", () => {});
    server.on("stream", (stream: http2.ServerHttp2Stream, headers) => {
      seen.push(headers);
      stream.on("error", () => {});
      const path = headers[":path"];
      if (path === "/t/trailers-only") {
        stream.respond(
          {
            ":status": 200,
            "content-type": "application/grpc",
            "grpc-status": "5",
            "grpc-message": "not%20here",
          },
          { endStream: true },
        );
      } else if (path === "/t/http-404") {
        stream.respond({ ":status": 404 }, { endStream: true });
      } else {
        // echo the request message back, with a ping from the server in between
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => {
          stream.session?.ping(() => {});
          stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
          stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
          stream.end(Buffer.concat(chunks));
        });
      }
    });
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    endpoint = `http://127.0.0.1:${port}`;
    // accepts connections and never answers
    const silent = net.createServer(() => {});
    silentPort = await freePort();
    await new Promise<void>((r) => silent.listen(silentPort, "127.0.0.1", r));
    defer(() => {
      server.close();
      silent.close();
    });
  });

  test("echo: request headers as gRPC wants them; metadata and grpc-timeout sent", async () => {
    const msg = enc.encode("hello");
    const reply = await unaryOnce(endpoint, msg, {
      path: "/t/echo",
      dialTimeoutMs: 1000,
      deadline: Date.now() + 5000,
      metadata: { token: "tok" },
    });
    expect(dec.decode(reply)).toBe("hello");
    const h = seen.at(-1)!;
    expect(h[":method"]).toBe("POST");
    expect(h["content-type"]).toBe("application/grpc");
    expect(h.te).toBe("trailers");
    expect(h.token).toBe("tok");
    expect(h["grpc-timeout"]).toMatch(/^\d+m$/);
    expect(encodeFrame(msg).length).toBe(10);
  });

  test("trailers-only status with a percent-encoded message", async () => {
    const err = await unaryOnce(endpoint, new Uint8Array(0), {
      path: "/t/trailers-only",
      dialTimeoutMs: 1000,
    })
      .catch((e) => e);
    expect(err.code).toBe(Code.NotFound);
    expect(err.message).toBe("not here");
  });

  test("an HTTP status without grpc-status maps as the gRPC spec says", async () => {
    const err = await unaryOnce(endpoint, new Uint8Array(0), { path: "/t/http-404", dialTimeoutMs: 1000 })
      .catch((e) => e);
    expect(err.code).toBe(Code.Unimplemented);
  });

  test("RST_STREAM is Unavailable; REFUSED_STREAM and GOAWAY before our stream are local", async () => {
    const rst = await unaryOnce(await rawServer([frame(3, 0, 1, u32(2))]), new Uint8Array(0), {
      path: "/x",
      dialTimeoutMs: 1000,
    }).catch((e) => e);
    expect([rst.code, rst.message, rst.local]).toEqual([
      Code.Unavailable,
      "stream closed with code 2",
      false,
    ]);
    const refused = await unaryOnce(await rawServer([frame(3, 0, 1, u32(7))]), new Uint8Array(0), {
      path: "/x",
      dialTimeoutMs: 1000,
    }).catch((e) => e);
    expect([refused.code, refused.local]).toEqual([Code.Unavailable, true]);
    const goaway = await unaryOnce(await rawServer([frame(7, 0, 0, new Uint8Array(8))]), new Uint8Array(0), {
      path: "/x",
      dialTimeoutMs: 1000,
    }).catch((e) => e);
    expect([goaway.code, goaway.local]).toEqual([Code.Unavailable, true]);
  });

  test("a refused connection is a local Unavailable naming the address", async () => {
    const port = await freePort();
    const err = await unaryOnce(`http://127.0.0.1:${port}`, new Uint8Array(0), {
      path: "/x",
      dialTimeoutMs: 1000,
    })
      .catch((e) => e);
    expect(err.code).toBe(Code.Unavailable);
    expect(err.local).toBe(true);
    expect(err.message).toBe(
      `connection error: desc = "transport: Error while dialing connect ECONNREFUSED 127.0.0.1:${port}"`,
    );
  });

  test("a server that never answers: the call ends at its deadline, not local", async () => {
    const t0 = Date.now();
    const err = await unaryOnce(`http://127.0.0.1:${silentPort}`, new Uint8Array(0), {
      path: "/x",
      dialTimeoutMs: 1000,
      deadline: Date.now() + 300,
    }).catch((e) => e);
    expect(err.code).toBe(Code.DeadlineExceeded);
    expect(err.local).toBe(false);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  test("a stream past a MiB tops up both windows as it reads; a sink that throws ends the call", async () => {
    // A raw server: headers, 3 MiB of 64 KiB messages in 16 KiB DATA frames, OK trailers;
    // it records the client's WINDOW_UPDATE increments per stream.
    const message = new Uint8Array(64 * 1024).map((_, i) => i % 253);
    const body = Buffer.concat(Array.from({ length: 48 }, () => encodeFrame(message)));
    const updates = new Map<number, number>();
    let clientGone = Promise.withResolvers<void>();
    const srv = net.createServer((sock) => {
      sock.on("error", () => {});
      sock.on("end", () => clientGone.resolve());
      const reader = new FrameReader();
      let answered = false;
      sock.on("data", (chunk: Buffer) => {
        reader.push(chunk, (f) => {
          if (f.type === WINDOW_UPDATE) {
            updates.set(
              f.streamId,
              (updates.get(f.streamId) ?? 0) +
                new DataView(f.payload.buffer, f.payload.byteOffset).getUint32(0),
            );
          }
        });
        if (answered) return;
        answered = true;
        const out = [frame(4, 0, 0, new Uint8Array(0))];
        out.push(
          frame(
            HEADERS,
            FLAG_END_HEADERS,
            1,
            encodeHeaders([[":status", "200"], ["content-type", "application/grpc"]]),
          ),
        );
        for (let at = 0; at < body.length; at += 16384) {
          out.push(frame(DATA, 0, 1, body.subarray(at, at + 16384)));
        }
        out.push(
          frame(HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1, encodeHeaders([["grpc-status", "0"]])),
        );
        sock.write(Buffer.concat(out));
      });
    });
    const port = await freePort();
    await new Promise<void>((r) => srv.listen(port, "127.0.0.1", r));
    defer(() => void srv.close());
    const url = `http://127.0.0.1:${port}`;

    const got: Uint8Array[] = [];
    await serverStreamOnce(
      url,
      new Uint8Array(0),
      { path: "/t/stream", dialTimeoutMs: 1000 },
      (m) => got.push(m),
    );
    expect(got.length).toBe(48);
    expect(got.every((m) => m.length === message.length && m[1000] === message[1000])).toBe(true);
    await clientGone.promise; // every update the client sent has arrived
    clientGone = Promise.withResolvers<void>();
    // The 2 GiB opening grant (connection) plus a top-up per MiB read, on both levels.
    expect(updates.get(1)).toBeGreaterThanOrEqual(2 * 1024 * 1024);
    expect(updates.get(0)! - (2 ** 31 - 1 - 65535)).toBeGreaterThanOrEqual(2 * 1024 * 1024);

    let calls = 0;
    const err = await serverStreamOnce(
      url,
      new Uint8Array(0),
      { path: "/t/stream", dialTimeoutMs: 1000 },
      () => {
        if (++calls === 3) throw new Error("disk full");
      },
    ).catch((e) => e);
    expect([err.message, calls]).toEqual(["disk full", 3]);
  });

  test("an aborted signal cancels the call", async () => {
    const ac = new AbortController();
    const p = unaryOnce(`http://127.0.0.1:${silentPort}`, new Uint8Array(0), {
      path: "/x",
      dialTimeoutMs: 1000,
      signal: ac.signal,
    }).catch((e) => e);
    ac.abort();
    expect((await p).code).toBe(Code.Canceled);
  });
});
