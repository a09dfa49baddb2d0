/**
 * Server TLS settings from etcd's flags (--cert-file, --key-file, --trusted-ca-file,
 * --client-cert-auth, --client-crl-file, --auto-tls, and the --peer-* twins).
 *
 * `--auto-tls` makes a self-signed certificate at start, as etcd does, under
 * `<data-dir>/fixtures/{client,peer}`, with openssl (installed on every system etcdts
 * targets; node:crypto makes keys but not certificates).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tls from "node:tls";
import type { TlsFlags } from "./config.ts";
import { CrlFile } from "./crl.ts";
import { log } from "./log.ts";

/** What a TLS listener needs: node:tls server options plus etcd's revocation check. */
export interface ServerTls extends tls.TlsOptions {
  /** --*-crl-file, checked once each handshake is done (`refuseRevoked`). */
  readonly revocations?: CrlFile;
}

/**
 * Makes `server` refuse, right after the handshake, a connection whose certificate the CRL
 * revokes (etcd's listener check and its "rejected connection" warning). Registered first,
 * so the connection is gone before any handler reads from it.
 */
export function refuseRevoked(server: tls.Server, opts: ServerTls): void {
  const crl = opts.revocations;
  if (crl === undefined) return;
  server.prependListener("secureConnection", (socket: tls.TLSSocket) => {
    const why = crl.refusal(socket);
    if (why === null) return;
    log.warn("rejected connection", {
      "remote-addr": `${socket.remoteAddress}:${socket.remotePort}`,
      "server-name": (socket as { servername?: string | false }).servername || "",
      error: why,
    });
    socket.destroy();
  });
}

/**
 * The TLS options for one side, or null when that side serves plaintext. Throws with a
 * readable message for unreadable files (the server refuses to start, as etcd does).
 */
export function serverTls(
  flags: TlsFlags,
  opts: { dataDir: string; side: "client" | "peer" | "proxy"; hosts: readonly string[] },
): ServerTls | null {
  let { certFile, keyFile } = flags;
  if (certFile === "" && keyFile === "" && flags.autoTls) {
    ({ certFile, keyFile } = selfSigned(path.join(opts.dataDir, "fixtures", opts.side), opts.hosts));
  }
  if (certFile === "" && keyFile === "") return null;
  const read = (what: string, f: string) => {
    try {
      return fs.readFileSync(f);
    } catch (e) {
      throw new Error(`${opts.side} TLS: cannot read ${what} ${f}: ${(e as Error).message}`);
    }
  };
  const out: ServerTls = {
    cert: read("certificate", certFile),
    key: read("key", keyFile),
    ALPNProtocols: ["h2", "http/1.1"],
  };
  if (flags.trustedCaFile !== "") out.ca = read("trusted CA", flags.trustedCaFile);
  if (flags.clientCertAuth) {
    // Go's RequireAndVerifyClientCert: no certificate, or one the CA did not sign, is refused.
    out.requestCert = true;
    out.rejectUnauthorized = true;
  }
  if (flags.crlFile === "") return out;
  return { ...out, revocations: new CrlFile(flags.crlFile) };
}

/**
 * etcd's --peer-cert-allowed-cn and --peer-cert-allowed-hostname: which verified
 * certificates the peer port admits, so that a client certificate from the same CA does
 * not pass for a member's. Null when any certificate the CA signed will do. Throws, as
 * etcd refuses to start, when both are given.
 */
export function certificateFilter(flags: TlsFlags): ((cert: tls.PeerCertificate) => boolean) | null {
  const { allowedCn, allowedHostname } = flags;
  if (allowedCn !== "" && allowedHostname !== "") {
    throw new Error(
      `AllowedCN and AllowedHostname are mutually exclusive (cn=${JSON.stringify(allowedCn)}, ` +
        `hostname=${JSON.stringify(allowedHostname)})`,
    );
  }
  // An unverified or absent certificate (no --peer-client-cert-auth) has no subject: refused.
  if (allowedCn !== "") return (cert) => cert.subject?.CN === allowedCn;
  if (allowedHostname !== "") {
    return (cert) =>
      cert.subject !== undefined && tls.checkServerIdentity(allowedHostname, cert) === undefined;
  }
  return null;
}

/**
 * The warning for a peer listener that admits more than members, or null. etcd serves
 * such a port without a word, yet whoever reaches it can do what a member does: send
 * Raft messages, fetch snapshots of the whole store, read the keys of any lease (no auth
 * applies between members). Only a member's certificate, checked against the peer CA,
 * keeps clients out; short of that, the network must.
 */
export function peerExposure(url: URL, flags: TlsFlags): string | null {
  if (url.protocol !== "https:") {
    return "serving peer traffic insecurely; the peer port must not be reachable by clients: " +
      "without peer TLS and --peer-client-cert-auth, whoever connects can act as a member";
  }
  if (!flags.clientCertAuth) {
    return "serving peer traffic without --peer-client-cert-auth; the peer port must not be reachable by " +
      "clients: whoever connects can act as a member";
  }
  return null;
}

/** Writes (once) a self-signed certificate for `hosts` into `dir`; returns the file names. */
function selfSigned(dir: string, hosts: readonly string[]): { certFile: string; keyFile: string } {
  const certFile = path.join(dir, "cert.pem");
  const keyFile = path.join(dir, "key.pem");
  if (fs.existsSync(certFile) && fs.existsSync(keyFile)) return { certFile, keyFile };
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const san = [...new Set(["localhost", "127.0.0.1", ...hosts])]
    .map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h.replace(/^\[|\]$/g, "")}` : `DNS:${h}`))
    .join(",");
  const r = Bun.spawnSync([
    "openssl",
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "365",
    "-subj",
    "/O=etcd",
    "-addext",
    `subjectAltName=${san}`,
    "-keyout",
    keyFile,
    "-out",
    certFile,
  ], { stdout: "ignore", stderr: "pipe" });
  if (r.exitCode !== 0) {
    throw new Error(`--auto-tls: openssl failed: ${new TextDecoder().decode(r.stderr).trim()}`);
  }
  fs.chmodSync(keyFile, 0o600);
  return { certFile, keyFile };
}
