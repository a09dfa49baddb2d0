/**
 * The real binary's client port over our HTTP/2 layer: a watch of large values to a client
 * that grants a tiny flow-control window completes, and a client sending garbage gets
 * GOAWAY while everyone else keeps being served, and a call's grpc-timeout ends it with
 * DeadlineExceeded in trailers.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as http2 from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { encodeFrame, FrameDecoder } from "../../api/grpc-frame.ts";
import { Client } from "../../client/mod.ts";
import {
  KV,
  Lease,
  PutRequestSchema,
  WatchRequestSchema,
  WatchResponseSchema,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { Lock, LockRequestSchema } from "../../proto/gen/v3lockpb/v3lock_pb.ts";
import {
  DATA,
  encodeFrame as h2Frame,
  ErrorCode,
  FLAG_END_HEADERS,
  FLAG_END_STREAM,
  GOAWAY,
  HEADERS,
  RST_STREAM,
  u32,
} from "../../h2/frame.ts";
import { cleanup, etcdctl, haveRealEtcd, type ServerProcess, startServer, waitFor } from "../harness.ts";
import { RawClient, u32At } from "./raw_client.ts";

let server: ServerProcess;
let client: Client;
beforeAll(async () => {
  server = await startServer("etcdts");
  client = new Client({ endpoints: [server.endpoint] });
});
afterAll(async () => {
  client.close();
  await cleanup();
});

const enc = (s: string) => new TextEncoder().encode(s);

test("a watch of large values completes to a client with a 16 KiB window", async () => {
  const kv = client.service(KV);
  const values = [700_000, 900_000, 1_200_000].map((n, i) => new Uint8Array(n).fill(65 + i));
  for (const [i, v] of values.entries()) await kv.put({ key: enc(`big/${i}`), value: v });
  const session = http2.connect(`http://${server.endpoint}`, { settings: { initialWindowSize: 16384 } });
  session.on("error", () => {});
  try {
    const req = session.request({
      ":method": "POST",
      ":path": "/etcdserverpb.Watch/Watch",
      "content-type": "application/grpc",
      te: "trailers",
    });
    const watch = create(WatchRequestSchema, {
      requestUnion: {
        case: "createRequest",
        value: { key: enc("big/"), rangeEnd: enc("big0"), startRevision: 1n },
      },
    });
    req.write(encodeFrame(toBinary(WatchRequestSchema, watch)));
    const decoder = new FrameDecoder();
    const sizes: number[] = [];
    req.on("data", (chunk: Buffer) => {
      const msgs = decoder.push(chunk);
      if (!Array.isArray(msgs)) throw new Error("bad frame");
      for (const m of msgs) {
        for (const ev of fromBinary(WatchResponseSchema, m).events) sizes.push(ev.kv?.value.length ?? -1);
      }
    });
    await waitFor("all three events", () => sizes.length >= 3, { timeoutMs: 30_000 });
    expect(sizes).toEqual(values.map((v) => v.length));
    req.close();
  } finally {
    session.close();
  }
}, 60_000);

test("garbage after the preface gets GOAWAY and the server keeps serving", async () => {
  const port = Number(server.endpoint.split(":")[1]);
  const bad = await RawClient.connect(port);
  try {
    bad.write(enc("\x00\x00\x08\x06\x00\x00\x00\x00\x05garbage!garbage!"));
    const g = await bad.waitFrame("GOAWAY", (f) => f.type === GOAWAY);
    expect(u32At(g.payload, 4)).toBe(ErrorCode.PROTOCOL_ERROR);
    await waitFor("connection closed", () => bad.closed);
  } finally {
    bad.close();
  }
  await client.service(KV).put({ key: enc("after"), value: enc("garbage") });
  const r = await client.service(KV).range({ key: enc("after") });
  expect(new TextDecoder().decode(r.kvs[0].value)).toBe("garbage");
  if (haveRealEtcd()) {
    expect((await etcdctl(server.endpoint, ["get", "after", "--print-value-only"])).stdout).toBe("garbage\n");
  }
});

test("grpc-timeout ends a call that cannot finish with DeadlineExceeded", async () => {
  const a = await client.service(Lease).leaseGrant({ TTL: 60n });
  const b = await client.service(Lease).leaseGrant({ TTL: 60n });
  await client.service(Lock).lock({ name: enc("held"), lease: a.ID });
  const session = http2.connect(`http://${server.endpoint}`);
  session.on("error", () => {});
  try {
    const req = session.request({
      ":method": "POST",
      ":path": "/v3lockpb.Lock/Lock",
      "content-type": "application/grpc",
      "grpc-timeout": "300m",
      te: "trailers",
    });
    req.end(
      encodeFrame(toBinary(LockRequestSchema, create(LockRequestSchema, { name: enc("held"), lease: b.ID }))),
    );
    const trailers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      req.on("trailers", resolve);
      req.on("response", (h) => {
        if (h["grpc-status"] !== undefined) resolve(h); // trailers-only
      });
      req.on("error", reject);
      req.resume();
    });
    expect({ status: trailers["grpc-status"], message: trailers["grpc-message"] })
      .toEqual({ status: "4", message: "context deadline exceeded" });
  } finally {
    session.close();
  }
});

// A "rapid reset" storm (CVE-2023-44487's pattern): Put requests each followed at once by
// RST_STREAM CANCEL. A request cancelled before it runs must not be applied (etcd 3.4
// applied 5,756 of 30,000: it checks the cancelled context before it proposes).
const REQUESTS = 30_000;
/** Requests (with their resets) per socket write. */
const BATCH = 500;

