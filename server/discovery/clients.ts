/**
 * A cluster's client endpoints from DNS SRV for `grpc-proxy start` and `gateway start`, as
 * etcdmain's discoverEndpoints finds them: the `_etcd-client-ssl` and `_etcd-client`
 * records (with `-NAME` for --discovery-srv-name) under the domain. Without
 * --insecure-discovery only https endpoints whose certificate verifies for the domain are
 * kept: each is dialed once, as etcd's transport.ValidateSecureEndpoints does.
 */
import * as fs from "node:fs";
import * as tls from "node:tls";
import { getClient, srvResolver } from "../../lib/srv.ts";
import { log } from "../log.ts";

/** etcd's ValidateSecureEndpoints dials through a transport with a 5 s timeout. */
const VALIDATE_DIAL_MS = 5000;

export interface ClientDiscovery {
  readonly domain: string;
  readonly serviceName: string;
  /** --insecure-discovery: keep http endpoints and do not dial the https ones. */
  readonly insecure: boolean;
  /** The CA that verifies discovered https endpoints ("" for the system's). */
  readonly caFile: string;
  readonly env: Record<string, string | undefined>;
}

/**
 * The endpoints to use (empty: fall back to --endpoints, as etcd does), or the SRV lookup's
 * error, which etcd prints before exiting 1.
 */
export async function discoverClientEndpoints(d: ClientDiscovery): Promise<string[] | Error> {
  const found = await getClient(srvResolver(d.env), "etcd-client", d.domain, d.serviceName);
  if (found instanceof Error) return found;
  log.info("discovered cluster from SRV", { "srv-server": d.domain, endpoints: found });
  if (d.insecure) return found;
  log.info("validating discovered SRV endpoints", { "srv-server": d.domain, endpoints: found });
  const ca = d.caFile === "" ? undefined : fs.readFileSync(d.caFile, "utf8");
  const errors: string[] = [];
  const valid: string[] = [];
  for (const ep of found) {
    const why = ep.startsWith("https://") ? await dialError(ep, d.domain, ca) : "is insecure";
    if (why === null) valid.push(ep);
    else errors.push(`${JSON.stringify(ep)} ${why}`);
  }
  if (errors.length > 0) {
    log.warn("failed to validate discovered endpoints", {
      "srv-server": d.domain,
      endpoints: valid,
      error: errors.join(","),
    });
  } else {
    log.info("using validated discovered SRV endpoints", { "srv-server": d.domain, endpoints: valid });
  }
  return valid;
}

/** Null when a TLS handshake with `endpoint` verifies its certificate for `domain`. */
function dialError(endpoint: string, domain: string, ca: string | undefined): Promise<string | null> {
  const u = new URL(endpoint);
  return new Promise((resolve) => {
    const socket = tls.connect({
      // SRV targets keep their trailing dot, which getaddrinfo may not find in /etc/hosts.
      host: u.hostname.replace(/\.$/, ""),
      port: Number(u.port),
      servername: domain,
      ca,
      ALPNProtocols: ["h2"],
    });
    const done = (why: string | null) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(why);
    };
    const timer = setTimeout(() => done("failed to dial (i/o timeout)"), VALIDATE_DIAL_MS);
    socket.once("secureConnect", () => done(null));
    socket.once("error", (e) => done(`failed to dial (${e.message})`));
  });
}
