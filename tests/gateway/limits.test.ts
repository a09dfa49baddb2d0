/**
 * HTTP/1.1 request bodies the server must not buffer whole, on the real binary: an
 * `Upgrade` request declaring 600 MB, gateway bodies of one endless string, whitespace or
 * nesting, and a gateway keepalive stream whose client reads no responses. Each is
 * answered or pushed back before it is read, within the targets for RSS and for
 * another client's latency meanwhile (tests/abuse/measure.ts).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as net from "node:net";
import { cleanup, type ServerProcess, startServer, waitFor } from "../harness.ts";
import { ABUSE_TARGET, expectWithinTargets, underAbuse } from "../abuse/measure.ts";

/** Body bytes offered per probe: well past any buffer the server may keep. */
const OFFERED_BYTES = 160 << 20;
/** The socket took nothing for this long: the server stopped reading. */
const STALL_MS = 1500;
const CHUNK = 1 << 20;

let server: ServerProcess;
let port = 0;
beforeAll(async () => {
  server = await startServer(ABUSE_TARGET);
  port = Number(server.endpoint.split(":")[1]);
});
afterAll(cleanup);

interface Offered {
  /** Body bytes the server took before it answered, stopped reading or closed. */
  readonly sent: number;
  /** What the server answered (empty when the client reads nothing). */
  readonly answer: string;
}

/**
 * Sends `head`, then body chunks from `chunk(i)` until `total` bytes, the server answers
 * (unless `read` is false: then the socket is never read), closes, or stops reading.
 */
async function offer(
  head: string,
  chunk: (i: number) => Uint8Array,
  opts: { total: number; read: boolean },
): Promise<Offered> {
  const socket = net.connect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  socket.on("error", () => {});
  let answer = "";
  let closed = false;
  socket.on("close", () => (closed = true));
  if (opts.read) socket.on("data", (b: Buffer) => (answer += b.toString("latin1")));
  else socket.pause();
  let sent = 0;
  try {
    socket.write(head);
    for (let i = 0; sent < opts.total && answer === "" && !closed; i++) {
      const c = chunk(i);
      sent += c.length;
      if (socket.write(c)) continue;
      const drained = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), STALL_MS);
        const done = () => {
          clearTimeout(timer);
          resolve(true);
        };
        socket.once("drain", done).once("close", done);
        if (opts.read) socket.once("data", done);
      });
      if (!drained) break;
    }
    if (opts.read) {
      await waitFor("the whole answer or the end", () => closed || complete(answer), { timeoutMs: 5000 });
    }
  } finally {
    socket.destroy();
  }
  return { sent, answer };
}

/** An HTTP/1.1 answer with all of its Content-Length body. */
function complete(answer: string): boolean {
  const end = answer.indexOf("\r\n\r\n");
  const length = /content-length: (\d+)/i.exec(answer);
  return end >= 0 && length !== null && answer.length >= end + 4 + Number(length[1]);
}

/** `offer`, measured as one row of the abuse table: `what` names it. */
async function measured(what: string, ...args: Parameters<typeof offer>) {
  const f = await underAbuse(
    what,
    { pid: server.proc.pid!, endpoint: server.endpoint },
    () => offer(...args),
  );
  console.log(
    `${what}: sent ${(f.result.sent / 2 ** 20).toFixed(1)} MiB, answer ${
      JSON.stringify(f.result.answer.split("\r\n")[0])
    }`,
  );
  return f;
}

const ascii = (s: string) => new TextEncoder().encode(s);
const filled = (byte: string) => ascii(byte.repeat(CHUNK));

/** One chunk of HTTP/1.1 chunked transfer encoding. */
function chunked(data: Uint8Array): Uint8Array {
  const head = ascii(`${data.length.toString(16)}\r\n`);
  const out = new Uint8Array(head.length + data.length + 2);
  out.set(head, 0);
  out.set(data, head.length);
  out.set(ascii("\r\n"), head.length + data.length);
  return out;
}

test("an Upgrade request declaring a 600 MB body is refused before it is read", async () => {
  const head = "POST /v3/kv/put HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n" +
    "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nContent-Length: 600000000\r\n\r\n";
  const body = filled("x");
  const f = await measured("Upgrade with a 600 MB body", head, () => body, {
    total: OFFERED_BYTES,
    read: true,
  });
  expect(f.result.answer).toStartWith("HTTP/1.1 413");
  expect(f.result.sent).toBeLessThan(OFFERED_BYTES);
  expectWithinTargets(f);
}, 60_000);

/**
 * Refusing a too-large gateway body held other clients up 2 s once, then 0.1-0.25 s until
 * the JSON split stopped re-flattening its buffer per chunk, then 60-140 ms until the split
 * of one value's text took turns (body.ts): now 22-62 ms in 18 probes, asserted.
 */
const PUT_HEAD = "POST /v3/kv/put HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
  "Transfer-Encoding: chunked\r\n\r\n";

for (
  const [what, start, fill] of [
    ["one endless string", '{"key":"YQ==","value":"', "Q"],
    ["endless whitespace", "", " "],
    ["endless nesting", "", "["],
  ] as const
) {
  test(`a gateway body of ${what} is refused as too large before it is read`, async () => {
    const first = chunked(ascii(start + fill.repeat(CHUNK - start.length)));
    const rest = chunked(filled(fill));
    const f = await measured(`gateway body of ${what}`, PUT_HEAD, (i) => i === 0 ? first : rest, {
      total: OFFERED_BYTES,
      read: true,
    });
    expect(f.result.answer).toStartWith("HTTP/1.1 429");
    expect(f.result.answer).toContain("received message larger than max");
    expect(f.result.sent).toBeLessThan(OFFERED_BYTES);
    expectWithinTargets(f);
  }, 60_000);
}

test("a gateway keepalive stream whose client reads no responses stops being read", async () => {
  const head = "POST /v3/lease/keepalive HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
    "Transfer-Encoding: chunked\r\n\r\n";
  const one = '{"ID":"12345"}\n';
  const body = chunked(ascii(one.repeat(Math.floor(CHUNK / one.length))));
  const f = await measured("gateway keepalive never read", head, () => body, {
    total: OFFERED_BYTES / 4,
    read: false,
  });
  // What the socket buffers of both ends hold is all it may take (a few MiB).
  expect(f.result.sent).toBeLessThan(OFFERED_BYTES / 8);
  expectWithinTargets(f);
}, 60_000);

test("a WebSocket keepalive whose client reads no responses stops being read", async () => {
  const head =
    "GET /v3/lease/keepalive HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  const payload = ascii('{"ID":"12345"}');
  // A masked text frame (a client's frames must be masked; a zero mask keeps the payload).
  const frame = new Uint8Array([0x81, 0x80 | payload.length, 0, 0, 0, 0, ...payload]);
  const batch = new Uint8Array(frame.length * Math.floor(CHUNK / frame.length));
  for (let off = 0; off + frame.length <= batch.length; off += frame.length) batch.set(frame, off);
  const f = await measured("WebSocket keepalive never read", head, () => batch, {
    total: OFFERED_BYTES / 4,
    read: false,
  });
  expect(f.result.sent).toBeLessThan(OFFERED_BYTES / 8);
  expectWithinTargets(f);
}, 60_000);
