/**
 * The client against a real etcd (unary, streams, errors, failover) and against a tiny
 * in-process HTTP/2 server for the wire details a real server cannot be made to show.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import http2 from "node:http2";
import { Client, Code, GrpcError } from "../../client/mod.ts";
import { encodeFrame } from "../../api/grpc-frame.ts";
import { KV, Maintenance, Watch } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { type ServerUnderTest, startRealEtcd } from "../cli/real_etcd.ts";
import { freePort } from "../harness.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

let etcd: ServerUnderTest;
let downEndpoint: string;
beforeAll(async () => {
  etcd = await startRealEtcd();
  downEndpoint = `127.0.0.1:${await freePort()}`; // nothing listens there
});
afterAll(() => etcd?.stop());

describe("client against etcd", () => {
  test("unary put and range", async () => {
    const c = new Client({ endpoints: [etcd.endpoint], callTimeoutMs: 5000 });
    const kv = c.service(KV);
    const put = await kv.put({ key: enc.encode("k1"), value: enc.encode("v1") });
    expect(put.header!.revision).toBeGreaterThan(1n);
    const got = await kv.range({ key: enc.encode("k1") });
    expect(got.kvs.map((kv) => dec.decode(kv.value))).toEqual(["v1"]);
    expect(typeof got.header!.clusterId).toBe("bigint");
    c.close();
  });

  test("server errors reject with code and etcd's message", async () => {
    const c = new Client({ endpoints: [etcd.endpoint] });
    const err = await c.service(KV).range({ key: enc.encode("k"), revision: 1_000_000n }).catch((e) => e);
    expect(err).toBeInstanceOf(GrpcError);
    expect(err.code).toBe(Code.OutOfRange);
    expect(err.message).toBe("etcdserver: mvcc: required revision is a future revision");
    c.close();
  });

  test("fails over past an endpoint that refuses connections", async () => {
    const c = new Client({ endpoints: [downEndpoint, etcd.endpoint], callTimeoutMs: 5000 });
    const got = await c.service(KV).range({ key: enc.encode("k1") });
    expect(got.count).toBe(1n);
    c.close();
  });

  test("without a reachable endpoint, a call ends at its deadline", async () => {
    const c = new Client({ endpoints: [downEndpoint], callTimeoutMs: 300 });
    const err = await c.service(KV).range({ key: enc.encode("k1") }).catch((e) => e);
    expect(err.code).toBe(Code.DeadlineExceeded);
    c.close();
  });

  test("without a deadline, one round of refused connections is Unavailable", async () => {
    const c = new Client({ endpoints: [downEndpoint] });
    const err = await c.service(KV).range({ key: enc.encode("k1") }).catch((e) => e);
    expect(err.code).toBe(Code.Unavailable);
    c.close();
  });

  test("bidi stream: watch sees a put, then cancels cleanly", async () => {
    const c = new Client({ endpoints: [etcd.endpoint] });
    const w = c.service(Watch).watch();
    await w.send({ requestUnion: { case: "createRequest", value: { key: enc.encode("wk") } } });
    const created = await w.read();
    expect(created!.created).toBe(true);
    await c.service(KV).put({ key: enc.encode("wk"), value: enc.encode("x") });
    const ev = await w.read();
    expect(dec.decode(ev!.events[0].kv!.value)).toBe("x");
    w.cancel();
    expect(await w.read()).toBeUndefined();
    expect((await w.status)?.code).toBe(Code.Canceled);
    c.close();
  });

  test("server stream: snapshot arrives in chunks", async () => {
    const c = new Client({ endpoints: [etcd.endpoint] });
    let bytes = 0;
    for await (const chunk of c.service(Maintenance).snapshot({})) bytes += chunk.blob.length;
    expect(bytes).toBeGreaterThan(0);
    expect(await c.service(Maintenance).snapshot({}).status).toBeUndefined();
    c.close();
  });
});

describe("client wire details", () => {
  let server: http2.Http2Server;
  let endpoint: string;
  const seen: http2.IncomingHttpHeaders[] = [];
  beforeAll(async () => {
    server = http2.createServer();
    server.on("sessionError", () => {});
    server.on("stream", (stream: http2.ServerHttp2Stream, headers) => {
      seen.push(headers);
      stream.on("error", () => {});
      if (headers[":path"] === "/etcdserverpb.KV/Range") {
        // trailers-only error with a percent-encoded message
        stream.respond({
          ":status": 200,
          "content-type": "application/grpc",
          "grpc-status": "5",
          "grpc-message": "not%20here",
        }, {
          endStream: true,
        });
        return;
      }
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.resume();
      stream.on("end", () => stream.end(encodeFrame(new Uint8Array([]))));
    });
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    endpoint = `127.0.0.1:${port}`;
  });
  afterAll(() => server.close());

  test("trailers-only responses carry the status; grpc-message is percent-decoded", async () => {
    const c = new Client({ endpoints: [endpoint] });
    const err = await c.service(KV).range({}).catch((e) => e);
    expect([err.code, err.message]).toEqual([Code.NotFound, "not here"]);
    c.close();
  });

  test("sends the auth token, grpc-timeout and the gRPC headers", async () => {
    const c = new Client({ endpoints: [endpoint], token: "tok1", callTimeoutMs: 5000 });
    await c.service(KV).put({});
    c.setToken("tok2");
    await c.service(KV).put({}, { metadata: { extra: "1" } });
    const [a, b] = seen.filter((h) => h[":path"] === "/etcdserverpb.KV/Put");
    expect(a["content-type"]).toBe("application/grpc");
    expect(a.te).toBe("trailers");
    expect(a.token).toBe("tok1");
    expect(b.token).toBe("tok2");
    expect(b.extra).toBe("1");
    expect(a["grpc-timeout"]).toMatch(/^\d+m$/);
    c.close();
  });
});
