/**
 * HTTP/2 rapid reset: a client that sends a put and resets its stream in the same write
 * must not have the put applied (grpc-go, whose handlers start on goroutines of their own,
 * drops most of them: 5,756 of 30,000 in a probe). A put whose stream stays open is
 * applied, so the test can tell the two apart.
 */
import { afterAll, expect, test } from "bun:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { encodeFrame as grpcFrame } from "../../api/grpc-frame.ts";
import { Client } from "../../client/mod.ts";
import { KV, PutRequestSchema } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import {
  DATA,
  encodeFrame,
  FLAG_ACK,
  FLAG_END_STREAM,
  type Frame,
  RST_STREAM,
  SETTINGS,
  u32,
} from "../../h2/frame.ts";
import { cleanup, startServer } from "../harness.ts";
import { RawClient } from "../h2/raw_client.ts";

afterAll(cleanup);

const enc = (s: string) => new TextEncoder().encode(s);
const CANCEL = 0x8;
const PUTS = 25;

const isSettingsAck = (f: Frame) => f.type === SETTINGS && (f.flags & FLAG_ACK) !== 0;

/** Sends `PUTS` puts of `prefix/i`, each in one write with (or without) its stream's reset. */
async function puts(client: RawClient, prefix: string, reset: boolean, firstStream: number): Promise<void> {
  for (let i = 0; i < PUTS; i++) {
    const id = firstStream + 2 * i;
    const put = create(PutRequestSchema, { key: enc(`${prefix}/${i}`), value: enc("v") });
    const frames = [
      encodeFrame({
        type: 0x1, // HEADERS, END_HEADERS
        flags: 0x4,
        streamId: id,
        payload: RawClient.block([
          [":method", "POST"],
          [":scheme", "http"],
          [":path", "/etcdserverpb.KV/Put"],
          [":authority", "etcd"],
          ["content-type", "application/grpc"],
          ["te", "trailers"],
        ]),
      }),
      encodeFrame({
        type: DATA,
        flags: FLAG_END_STREAM,
        streamId: id,
        payload: grpcFrame(toBinary(PutRequestSchema, put)),
      }),
      ...(reset ? [encodeFrame({ type: RST_STREAM, flags: 0, streamId: id, payload: u32(CANCEL) })] : []),
    ];
    client.write(Buffer.concat(frames));
    // A SETTINGS acknowledged means the server has read everything before it. (Not a PING:
    // pings with no stream answered are strikes, and the third gets GOAWAY too_many_pings,
    // as grpc-go's keepalive policy has it.)
    const acked = client.frames.filter(isSettingsAck).length;
    client.send({ type: SETTINGS, flags: 0, streamId: 0, payload: new Uint8Array(0) });
    await client.waitFrame(
      `the settings after stream ${id}`,
      () => client.frames.filter(isSettingsAck).length > acked,
    );
  }
}

test("a put reset in the same write as its request is not applied; one left open is", async () => {
  const server = await startServer("etcdts");
  const raw = await RawClient.connect(Number(server.endpoint.split(":")[1]));
  const client = new Client({ endpoints: [server.endpoint], callTimeoutMs: 10_000 });
  const count = async (prefix: string) =>
    (await client.service(KV).range({ key: enc(`${prefix}/`), rangeEnd: enc(`${prefix}0`), countOnly: true }))
      .count;
  await puts(raw, "open", false, 1);
  await puts(raw, "reset", true, 1 + 2 * PUTS);
  // A put after them all, through the log: anything the resets had proposed is applied by now.
  await client.service(KV).put({ key: enc("after"), value: enc("x") });
  expect(await count("open")).toBe(BigInt(PUTS));
  expect(await count("reset")).toBe(0n);
  raw.close();
  client.close();
}, 30_000);
