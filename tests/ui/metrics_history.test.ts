/**
 * The charts' history: the member samples its own counters into a ring that /ui/metrics
 * serves, so a console opened on an idle member still has the last minutes to draw.
 */
import { expect, test } from "bun:test";
import { Hono } from "hono";
import { Registry } from "../../server/metrics/exposition.ts";
import { MetricsHistory, metricsHistoryRoute, SAMPLED, sumSamples } from "../../server/ui/metrics_history.ts";

test("sums every label set of a metric", () => {
  const text = [
    "# HELP grpc_server_handled_total x",
    'grpc_server_handled_total{grpc_code="OK",grpc_method="Range"} 5',
    'grpc_server_handled_total{grpc_code="OK",grpc_method="Put"} 7',
    "grpc_server_handled_total_other 100",
    "etcd_debugging_mvcc_keys_total 3",
  ].join("\n");
  const sums = sumSamples(text, ["grpc_server_handled_total", "etcd_debugging_mvcc_keys_total"]);
  expect(sums.get("grpc_server_handled_total")).toBe(12);
  expect(sums.get("etcd_debugging_mvcc_keys_total")).toBe(3);
});

test("keeps the last samples and serves those after a time", async () => {
  const registry = new Registry();
  let keys = 0;
  registry.gauge("etcd_debugging_mvcc_keys_total", "keys", () => keys);
  let now = 1000;
  const history = new MetricsHistory(registry, { keep: 3, now: () => now });
  for (let i = 0; i < 5; i++) {
    keys = i * 10;
    now += 3000;
    history.sample();
  }
  const at = SAMPLED.indexOf("etcd_debugging_mvcc_keys_total") + 1;
  expect(history.since(0).map((s) => [s[0], s[at]])).toEqual([[10000, 20], [13000, 30], [16000, 40]]);
  expect(history.since(13000).map((s) => s[0])).toEqual([16000]);

  const app = new Hono();
  metricsHistoryRoute(app, history);
  const r = await (await app.request("/ui/metrics?after=10000")).json() as any;
  expect(r.fields).toEqual(["time", ...SAMPLED]);
  expect(r.samples.map((s: number[]) => s[0])).toEqual([13000, 16000]);
  expect(r.intervalMs).toBe(3000);
});

test("sampling stops with the server", () => {
  const history = new MetricsHistory(new Registry(), { intervalMs: 10 });
  const stopping = new AbortController();
  history.start(stopping.signal);
  expect(history.since(0)).toHaveLength(1);
  stopping.abort();
});
