/**
 * Streaming calls whose client sends requests and reads no responses, on the real binary:
 * the server must stop reading that stream (no more window for it) instead of queueing
 * every request and its answer, and give the memory back once the stream is gone.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { encodeFrame } from "../../api/grpc-frame.ts";
import { LeaseKeepAliveRequestSchema, WatchRequestSchema } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { cleanup, type ServerProcess, startServer } from "../harness.ts";
import { RawClient } from "./raw_client.ts";
import { ABUSE_TARGET, expectWithinTargets, underAbuse } from "../abuse/measure.ts";

/** Request bytes offered: without backpressure the server took them all (and GiBs of RSS). */
const OFFERED_BYTES = 48 << 20;
/** No new window for this long: the server stopped reading the stream. */
const STALL_MS = 1500;

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer(ABUSE_TARGET);
});
afterAll(cleanup);

const enc = (s: string) => new TextEncoder().encode(s);

/** `msg` framed for gRPC, repeated until `total` bytes. */
function repeated(msg: Uint8Array, total: number): Uint8Array {
  const one = encodeFrame(msg);
  const out = new Uint8Array(Math.floor(total / one.length) * one.length);
  for (let off = 0; off < out.length; off += one.length) out.set(one, off);
  return out;
}

/** Sends `body` on one call of `path` without reading a response; what it could send. */
async function unreadCall(path: string, body: Uint8Array): Promise<number> {
  const c = await RawClient.connect(Number(server.endpoint.split(":")[1]));
  try {
    c.request(1, [
      [":method", "POST"],
      [":scheme", "http"],
      [":path", path],
      [":authority", server.endpoint],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
    ], false);
    return await c.sendWithinWindow(1, body, STALL_MS);
  } finally {
    c.close();
  }
}

const target = () => ({ pid: server.proc.pid!, endpoint: server.endpoint });

test("a Watch stream whose client reads no responses stops being read", async () => {
  const req = toBinary(
    WatchRequestSchema,
    create(WatchRequestSchema, { requestUnion: { case: "createRequest", value: { key: enc("k") } } }),
  );
  const f = await underAbuse(
    "Watch stream never read",
    target(),
    () => unreadCall("/etcdserverpb.Watch/Watch", repeated(req, OFFERED_BYTES)),
  );
  expect(f.result).toBeLessThan(OFFERED_BYTES / 8);
  expectWithinTargets(f);
}, 60_000);

test("a LeaseKeepAlive stream whose client reads no responses stops being read", async () => {
  const req = toBinary(LeaseKeepAliveRequestSchema, create(LeaseKeepAliveRequestSchema, { ID: 12345n }));
  const f = await underAbuse(
    "LeaseKeepAlive stream never read",
    target(),
    () => unreadCall("/etcdserverpb.Lease/LeaseKeepAlive", repeated(req, OFFERED_BYTES)),
  );
  expect(f.result).toBeLessThan(OFFERED_BYTES / 8);
  expectWithinTargets(f);
}, 60_000);
