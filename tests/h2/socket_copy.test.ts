/**
 * The HTTP/2 connection joins each turn's frames in one buffer that it reuses for the next
 * write (server/h2/connection.ts, JoinBuffer). That is only right because the runtime's
 * socket.write copies whatever it cannot send at once, plain and TLS alike; Node's does not.
 * If an upgrade of Bun changed that, this test fails before any client sees mixed bytes.
 */
import { afterAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import * as tls from "node:tls";
import { cleanup, tempDir } from "../harness.ts";
import { makeCerts } from "../security/certs.ts";

afterAll(cleanup);

const BYTES = 8 << 20; // far more than a socket takes at once from a peer that is not reading

/** Writes BYTES of 1s to a peer that is not reading, then overwrites them with 2s. */
function writeThenOverwrite(socket: net.Socket): void {
  const buf = new Uint8Array(BYTES).fill(1);
  expect(socket.write(buf)).toBe(false); // backed up: part of it is still to be sent
  buf.fill(2);
  socket.end();
}

/** Reads everything `socket` receives after a pause, counting bytes that are not 1s. */
async function receive(socket: net.Socket): Promise<{ bytes: number; changed: number }> {
  socket.pause();
  await Bun.sleep(200); // the writer gets well ahead of us
  return await new Promise((resolve) => {
    let bytes = 0;
    let changed = 0;
    socket.on("data", (d: Buffer) => {
      bytes += d.length;
      for (const b of d) if (b !== 1) changed++;
    });
    socket.on("end", () => resolve({ bytes, changed }));
    socket.resume();
  });
}

test("a plain socket's write keeps what it was given, not what the buffer later holds", async () => {
  const server = net.createServer(writeThenOverwrite);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as net.AddressInfo;
  const got = await receive(net.connect(port, "127.0.0.1"));
  server.close();
  expect(got).toEqual({ bytes: BYTES, changed: 0 });
});

test("so does a TLS socket's", async () => {
  const dir = tempDir("socket-copy-");
  makeCerts(dir);
  const read = (f: string) => fs.readFileSync(path.join(dir, f));
  const server = tls.createServer({ cert: read("server.pem"), key: read("server.key") }, writeThenOverwrite);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as net.AddressInfo;
  const client = tls.connect({ port, host: "127.0.0.1", ca: read("ca.pem") });
  await new Promise((r) => client.once("secureConnect", r));
  const got = await receive(client);
  server.close();
  expect(got).toEqual({ bytes: BYTES, changed: 0 });
});
