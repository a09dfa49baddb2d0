/**
 * Test certificates made with openssl: a CA, a server certificate for 127.0.0.1, client
 * certificates by CN (root, alice, mallory — revoked in crl.pem), and one from a foreign
 * CA (evil). Shared by the client and peer TLS tests.
 */
import * as fs from "node:fs";
import * as path from "node:path";

function openssl(dir: string, args: string[]): void {
  const r = Bun.spawnSync(["openssl", ...args], { cwd: dir, stdout: "ignore", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
}

/**
 * Writes ca.pem, server.{pem,key} (also for `moreNames`), root/alice/mallory/evil.{pem,key} and the CRLs revoking
 * mallory (crl.pem, crl.der, and crl-expired.pem, long past its nextUpdate) into `dir`.
 */
export function makeCerts(dir: string, opts: { moreNames?: readonly string[] } = {}): void {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  for (const ca of ["ca", "evil-ca"]) {
    openssl(dir, [
      "req",
      "-x509",
      ...ec,
      "-days",
      "2",
      "-subj",
      `/CN=${ca}`,
      "-keyout",
      `${ca}.key`,
      "-out",
      `${ca}.pem`,
    ]);
  }
  const names = ["IP:127.0.0.1", "DNS:localhost", ...(opts.moreNames ?? []).map((n) => `DNS:${n}`)];
  fs.writeFileSync(path.join(dir, "ext.cnf"), `subjectAltName=${names.join(",")}\n`);
  const issue = (name: string, cn: string, ca: string) => {
    openssl(dir, ["req", ...ec, "-subj", `/CN=${cn}`, "-keyout", `${name}.key`, "-out", `${name}.csr`]);
    openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.pem`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      "ext.cnf",
      "-out",
      `${name}.pem`,
    ]);
  };
  issue("server", "server", "ca");
  issue("root", "root", "ca");
  issue("alice", "alice", "ca");
  issue("mallory", "mallory", "ca");
  issue("evil", "alice", "evil-ca");
  // A CRL of `ca` revoking mallory's certificate.
  fs.writeFileSync(path.join(dir, "index.txt"), "");
  fs.writeFileSync(path.join(dir, "crlnumber"), "01\n");
  fs.writeFileSync(
    path.join(dir, "ca.cnf"),
    `[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\ncrlnumber=crlnumber\ndefault_md=sha256\ndefault_crl_days=2\n`,
  );
  const ca = (...args: string[]) =>
    openssl(dir, ["ca", "-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.pem", ...args]);
  ca("-revoke", "mallory.pem");
  ca("-gencrl", "-out", "crl.pem");
  // The same list in DER, and one whose nextUpdate has passed (etcd compares serials only).
  openssl(dir, ["crl", "-in", "crl.pem", "-outform", "DER", "-out", "crl.der"]);
  ca(
    "-gencrl",
    "-crl_lastupdate",
    "20210101000000Z",
    "-crl_nextupdate",
    "20210102000000Z",
    "-out",
    "crl-expired.pem",
  );
}
