/**
 * Reading --client-crl-file / --peer-crl-file: PEM and DER give the same revoked serials,
 * a file that is no CRL is refused with the reason, and a rewritten file is read again.
 */
import { afterAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import type * as tls from "node:tls";
import { cleanup, ETCDTS_BIN, run, tempDir } from "../harness.ts";
import { CrlFile, revokedSerials } from "../../server/crl.ts";
import { makeCerts } from "./certs.ts";

afterAll(cleanup);

function serialOf(certFile: string): bigint {
  const r = Bun.spawnSync(["openssl", "x509", "-in", certFile, "-noout", "-serial"]);
  return BigInt("0x" + new TextDecoder().decode(r.stdout).trim().replace(/^serial=/, ""));
}

describe("CRL files", () => {
  const dir = tempDir();
  makeCerts(dir);
  const mallory = serialOf(path.join(dir, "mallory.pem"));

  test("PEM, DER and an expired CRL all list mallory's serial", () => {
    for (const f of ["crl.pem", "crl.der", "crl-expired.pem"]) {
      const s = revokedSerials(fs.readFileSync(path.join(dir, f)));
      expect({ f, serials: s instanceof Error ? s.message : [...s] }).toEqual({ f, serials: [mallory] });
    }
  });

  test("bytes that are no CRL are an error naming the problem, never a throw", () => {
    for (
      const bytes of [new Uint8Array(), Buffer.from("garbage"), fs.readFileSync(path.join(dir, "ca.pem"))]
    ) {
      const s = revokedSerials(bytes);
      expect(s).toBeInstanceOf(Error);
      expect((s as Error).message).toStartWith("x509: malformed crl");
    }
    const der = fs.readFileSync(path.join(dir, "crl.der"));
    for (let cut = 1; cut < der.length; cut += 7) {
      expect(revokedSerials(der.subarray(0, cut))).toBeInstanceOf(Error);
    }
  });

  test("a CRL rewritten in place is read again at the next handshake", () => {
    const f = path.join(dir, "live.crl");
    fs.writeFileSync(f, "garbage");
    expect(() => new CrlFile(f)).toThrow("cannot use CRL");
    fs.copyFileSync(path.join(dir, "crl.der"), f);
    const crl = new CrlFile(f);
    const presenting = (serial: bigint) =>
      ({
        getPeerCertificate: () => ({
          serialNumber: serial.toString(16).toUpperCase(),
          fingerprint256: "leaf",
        }),
      }) as unknown as tls.TLSSocket;
    expect(crl.refusal(presenting(mallory))).toMatch(/^transport: certificate serial [0-9a-f]+ revoked$/);
    expect(crl.refusal(presenting(mallory + 1n))).toBeNull();
    fs.writeFileSync(f, "garbage, now");
    expect(crl.refusal(presenting(mallory + 1n))).toStartWith("x509: malformed crl");
  });

  test("the server refuses to start on a file that is no CRL, naming it", async () => {
    const bad = path.join(dir, "bad.crl");
    fs.writeFileSync(bad, "garbage");
    const r = await run([
      ETCDTS_BIN,
      "serve",
      `--data-dir=${tempDir()}/d`,
      "--listen-client-urls=https://127.0.0.1:0",
      "--advertise-client-urls=https://127.0.0.1:2379",
      `--cert-file=${dir}/server.pem`,
      `--key-file=${dir}/server.key`,
      `--client-crl-file=${bad}`,
    ], { timeoutMs: 20_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`cannot use CRL ${bad}: x509: malformed crl`);
  });
});
