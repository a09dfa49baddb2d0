/**
 * PING ACKs leave with the next frames the connection writes, first among them, or alone
 * after a short wait on a quiet connection: a grpc-go client pings after every batch of
 * responses it reads, and an ACK written on its own was half of all socket writes.
 */
import { expect, test } from "bun:test";
import { H2Connection } from "../../server/h2/connection.ts";
import type { H2Stream } from "../../server/h2/stream.ts";
import {
  encodeFrame,
  FLAG_ACK,
  FLAG_END_HEADERS,
  FLAG_END_STREAM,
  HEADERS,
  PING,
  SETTINGS,
} from "../../h2/frame.ts";
import { encodeHeaders } from "../../h2/hpack.ts";
import { waitFor } from "../harness.ts";
import { clientBytes, HoldingSocket } from "./holding_socket.ts";

/** The frames in one write: type, flags and stream of each, in order. */
function framesOf(bytes: Uint8Array): string[] {
  const out: string[] = [];
  for (let at = 0; at + 9 <= bytes.length;) {
    const length = (bytes[at] << 16) | (bytes[at + 1] << 8) | bytes[at + 2];
    const type = bytes[at + 3];
    const ack = type === PING && (bytes[at + 4] & FLAG_ACK) !== 0;
    const stream = ((bytes[at + 5] & 0x7f) << 24) | (bytes[at + 6] << 16) | (bytes[at + 7] << 8) |
      bytes[at + 8];
    out.push(
      ack ? "PING ACK" : type === HEADERS ? `HEADERS ${stream}` : type === PING ? "PING" : `type ${type}`,
    );
    at += 9 + length;
  }
  return out;
}

const ping = () =>
  encodeFrame({ type: PING, flags: 0, streamId: 0, payload: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]) });
const get = (streamId: number) =>
  encodeFrame({
    type: HEADERS,
    flags: FLAG_END_HEADERS | FLAG_END_STREAM,
    streamId,
    payload: encodeHeaders([[":method", "GET"], [":scheme", "http"], [":path", "/x"], [":authority", "x"]]),
  });

/** A connection past its handshake (its first request answered), and what it writes from then on. */
async function connected(
  onStream: (s: H2Stream) => void,
  pingAckDelayMs?: number,
): Promise<{ socket: HoldingSocket; writes: () => string[][] }> {
  const socket = new HoldingSocket(false);
  new H2Connection(socket, { maxConcurrentStreams: 10, onStream, pingAckDelayMs });
  socket.emit("data", clientBytes("/first"));
  await waitFor("the first answer", () => socket.written.some((w) => framesOf(w.data).includes("HEADERS 1")));
  await Bun.sleep(10); // a settings ACK or anything else due has left
  const from = socket.written.length;
  return { socket, writes: () => socket.written.slice(from).map((w) => framesOf(w.data)) };
}

const answerAtOnce = (s: H2Stream) => {
  s.respond({ ":status": 200 });
  s.end(new Uint8Array(10));
};

test("a PING's ACK leads the write of the answers that follow it", async () => {
  // Answered a turn later, as a request is once the log has it; the ACK may wait longer
  // than that takes on the slowest machine.
  const { socket, writes } = await connected((s) => setImmediate(() => answerAtOnce(s)), 60_000);
  socket.emit("data", Buffer.concat([ping(), get(3)]));
  await waitFor("the answer", () => writes().flat().includes("HEADERS 3"));
  await Bun.sleep(20);
  expect(writes().length).toBe(1);
  expect(writes()[0][0]).toBe("PING ACK");
  expect(writes()[0]).toContain("HEADERS 3");
});

test("a PING on a quiet connection is answered on its own, soon", async () => {
  const { socket, writes } = await connected(answerAtOnce);
  socket.emit("data", ping());
  await waitFor("the ACK", () => writes().length > 0);
  expect(writes()).toEqual([["PING ACK"]]);
});

test("a PING's ACK does not wait for an answer that takes long", async () => {
  let late: H2Stream | null = null;
  const { socket, writes } = await connected((s) => {
    if (s.headers[":path"] === "/first") answerAtOnce(s);
    else late = s;
  });
  socket.emit("data", Buffer.concat([ping(), get(3)]));
  await waitFor("the ACK", () => writes().length > 0);
  expect(writes()).toEqual([["PING ACK"]]);
  answerAtOnce(late!);
  await waitFor("the answer", () => writes().length > 1);
  expect(writes()[1][0]).toBe("HEADERS 3");
});

test("SETTINGS are still acknowledged at once", async () => {
  const { socket, writes } = await connected(answerAtOnce);
  socket.emit("data", encodeFrame({ type: SETTINGS, flags: 0, streamId: 0, payload: new Uint8Array(0) }));
  await Promise.resolve();
  await Promise.resolve();
  expect(writes()).toEqual([["type 4"]]);
});

test("an ACK that left with answers leaves no timer to send the next PING's ACK alone", async () => {
  // The wait is long and the steps far apart, so that only the order of timers decides: the
  // first ACK's timer would fire at WAIT, the second's at 1.5 × WAIT, the answer is given
  // at 1.25 × WAIT.
  const WAIT = 1000;
  let late: H2Stream | null = null;
  const { socket, writes } = await connected((s) => {
    if (s.headers[":path"] === "/first" || s.id === 3) setImmediate(() => answerAtOnce(s));
    else late = s;
  }, WAIT);
  socket.emit("data", Buffer.concat([ping(), get(3)]));
  await waitFor("the first answer", () => writes().flat().includes("HEADERS 3"));
  await Bun.sleep(WAIT / 2);
  socket.emit("data", Buffer.concat([ping(), get(5)]));
  await Bun.sleep(WAIT * 3 / 4);
  answerAtOnce(late!);
  await waitFor("the second answer", () => writes().flat().includes("HEADERS 5"));
  expect(writes()).toEqual([["PING ACK", "HEADERS 3", "type 0"], ["PING ACK", "HEADERS 5", "type 0"]]);
});
