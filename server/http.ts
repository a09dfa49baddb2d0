/**
 * The HTTP face of the client port (hono), over HTTP/1.1 and HTTP/2 alike: etcd's
 * /health and /version, CORS and preflights, the 404 fallback; `extend` adds the JSON
 * gateway, probes, metrics and console.
 */
import { Hono } from "hono";
import { CLUSTER_VERSION, SERVER_VERSION } from "../api/version.ts";
import { log } from "./log.ts";
import { type HealthQuery, httpError, methodNotAllowed } from "./health.ts";

export interface HttpDeps {
  /** Null when healthy, else the reason (no leader, an alarm); `q` is /health's query. */
  readonly unhealthyReason: (q: HealthQuery) => string | null | Promise<string | null>;
  /** Told each /health verdict (metrics). */
  readonly onHealth?: (healthy: boolean) => void;
  /** Adds more routes (gateway, probes, metrics, console) before the 404 fallback. */
  readonly extend?: (app: Hono) => void;
}

export function httpApp(deps: HttpDeps): Hono {
  const app = new Hono();
  app.use("*", async (c, next) => {
    // etcd's access controller answers every preflight itself, whatever the path.
    if (c.req.method !== "OPTIONS") await next();
    else c.res = new Response(null, { status: 200 });
    c.header("Access-Control-Allow-Origin", "*");
    c.header("Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE");
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
