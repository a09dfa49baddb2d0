/**
 * The web console at /ui: one self-contained page (no CDN, works offline) embedded in the
 * binary at build time. It uses only the JSON gateway and /metrics, like any other client.
 */
import type { Hono } from "hono";
import page from "./console.html" with { type: "text" };

// bun-types describe .html imports as bundles for Bun.serve; with type "text" it is the text.
const HTML = page as unknown as string;

/** Registers /ui. */
export function consoleRoutes(app: Hono): void {
  const serve = () =>
    new Response(HTML, {
      headers: {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-cache",
        "Content-Security-Policy":
          "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:",
        "X-Content-Type-Options": "nosniff",
      },
    });
  app.get("/ui", serve);
  app.get("/ui/", serve);
}