function put(streamId: number, key: string, reset: boolean): Uint8Array[] {
  const body = encodeFrame(
    toBinary(PutRequestSchema, create(PutRequestSchema, { key: enc(key), value: enc("v") })),
  );
  const frames = [
    h2Frame({
      type: HEADERS,
      flags: FLAG_END_HEADERS,
      streamId,
      payload: RawClient.block([
        [":method", "POST"],
        [":scheme", "http"],
        [":path", "/etcdserverpb.KV/Put"],
        [":authority", server.endpoint],
        ["content-type", "application/grpc"],
        ["te", "trailers"],
      ]),
    }),
    h2Frame({ type: DATA, flags: FLAG_END_STREAM, streamId, payload: body }),
  ];
  if (reset) {
    frames.push(h2Frame({ type: RST_STREAM, flags: 0, streamId, payload: u32(ErrorCode.CANCEL) }));
  }
  return frames;
}

test("Puts reset right behind their request are not applied", async () => {
  const c = await RawClient.connect(Number(server.endpoint.split(":")[1]));
  try {
    for (let i = 0; i < REQUESTS; i += BATCH) {
      const frames: Uint8Array[] = [];
      for (let j = i; j < i + BATCH; j++) frames.push(...put(2 * j + 1, `rr/${j}`, true));
      await c.writeAndWait(Buffer.concat(frames));
    }
    // One request not reset, after all of them: once it is answered, every one before it
    // was read (and, if it ran, proposed before it).
    const last = 2 * REQUESTS + 1;
    for (const f of put(last, "rr-last", false)) c.write(f);
    await c.waitFrame(
      "the last Put's trailers",
      (f) => f.streamId === last && (f.flags & FLAG_END_STREAM) !== 0,
    );
    const kv = client.service(KV);
    expect((await kv.range({ key: enc("rr-last") })).count).toBe(1n);
    const applied = Number(
      (await kv.range({ key: enc("rr/"), rangeEnd: enc("rr0"), countOnly: true })).count,
    );
    console.log(`rapid reset: ${applied} of ${REQUESTS} applied`);
    expect(applied).toBeLessThan(REQUESTS / 4);
  } finally {
    c.close();
  }
}, 120_000);
