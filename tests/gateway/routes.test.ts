/**
 * Routing of every gateway path, in-process: each HTTP route must reach the gRPC method
 * etcd's annotations name, under each prefix, with the token passed as gRPC metadata; and
 * the NDJSON request splitter used for streaming bodies.
 */
import { describe, expect, test } from "bun:test";
import { create } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { Hono } from "hono";
import { Auth, Cluster, KV, Lease, Maintenance, Watch } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { Lock } from "../../proto/gen/v3lockpb/v3lock_pb.ts";
import { Election } from "../../proto/gen/v3electionpb/v3election_pb.ts";
import { type CallContext, GrpcServer, type StreamSink } from "../../server/grpc/server.ts";
import { gatewayRoutes } from "../../server/gateway/gateway.ts";
import { allRoutes, GATEWAY_PREFIXES } from "../../server/gateway/routes.ts";
import { JsonValueSplitter } from "../../server/gateway/json.ts";

const SERVICES: GenService<GenServiceMethods>[] = [
  KV,
  Watch,
  Lease,
  Cluster,
  Maintenance,
  Auth,
  Lock,
  Election,
];

/** A server whose every method records its path and token and answers an empty message. */
function recordingServer(): { app: Hono; calls: { path: string; token?: string }[] } {
  const calls: { path: string; token?: string }[] = [];
  const grpc = new GrpcServer({ maxRecvMessageBytes: 1 << 20 });
  for (const svc of SERVICES) {
    const impl: Record<string, unknown> = {};
    for (const m of svc.methods) {
      const path = `/${svc.typeName}/${m.name}`;
      const record = (ctx: CallContext) =>
        calls.push({ path, token: ctx.headers.token as string | undefined });
      impl[m.localName] = m.methodKind === "unary"
        ? (_req: unknown, ctx: CallContext) => {
          record(ctx);
          return create(m.output);
        }
        : async (_in: unknown, out: StreamSink<unknown>, ctx: CallContext) => {
          record(ctx);
          out.send(create(m.output));
        };
    }
    grpc.addService(svc, impl as Parameters<typeof grpc.addService>[1]);
  }
  const app = new Hono();
  gatewayRoutes(app, grpc);
  return { app, calls };
}

describe("gateway routing", () => {
  test("every route under every prefix reaches its gRPC method", async () => {
    const { app, calls } = recordingServer();
    // etcd 3.4 annotates 49 methods (Hash and HashKV share /hash); 3.5 gave HashKV its own /hashkv.
    expect(allRoutes().length).toBe(49);
    for (const prefix of GATEWAY_PREFIXES) {
      for (const [httpPath, grpcPath] of allRoutes()) {
        const path = prefix + httpPath.slice("/v3/".length);
        const r = await app.request(path, { method: "POST", body: "{}" });
        expect(`${path} ${r.status}`).toBe(`${path} 200`);
        await r.text();
        expect(`${path} → ${calls.at(-1)?.path}`).toBe(`${path} → ${grpcPath}`);
      }
    }
  });

  test("the Authorization header is the gRPC token", async () => {
    const { app, calls } = recordingServer();
    await (await app.request("/v3/kv/range", {
      method: "POST",
      body: "{}",
      headers: { Authorization: "tok.1" },
    }))
      .text();
    expect(calls.at(-1)).toEqual({ path: "/etcdserverpb.KV/Range", token: "tok.1" });
  });

  test("a method not built yet answers Unimplemented as JSON, HTTP 501", async () => {
    const grpc = new GrpcServer({ maxRecvMessageBytes: 1 << 20 });
    grpc.addService(Lease, {});
    const app = new Hono();
    gatewayRoutes(app, grpc);
    const r = await app.request("/v3/kv/lease/leases", { method: "POST", body: "{}" });
    expect(r.status).toBe(501);
    expect(await r.json()).toEqual({
      error: "etcdts: etcdserverpb.Lease.LeaseLeases is not implemented yet",
      message: "etcdts: etcdserverpb.Lease.LeaseLeases is not implemented yet",
      code: 12,
    });
  });
});

describe("streaming request bodies", () => {
  test("concatenated JSON values split as their text arrives", () => {
    const s = new JsonValueSplitter();
    expect(s.push('{"a":1}{"b":"}{\\"')).toEqual([{ a: 1 }]);
    expect(s.push('"}\n  {"c":[1,{"d":2}]')).toEqual([{ b: '}{"' }]);
    expect(s.push("}")).toEqual([{ c: [1, { d: 2 }] }]);
  });

  test("garbage between values is a syntax error; the values before it stay", () => {
    const s = new JsonValueSplitter();
    expect(s.push('{"a":1} x {"b":2}')).toEqual([{ a: 1 }]);
    expect(s.error).toBe("invalid character 'x' looking for beginning of value");
    expect(s.push("{}")).toEqual([]);
  });

  test("strings with and without escapes, many in one chunk, split alike", () => {
    const values = [{ a: "x" }, { b: 'q\\"' }, { c: "y", d: "\\" }, { e: "" }, { f: "z" }];
    const text = values.map((v) => JSON.stringify(v)).join("\n").repeat(3);
    expect(new JsonValueSplitter().push(text)).toEqual([...values, ...values, ...values]);
  });

  test("a chunk of many short strings splits in time linear in its size", () => {
    // Each string used to search the rest of its chunk for a backslash: 1 MiB took 0.65 s.
    const one = '{"ID":"12345"}\n';
    const took = (bytes: number) => {
      const text = one.repeat(Math.floor(bytes / one.length));
      let best = Infinity;
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        new JsonValueSplitter().push(text);
        best = Math.min(best, performance.now() - t);
      }
      return best;
    };
    const small = took(64 << 10);
    // 16 times the text: ~16 times the time if linear, ~250 if quadratic.
    expect(took(1 << 20) / Math.max(small, 0.5)).toBeLessThan(64);
  });

  test("an unfinished value is pending", () => {
    const s = new JsonValueSplitter();
    expect(s.push('{"a":')).toEqual([]);
    expect(s.incomplete).toBe(true);
    expect(s.error).toBeNull();
  });
});
