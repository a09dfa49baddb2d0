/**
 * Streaming calls whose client sends requests and reads no responses, on the real binary:
 * the server must stop reading that stream (no more window for it) instead of queueing
 * every request and its answer, and give the memory back once the stream is gone.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { encodeFrame } from "../../api/grpc-frame.ts";
import { LeaseKeepAliveRequestSchema, WatchRequestSchema } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { cleanup, type ServerProcess, startServer, waitFor } from "../harness.ts";
import { RawClient } from "./raw_client.ts";
import { rssMiB, rssPeak } from "./rss.ts";

/** What a stream the client does not read may cost the server, and what may stay after. */
const PEAK_BUDGET_MIB = 64;
const AFTER_BUDGET_MIB = 16;
/** Request bytes offered: without backpressure the server took them all (and GiBs of RSS). */
const OFFERED_BYTES = 48 << 20;
/** No new window for this long: the server stopped reading the stream. */
const STALL_MS = 1500;

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer("etcdts");
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

async function probe(path: string, body: Uint8Array): Promise<{ sent: number; peak: number; idle: number }> {
  const pid = server.proc.pid;
  const idle = rssMiB(pid);
  const c = await RawClient.connect(Number(server.endpoint.split(":")[1]));
  const peak = rssPeak(pid);
  let sent = 0;
  try {
    c.request(1, [
      [":method", "POST"],
      [":scheme", "http"],
      [":path", path],
      [":authority", server.endpoint],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
    ], false);
    sent = await c.sendWithinWindow(1, body, STALL_MS);
  } finally {
    c.close();
  }
  return { sent, peak: peak.stop(), idle };
}

async function expectMemoryBack(idle: number): Promise<void> {
  await waitFor(
    `RSS back within ${AFTER_BUDGET_MIB} MiB of ${idle.toFixed(0)} MiB`,
    () => rssMiB(server.proc.pid) - idle <= AFTER_BUDGET_MIB,
    { timeoutMs: 15_000, intervalMs: 200 },
  );
}

test("a Watch stream whose client reads no responses stops being read", async () => {
  const req = toBinary(
    WatchRequestSchema,
    create(WatchRequestSchema, { requestUnion: { case: "createRequest", value: { key: enc("k") } } }),
  );
  const r = await probe("/etcdserverpb.Watch/Watch", repeated(req, OFFERED_BYTES));
  console.log(
    `watch: sent ${r.sent} of ${OFFERED_BYTES}, RSS idle ${r.idle.toFixed(0)} peak ${r.peak.toFixed(0)} MiB`,
  );
  expect(r.sent).toBeLessThan(OFFERED_BYTES / 8);
  expect(r.peak - r.idle).toBeLessThanOrEqual(PEAK_BUDGET_MIB);
  await expectMemoryBack(r.idle);
}, 60_000);

test("a LeaseKeepAlive stream whose client reads no responses stops being read", async () => {
  const req = toBinary(LeaseKeepAliveRequestSchema, create(LeaseKeepAliveRequestSchema, { ID: 12345n }));
  const r = await probe("/etcdserverpb.Lease/LeaseKeepAlive", repeated(req, OFFERED_BYTES));
  console.log(
    `keepalive: sent ${r.sent} of ${OFFERED_BYTES}, RSS idle ${r.idle.toFixed(0)} peak ${
      r.peak.toFixed(0)
    } MiB`,
  );
  expect(r.sent).toBeLessThan(OFFERED_BYTES / 8);
  expect(r.peak - r.idle).toBeLessThanOrEqual(PEAK_BUDGET_MIB);
  await expectMemoryBack(r.idle);
}, 60_000);
