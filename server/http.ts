/**
 * The HTTP face of the client port (hono), over HTTP/1.1 and HTTP/2 alike: etcd's
 * /health and /version, CORS and preflights, the 404 fallback; `extend` adds the JSON
 * gateway, probes, metrics and console.
 */
import { Hono } from "hono";
import { CLUSTER_VERSION, SERVER_VERSION } from "../api/version.ts";
import { log } from "./log.ts";
import { type HealthQuery, httpError, methodNotAllowed } from "./health.ts";

/** etcd's access controller settings (--cors, --host-whitelist); an empty set allows all. */
export interface AccessPolicy {
  readonly cors: ReadonlySet<string>;
  readonly hosts: ReadonlySet<string>;
}

export interface HttpDeps {
  /** The client port's access control; without it (the metrics port) every origin and host is fine. */
  readonly access?: AccessPolicy;
  /** Null when healthy, else the reason (no leader, an alarm); `q` is /health's query. */
  readonly unhealthyReason: (q: HealthQuery) => string | null | Promise<string | null>;
  /** Told each /health verdict (metrics). */
  readonly onHealth?: (healthy: boolean) => void;
  /** Adds more routes (gateway, probes, metrics, console) before the 404 fallback. */
  readonly extend?: (app: Hono) => void;
}

/** etcd's AccessController: an empty list or "*" allows everything. */
function allows(set: ReadonlySet<string>, value: string): boolean {
  return set.size === 0 || set.has("*") || set.has(value);
}

function isSecure(env: unknown): boolean {
  const socket = (env as { incoming?: { socket?: { encrypted?: boolean } } } | undefined)?.incoming?.socket;
  return socket?.encrypted === true;
}

/** Go's httputil.GetHostname: the Host without its port (as given when it has none). */
function hostnameOf(host: string): string {
  const m = /^\[([^\]]*)\]:\d*$/.exec(host) ?? /^([^:]*):\d*$/.exec(host);
  return m === null ? host : m[1];
}

/** etcd's errCVE20185702 text. */
function dnsRebindingText(host: string): string {
  return `
etcd received your request, but the Host header was unrecognized.

To fix this, choose one of the following options:
- Enable TLS, then any HTTPS request will be allowed.
- Add the hostname you want to use to the whitelist in settings.
  - e.g. etcd --host-whitelist ${JSON.stringify(host)}

This requirement has been added to help prevent "DNS Rebinding" attacks (CVE-2018-5702).
`;
}

export function httpApp(deps: HttpDeps): Hono {
  const app = new Hono();
  const access = deps.access;
  app.use("*", async (c, next) => {
    // etcd's access controller: a plain-HTTP request must name an allowed host (DNS
    // rebinding protection), TLS ones need not.
    if (access !== undefined && !isSecure(c.env)) {
      const host = hostnameOf(c.req.header("host") ?? new URL(c.req.url).host);
      if (!allows(access.hosts, host)) {
        log.warn("rejecting HTTP request to prevent DNS rebinding attacks", { host });
        return httpError(dnsRebindingText(host), 421);
      }
    }
    // It answers every preflight itself, whatever the path.
    if (c.req.method !== "OPTIONS") await next();
    else c.res = new Response(null, { status: 200 });
    const origin = access === undefined || allows(access.cors, "*") ? "*" : c.req.header("origin") ?? "";
    if (access !== undefined && origin !== "*" && !access.cors.has(origin)) return;
    c.header("Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE");
    c.header("Access-Control-Allow-Origin", origin);
    c.header("Access-Control-Allow-Headers", "accept, content-type, authorization");
  });
  // etcd answers only GET here (HEAD too is 405); a failed check is an http.Error.
  app.all("/health", async (c) => {
    if (c.req.method !== "GET") return methodNotAllowed();
    const exclude = new Set(c.req.queries("exclude")?.filter((s) => s !== "") ?? []);
    const reason = await deps.unhealthyReason({
      serializable: c.req.query("serializable") === "true",
      exclude,
    });
    deps.onHealth?.(reason === null);
    if (reason !== null) {
      // etcd 3.4's body, which tools match byte for byte; the reason goes to the log, as 3.5 logs it.
      log.warn("serving /health false", { reason });
      return httpError(JSON.stringify({ health: "false" }), 503);
    }
    c.header("Content-Type", "text/plain; charset=utf-8");
    return c.body(JSON.stringify({ health: "true" }), 200);
  });
  app.all("/version", (c) => {
    if (c.req.method !== "GET") return methodNotAllowed();
    return c.json({ etcdserver: SERVER_VERSION, etcdcluster: CLUSTER_VERSION });
  });
  deps.extend?.(app);
  // Go's http.NotFound, /v3alpha/ included: etcd 3.4 no longer serves that prefix.
  app.notFound((c) => {
    c.header("Content-Type", "text/plain; charset=utf-8");
    c.header("X-Content-Type-Options", "nosniff");
    return c.body("404 page not found\n", 404);
  });
  return app;
}
