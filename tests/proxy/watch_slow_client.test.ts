/**
 * A client watching through grpc-proxy that stops reading is dropped once 1024 responses
 * wait for it, as etcd's proxy drops a stream whose channel is full: the other watchers
 * on the same upstream watcher keep getting every event.
 */
import { afterAll, expect, test } from "bun:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { encodeFrame } from "../../api/grpc-frame.ts";
import { Client } from "../../client/client.ts";
import { KV, Watch, WatchRequestSchema } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { cleanup, startServer, waitFor } from "../harness.ts";
import { RawClient } from "../h2/raw_client.ts";
import { startProxy } from "./proxy_process.ts";

afterAll(cleanup);

const enc = (s: string) => new TextEncoder().encode(s);

async function coalescing(endpoint: string): Promise<number> {
  const text = await (await fetch(`http://${endpoint}/proxy/metrics`)).text();
  return Number(/^etcd_grpc_proxy_watchers_coalescing_total (\d+)$/m.exec(text)![1]);
}

test("a watcher that stops reading is dropped; the others keep their events", async () => {
  const server = await startServer("etcdts");
  const proxy = await startProxy("etcdts", "grpc-proxy", ["--endpoints", server.endpoint]);
  const client = new Client({ endpoints: [proxy.endpoint] });
  const healthy = client.service(Watch).watch();
  await healthy.send({ requestUnion: { case: "createRequest", value: { key: enc("s") } } });
  expect((await healthy.read())!.created).toBe(true);

  const slow = await RawClient.connect(Number(proxy.endpoint.split(":")[1]));
  slow.answerPings();
  slow.request(1, [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", "/etcdserverpb.Watch/Watch"],
    [":authority", proxy.endpoint],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
  ], false);
  const createReq = create(WatchRequestSchema, {
    requestUnion: { case: "createRequest", value: { key: enc("s") } },
  });
  await slow.sendWithinWindow(1, encodeFrame(toBinary(WatchRequestSchema, createReq)), 200);
  await waitFor("the slow watcher to join", async () => await coalescing(proxy.endpoint) === 1);
  slow.pauseReading(true);

  const kv = client.service(KV);
  const value = new Uint8Array(2048);
  let received = 0;
  const reading = (async () => {
    for await (const r of healthy) {
      received += r.events.length;
      if (received === 3000) return;
    }
  })();
  for (let i = 0; i < 3000; i++) await kv.put({ key: enc("s"), value });
  await reading;
  expect(received).toBe(3000);
  await waitFor("the slow watcher to be dropped", async () => await coalescing(proxy.endpoint) === 0);
  slow.close();
  healthy.cancel();
  client.close();
}, 60_000);
