/**
 * What the reused join buffers (server/h2/join_buffers.ts) rely on in Bun's sockets: a
 * write's callback comes only once the socket no longer needs the buffer. A socket holds a
 * write it cannot send yet by reference, over plain TCP and TLS alike, so a buffer reused
 * from an early callback would change bytes not yet sent. Here the reader is paused while
 * the writer queues far more than loopback's socket buffers take, and every callback
 * scribbles over its buffer: the reader must still get exactly what was written.
 */
import { afterAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import * as tls from "node:tls";
import { cleanup, tempDir, waitFor } from "../harness.ts";
import { makeCerts } from "../security/certs.ts";

afterAll(cleanup);

const WRITES = 32;
const WRITE_BYTES = 1 << 20;

async function writeWhilePaused(secure: boolean): Promise<void> {
  let certs: { key: Buffer; cert: Buffer } | undefined;
  if (secure) {
    const dir = tempDir("sockdone-");
    makeCerts(dir);
    certs = {
      key: fs.readFileSync(path.join(dir, "server.key")),
      cert: fs.readFileSync(path.join(dir, "server.pem")),
    };
  }
  let written = false;
  let callbacksAtResume = -1;
  let callbacks = 0;
  const onSocket = (socket: net.Socket) => {
    socket.on("error", () => {});
    for (let i = 0; i < WRITES; i++) {
      const buf = new Uint8Array(WRITE_BYTES).fill(i + 1);
      socket.write(buf, () => {
        callbacks++;
        buf.fill(0xee);
      });
    }
    written = true;
  };
  const server = secure ? tls.createServer(certs!, onSocket) : net.createServer(onSocket);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  const client = secure
    ? tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false })
    : net.connect(port, "127.0.0.1");
  client.pause();
  try {
    await waitFor("the writes", () => written);
    // Let the socket send what the kernel takes before the reader comes back.
    await new Promise((r) => setTimeout(r, 200));
    callbacksAtResume = callbacks;
    let at = 0;
    let wrong = 0;
    client.on("data", (chunk: Buffer) => {
      for (let j = 0; j < chunk.length; j++, at++) {
        if (chunk[j] !== Math.floor(at / WRITE_BYTES) + 1) wrong++;
      }
    });
    client.resume();
    await waitFor("every byte", () => at === WRITES * WRITE_BYTES, { timeoutMs: 30_000 });
    expect(wrong).toBe(0);
    // The test means something only if writes were still held when the reader came back.
    expect(callbacksAtResume).toBeLessThan(WRITES);
    await waitFor("every callback", () => callbacks === WRITES);
  } finally {
    client.destroy();
    server.close();
  }
}

test(
  "over plain TCP, a write's buffer is left alone until its callback",
  () => writeWhilePaused(false),
  60_000,
);
test("over TLS, a write's buffer is left alone until its callback", () => writeWhilePaused(true), 60_000);
