/**
 * How a member reaches a peer URL: TCP for http:// and https://, and for unix:// and
 * unixs:// the socket file named by the URL's host:port (as etcd's peer transport dials
 * it, and as the peer listener names it: server/listen.ts). One place for the fetches
 * (membership, snapshots, forwarded requests) and the raw message stream.
 */
import * as net from "node:net";
import * as tls from "node:tls";
import { isSecure } from "./listen.ts";

/** Bun fetch's `tls` option for https peers: our certificate, the CA to check peers with. */
export interface PeerClientTls {
  cert?: Buffer;
  key?: Buffer;
  ca?: Buffer;
  rejectUnauthorized: boolean;
  /** --cipher-suites as OpenSSL names: what we offer a TLS 1.2 peer (TLS 1.3 has its own). */
  ciphers?: string;
  /** TLS 1.3 only, when --cipher-suites named only TLS 1.3 suites. */
  minVersion?: "TLSv1.3";
}

function isUnix(url: URL): boolean {
  return url.protocol === "unix:" || url.protocol === "unixs:";
}

/** fetch `url` (a peer URL plus a path) over TCP or the peer's unix socket. */
export function peerFetch(url: string, init: RequestInit, clientTls?: PeerClientTls): Promise<Response> {
  const u = new URL(url);
  const withTls = isSecure(u) && clientTls !== undefined ? { tls: clientTls } : {};
  if (!isUnix(u)) return fetch(url, { ...init, ...withTls } as RequestInit);
  const overSocket = `${isSecure(u) ? "https" : "http"}://localhost${u.pathname}${u.search}`;
  return fetch(overSocket, { ...init, ...withTls, unix: u.host } as RequestInit & { unix: string });
}

/** A raw connection to a peer URL; `onConnect` runs once it is up (after the TLS handshake). */
export function peerSocket(
  url: URL,
  clientTls: PeerClientTls | undefined,
  onConnect: () => void,
): net.Socket {
  const at = isUnix(url) ? { path: url.host } : {
    host: url.hostname.replace(/^\[|\]$/g, ""),
    port: Number(url.port || (url.protocol === "https:" ? 443 : 80)),
  };
  return isSecure(url)
    ? tls.connect({ ...at, ...clientTls, ALPNProtocols: ["http/1.1"] }, onConnect)
    : net.connect(at, onConnect);
}
