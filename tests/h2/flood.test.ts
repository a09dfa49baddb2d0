/**
 * Frames that cost the server work or memory without being a request, on the real binary:
 * PINGs whose ACKs the client never reads, and a header block of endless empty
 * CONTINUATIONs. Each must end the connection with GOAWAY ENHANCE_YOUR_CALM within the
 * issue's targets (tests/abuse/measure.ts): RSS, and another client's latency meanwhile.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import {
  CONTINUATION,
  encodeFrame,
  ErrorCode,
  FRAME_HEADER_BYTES,
  GOAWAY,
  HEADERS,
  PING,
} from "../../h2/frame.ts";
import { cleanup, type ServerProcess, startServer, waitFor } from "../harness.ts";
import { RawClient, u32At } from "./raw_client.ts";
import { ABUSE_TARGET, expectWithinTargets, underAbuse } from "../abuse/measure.ts";
/** Frames written per socket write. */
const BATCH = 4096;

let server: ServerProcess;
let port = 0;
beforeAll(async () => {
  server = await startServer(ABUSE_TARGET);
  port = Number(server.endpoint.split(":")[1]);
});
afterAll(cleanup);

const target = () => ({ pid: server.proc.pid!, endpoint: server.endpoint });

/** Writes `frame` up to `max` times, in batches, until the server closes the connection. */
async function flood(c: RawClient, frame: Uint8Array, max: number): Promise<number> {
  const batch = new Uint8Array(frame.length * BATCH);
  for (let i = 0; i < BATCH; i++) batch.set(frame, i * frame.length);
  let sent = 0;
  while (sent < max && !c.closed) {
    await c.writeAndWait(batch);
    sent += BATCH;
  }
  return sent;
}

function goawayCode(c: RawClient): number | null {
  const g = c.frames.find((f) => f.type === GOAWAY);
  return g === undefined ? null : u32At(g.payload, 4);
}

test("PINGs whose ACKs are never read end the connection", async () => {
  const f = await underAbuse("PING ACKs never read", target(), async () => {
    const c = await RawClient.connect(port);
    try {
      await c.waitFrame("the server's SETTINGS", () => true);
      c.pauseReading(true);
      const ping = encodeFrame({ type: PING, flags: 0, streamId: 0, payload: new Uint8Array(8) });
      // 3M PINGs (51 MB): without a cap the server buffered ~180 MiB of ACKs for them.
      const sent = await flood(c, ping, 3_000_000);
      c.pauseReading(false);
      await waitFor("the connection to end", () => c.closed, { timeoutMs: 20_000 });
      return { sent, goaway: goawayCode(c) };
    } finally {
      c.close();
    }
  });
  expect(f.result.sent).toBeLessThan(3_000_000);
  // The GOAWAY queues behind the unread ACKs: the client sees it only if the server's
  // socket flushed them before it gave up on the connection.
  expect([null, ErrorCode.ENHANCE_YOUR_CALM as number]).toContain(f.result.goaway);
  expectWithinTargets(f);
}, 60_000);

test("a header block of endless empty CONTINUATIONs ends the connection", async () => {
  const f = await underAbuse("empty CONTINUATION flood", target(), async () => {
    const c = await RawClient.connect(port);
    try {
      c.send({
        type: HEADERS,
        flags: 0,
        streamId: 1,
        payload: RawClient.block([[":method", "POST"], [":path", "/x"]]),
      });
      const empty = encodeFrame({ type: CONTINUATION, flags: 0, streamId: 1, payload: new Uint8Array(0) });
      expect(empty.length).toBe(FRAME_HEADER_BYTES);
      const sent = await flood(c, empty, 4_000_000);
      await waitFor("the connection to end", () => c.closed, { timeoutMs: 20_000 });
      return { sent, goaway: goawayCode(c) };
    } finally {
      c.close();
    }
  });
  expect(f.result.goaway).toBe(ErrorCode.ENHANCE_YOUR_CALM);
  expect(f.result.sent).toBeLessThan(4_000_000);
  expectWithinTargets(f);
}, 60_000);
