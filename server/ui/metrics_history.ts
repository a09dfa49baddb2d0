/**
 * The console's charts need a past: Prometheus keeps one, but a console opened on a quiet
 * cluster with nothing but /metrics would show empty charts until traffic comes. So the
 * member samples a few of its own counters every few seconds into a ring (15 minutes),
 * which /ui/metrics serves as JSON; the page turns the counters into rates.
 */
import type { Hono } from "hono";
import type { Registry } from "../metrics/exposition.ts";

/** What each sample holds, in this order after its time (ms since the epoch). */
export const SAMPLED = [
  "grpc_server_handled_total",
  "grpc_server_handling_seconds_sum",
  "grpc_server_handling_seconds_count",
  "etcd_debugging_mvcc_current_revision",
  "etcd_debugging_mvcc_keys_total",
  "etcd_mvcc_db_total_size_in_bytes",
  "etcd_mvcc_db_total_size_in_use_in_bytes",
] as const;

export interface HistoryOptions {
  readonly intervalMs?: number;
  readonly keep?: number;
  /** Sampling stops when this aborts (the server stopping). */
  readonly stopping?: AbortSignal;
  readonly now?: () => number;
}

/** A ring of samples of the registry's counters. */
export class MetricsHistory {
  readonly intervalMs: number;
  readonly #keep: number;
  readonly #samples: number[][] = [];
  readonly #registry: Registry;
  readonly #now: () => number;

  constructor(registry: Registry, opts: HistoryOptions = {}) {
    this.#registry = registry;
    this.intervalMs = opts.intervalMs ?? 3000;
    this.#keep = opts.keep ?? 300;
    this.#now = opts.now ?? Date.now;
  }

  /** Samples now and then every interval until `stopping` aborts. */
  start(stopping?: AbortSignal): void {
    if (stopping?.aborted) return;
    this.sample();
    const timer = setInterval(() => this.sample(), this.intervalMs);
    timer.unref?.();
    stopping?.addEventListener("abort", () => clearInterval(timer), { once: true });
  }

  /** Takes one sample. */
  sample(): void {
    const sums = sumSamples(this.#registry.expose({ internal: true }), SAMPLED);
    this.#samples.push([this.#now(), ...SAMPLED.map((name) => sums.get(name) ?? 0)]);
    if (this.#samples.length > this.#keep) this.#samples.shift();
  }

  /** The samples taken after `after` (ms since the epoch), oldest first. */
  since(after: number): number[][] {
    let i = this.#samples.length;
    while (i > 0 && this.#samples[i - 1][0] > after) i--;
    return this.#samples.slice(i);
  }
}

/** The sum over all label sets of each named metric in a text exposition. */
export function sumSamples(text: string, names: readonly string[]): Map<string, number> {
  const wanted = new Set(names);
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const end = line.search(/[{ ]/);
    const name = line.slice(0, end);
    if (!wanted.has(name)) continue;
    const v = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (Number.isFinite(v)) out.set(name, (out.get(name) ?? 0) + v);
  }
  return out;
}

/** Registers GET /ui/metrics?after=<ms>: {intervalMs, fields, samples}. */
export function metricsHistoryRoute(app: Hono, history: MetricsHistory): void {
  app.get("/ui/metrics", (c) => {
    const after = Number(c.req.query("after") ?? 0);
    return c.json({
      intervalMs: history.intervalMs,
      fields: ["time", ...SAMPLED],
      samples: history.since(Number.isFinite(after) ? after : 0),
    });
  });
}
