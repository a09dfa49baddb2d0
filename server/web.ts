/**
 * Everything the client port serves over HTTP besides /health and /version: the JSON
 * gateway, /livez and /readyz, /metrics and the console; and the --listen-metrics-urls
 * listeners, which serve only /metrics and the probes.
 */
import * as http from "node:http";
import type { Hono } from "hono";
import { getRequestListener } from "@hono/node-server";
import type { GrpcServer } from "./grpc/server.ts";
import { gatewayRoutes } from "./gateway/gateway.ts";
import { type HealthSource, probeRoutes, unhealthyReason } from "./health.ts";
import { EXPOSITION_CONTENT_TYPE, type Registry } from "./metrics/exposition.ts";
import { consoleRoutes } from "./ui/console.ts";
import { bind, type Listening } from "./listen.ts";
import { httpApp } from "./http.ts";

export interface WebDeps {
  readonly grpc: GrpcServer;
  readonly registry: Registry;
  readonly health: HealthSource;
  readonly countHealth: (healthy: boolean) => void;
  /** Aborts when the server stops (ends the console's metrics sampling). */
  readonly stopping?: AbortSignal;
}

/** Registers the gateway, probes, /metrics and /ui on the client port's app. */
export function clientWebRoutes(app: Hono, deps: WebDeps): void {
  gatewayRoutes(app, deps.grpc);
  observabilityRoutes(app, deps);
  consoleRoutes(app, { registry: deps.registry, stopping: deps.stopping });
}

function observabilityRoutes(app: Hono, deps: WebDeps): void {
  probeRoutes(app, deps.health);
  // promhttp answers any method.
  app.all(
    "/metrics",
    () => new Response(deps.registry.expose(), { headers: { "Content-Type": EXPOSITION_CONTENT_TYPE } }),
  );
}

/** Serves /metrics and the probes (and /version) on a --listen-metrics-urls address. */
export function listenMetrics(url: URL, deps: WebDeps): Promise<Listening> {
  const app = httpApp({
    unhealthyReason: (q) => unhealthyReason(deps.health, q),
    onHealth: deps.countHealth,
    extend: (a) => observabilityRoutes(a, deps),
  });
  const server = http.createServer(getRequestListener(app.fetch));
  return bind(server, url, { defaultPort: 80, side: "client" }).then((bound) => ({
    url: bound,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections?.();
      }),
  }));
}
