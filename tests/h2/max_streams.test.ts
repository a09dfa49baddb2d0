/**
 * --max-concurrent-streams, against etcdts and the real etcd: the limit is advertised as
 * SETTINGS_MAX_CONCURRENT_STREAMS, a stream past it is refused (RST_STREAM REFUSED_STREAM,
 * as grpc-go refuses it), and once an open stream ends a new one is served.
 */
import { afterAll, describe, expect, test } from "bun:test";
import {
  DATA,
  ErrorCode,
  FLAG_ACK,
  FLAG_END_STREAM,
  RST_STREAM,
  Setting,
  SETTINGS,
  u32,
} from "../../h2/frame.ts";
import { cleanup, CONFORMANCE_TARGETS, startServer } from "../harness.ts";
import { RawClient, u32At } from "./raw_client.ts";

afterAll(cleanup);

const LIMIT = 3;

function call(c: RawClient, streamId: number, path: string, endpoint: string, end: boolean): void {
  c.request(streamId, [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", endpoint],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
  ], end);
}

for (const kind of CONFORMANCE_TARGETS) {
  describe(kind, () => {
    test(`with --max-concurrent-streams ${LIMIT}, a stream past the limit is refused`, async () => {
      const server = await startServer(kind, { extraArgs: ["--max-concurrent-streams", String(LIMIT)] });
      const c = await RawClient.connect(Number(server.endpoint.split(":")[1]));
      try {
        const settings = await c.waitFrame(
          "SETTINGS",
          (f) => f.type === SETTINGS && (f.flags & FLAG_ACK) === 0,
        );
        const advertised = new Map<number, number>();
        for (let off = 0; off + 6 <= settings.payload.length; off += 6) {
          advertised.set(
            (settings.payload[off] << 8) | settings.payload[off + 1],
            u32At(settings.payload, off + 2),
          );
        }
        expect(advertised.get(Setting.MAX_CONCURRENT_STREAMS)).toBe(LIMIT);
        // Three watch streams stay open; a fourth stream is one too many.
        for (let i = 0; i < LIMIT; i++) {
          call(c, 2 * i + 1, "/etcdserverpb.Watch/Watch", server.endpoint, false);
        }
        const fourth = 2 * LIMIT + 1;
        call(c, fourth, "/etcdserverpb.Watch/Watch", server.endpoint, false);
        const rst = await c.waitFrame(
          "the fourth stream's reset",
          (f) => f.type === RST_STREAM && f.streamId === fourth,
        );
        expect(u32At(rst.payload, 0)).toBe(ErrorCode.REFUSED_STREAM);
        // The client ends one watch; a new stream is then served to its end.
        c.send({ type: RST_STREAM, flags: 0, streamId: 1, payload: u32(ErrorCode.CANCEL) });
        // The reset is read before the next HEADERS: the server has room again by then.
        const next = fourth + 2;
        call(c, next, "/etcdserverpb.Maintenance/Status", server.endpoint, false);
        c.send({
          type: DATA,
          flags: FLAG_END_STREAM,
          streamId: next,
          payload: new Uint8Array([0, 0, 0, 0, 0]),
        });
        await c.waitFrame(
          "the new stream's answer",
          (f) => f.streamId === next && (f.flags & FLAG_END_STREAM) !== 0,
        );
        expect(c.frames.some((f) => f.type === RST_STREAM && f.streamId === next)).toBe(false);
      } finally {
        c.close();
      }
    }, 30_000);
  });
}
