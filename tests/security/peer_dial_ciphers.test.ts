/**
 * --cipher-suites also decide what a member offers when it dials a peer: against a TLS 1.2
 * peer that takes one suite, a dial offering only another is refused, and one offering it
 * connects.
 */
import { afterAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as tls from "node:tls";
import { peerSocket } from "../../server/peer_dial.ts";
import { cleanup, tempDir } from "../harness.ts";
import { makeCerts } from "./certs.ts";

afterAll(cleanup);

test("a peer dial offers only the configured suites", async () => {
  const dir = tempDir("etcdts-peer-ciphers-");
  makeCerts(dir);
  const server = tls.createServer({
    cert: fs.readFileSync(`${dir}/server.pem`),
    key: fs.readFileSync(`${dir}/server.key`),
    maxVersion: "TLSv1.2",
    ciphers: "ECDHE-ECDSA-AES256-GCM-SHA384",
  }, (s) => s.end());
  server.on("tlsClientError", () => {});
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const dial = (ciphers: string) =>
    new Promise<boolean>((resolve) => {
      const s = peerSocket(new URL(`https://127.0.0.1:${port}`), {
        ca: fs.readFileSync(`${dir}/ca.pem`),
        rejectUnauthorized: true,
        ciphers,
      }, () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
  try {
    expect(await dial("ECDHE-ECDSA-AES128-GCM-SHA256")).toBe(false);
    expect(await dial("ECDHE-ECDSA-AES256-GCM-SHA384")).toBe(true);
  } finally {
    server.close();
  }
});
