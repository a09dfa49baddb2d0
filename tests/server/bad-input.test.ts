/**
 * Bad input on the client port gets a clear answer in etcd's words and the server keeps
 * serving: garbage bytes, an unknown service or method, a service not built yet, an
 * oversized message.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as net from "node:net";
import { KV } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { Client, GrpcError } from "../../client/mod.ts";
import { cleanup, type ServerProcess, startServer } from "../harness.ts";

let server: ServerProcess;
let client: Client;
beforeAll(async () => {
  server = await startServer("etcdts");
  client = new Client({ endpoints: [server.endpoint], callTimeoutMs: 5000 });
});
afterAll(async () => {
  client?.close();
  await cleanup();
});

const enc = (s: string) => new TextEncoder().encode(s);

async function rawCall(path: string, body: Uint8Array): Promise<GrpcError | null> {
  try {
    await client.unaryBytes(path, body, {});
    return null;
  } catch (e) {
    return e as GrpcError;
  }
}

test("garbage bytes get an HTTP 400 and the connection is closed; the server keeps serving", async () => {
  const reply = await new Promise<string>((resolve) => {
    const s = net.connect(Number(server.endpoint.split(":")[1]), "127.0.0.1");
    let got = "";
    s.on("data", (d) => (got += d.toString()));
    s.on("close", () => resolve(got));
    s.on("error", () => resolve(got));
    s.write("\x00\x01garbage\xff\r\n\r\n");
  });
  expect(reply).toStartWith("HTTP/1.1 400");
  const r = await client.service(KV).put({ key: enc("after-garbage"), value: enc("ok") });
  expect(r.header!.revision).toBeGreaterThan(1n);
});

test("unknown services and methods answer Unimplemented like grpc-go", async () => {
  const e1 = await rawCall("/etcdserverpb.Nope/Range", new Uint8Array());
  expect(e1?.code).toBe(12);
  expect(e1?.message).toBe("unknown service etcdserverpb.Nope");
  const e2 = await rawCall("/etcdserverpb.KV/Nope", new Uint8Array());
  expect(e2?.code).toBe(12);
  expect(e2?.message).toBe("unknown method Nope for service etcdserverpb.KV");
});

test("a request that is not a valid message is refused, and the server keeps serving", async () => {
  const e = await rawCall("/etcdserverpb.KV/Put", new Uint8Array([0xff, 0xff, 0xff]));
  expect(e?.code).toBe(13);
  const r = await client.service(KV).range({ key: enc("after-garbage") });
  expect(r.count).toBe(1n);
});

test("a message over the gRPC limit gets grpc-go's ResourceExhausted text", async () => {
  const e = await rawCall("/etcdserverpb.KV/Put", new Uint8Array(3 * 1024 * 1024));
  expect(e?.code).toBe(8);
  expect(e?.message).toMatch(/^grpc: received message larger than max \(\d+ vs\. \d+\)$/);
});
