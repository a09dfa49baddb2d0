/**
 * Server TLS settings from etcd's flags (--cert-file, --key-file, --trusted-ca-file,
 * --client-cert-auth, --client-crl-file, --auto-tls, --client-cert-allowed-hostname,
 * --cipher-suites, and the --peer-* twins).
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
import { cipherOptions } from "./cipher_suites.ts";

/** What a TLS listener needs: node:tls server options plus etcd's certificate checks. */
export interface ServerTls extends tls.TlsOptions {
  /** --*-crl-file, checked once each handshake is done (`refuseCertificates`). */
  readonly revocations?: CrlFile;
  /** Which verified certificates may connect (--*-cert-allowed-cn/hostname); absent, any. */
  readonly admits?: (cert: tls.PeerCertificate) => boolean;
}

/**
 * Makes `server` refuse, right after the handshake, a connection whose certificate the CRL
 * revokes or the allowed CN/hostname does not admit (etcd's listener checks and their
 * "rejected connection" warning). Registered first, so the connection is gone before any
 * handler reads from it. etcd refuses in the handshake; node:tls shows the certificate
 * only once it is done.
 */
export function refuseCertificates(server: tls.Server, opts: ServerTls): void {
  const { revocations: crl, admits } = opts;
  if (crl === undefined && admits === undefined) return;
  server.prependListener("secureConnection", (socket: tls.TLSSocket) => {
    const revoked = crl?.refusal(socket) ?? null;
    if (revoked !== null) {
      log.warn("rejected connection", {
        "remote-addr": `${socket.remoteAddress}:${socket.remotePort}`,
        "server-name": serverName(socket),
        error: revoked,
      });
      return socket.destroy();
    }
    if (admits === undefined) return;
    const cert = socket.getPeerCertificate();
    if (admits(cert)) return;
    const names = (cert.subjectaltname ?? "").split(", ");
    log.warn("rejected connection", {
      "remote-addr": `${socket.remoteAddress}:${socket.remotePort}`,
      "server-name": serverName(socket),
      "ip-addresses": names.filter((n) => n.startsWith("IP Address:")).map((n) => n.slice(11)),
      "dns-names": names.filter((n) => n.startsWith("DNS:")).map((n) => n.slice(4)),
      error: "client certificate authentication failed",
    });
    socket.destroy();
  });
}

function serverName(socket: tls.TLSSocket): string {
  return (socket as { servername?: string | false }).servername || "";
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
  Object.assign(out, cipherOptions(flags.ciphers));
  if (flags.trustedCaFile !== "") out.ca = read("trusted CA", flags.trustedCaFile);
  // etcd 3.4 asks for a client certificate whenever it has a CA to check one with
  // (TLSInfo.ServerConfig), --client-cert-auth or not; the flag adds the CN as auth user.
  if (flags.clientCertAuth || flags.trustedCaFile !== "") {
    // Go's RequireAndVerifyClientCert: no certificate, or one the CA did not sign, is refused.
    out.requestCert = true;
    out.rejectUnauthorized = true;
  }
  const admits = certificateFilter(flags);
  return {
    ...out,
    ...(admits === null ? {} : { admits }),
    ...(flags.crlFile === "" ? {} : { revocations: new CrlFile(flags.crlFile) }),
  };
}

/**
 * etcd's --peer-cert-allowed-cn, --peer-cert-allowed-hostname and
 * --client-cert-allowed-hostname: which verified certificates a port admits (on the peer
 * port, so that a client certificate from the same CA does not pass for a member's). Null when any certificate the CA signed will do. Throws, as
 * etcd refuses to start, when both are given.
 */
function certificateFilter(flags: TlsFlags): ((cert: tls.PeerCertificate) => boolean) | null {
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
  if (url.protocol !== "https:" && url.protocol !== "unixs:") {
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
