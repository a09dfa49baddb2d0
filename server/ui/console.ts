/**
 * The web console at /ui: one self-contained page (no CDN, works offline) embedded in the
 * binary at build time, its script bundled from app/ by a macro. The page uses only the
 * JSON gateway (so auth applies to it as to any client), /metrics' history at /ui/metrics,
 * and other members' gateways for their status.
 */
import type { Hono } from "hono";
import page from "./console.html" with { type: "text" };
import { consoleScript } from "./bundle.ts" with { type: "macro" };
import type { Registry } from "../metrics/exposition.ts";
import { MetricsHistory, metricsHistoryRoute } from "./metrics_history.ts";

// bun-types describe .html imports as bundles for Bun.serve; with type "text" it is the text.
const HTML = (page as unknown as string).replace("/*CONSOLE_SCRIPT*/", () => consoleScript());

const HEADERS = {
  "Content-Type": "text/html; charset=utf-8",
  "Cache-Control": "no-cache",
  // connect-src reaches the other members' gateways (their status, defragment).
  "Content-Security-Policy":
    "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:; " +
    "connect-src 'self' http: https:",
  "X-Content-Type-Options": "nosniff",
} as const;

export interface ConsoleOptions {
  /** The member's metrics, sampled for the charts' history. */
  readonly registry?: Registry;
  /** Stops the sampling. */
  readonly stopping?: AbortSignal;
}

/** Registers /ui and, with a registry, /ui/metrics. */
export function consoleRoutes(app: Hono, opts: ConsoleOptions = {}): void {
  const serve = () => new Response(HTML, { headers: HEADERS });
  app.get("/ui", serve);
  app.get("/ui/", serve);
  if (opts.registry !== undefined) {
    const history = new MetricsHistory(opts.registry);
    history.start(opts.stopping);
    metricsHistoryRoute(app, history);
  }
}
