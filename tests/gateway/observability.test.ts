/**
 * /metrics (parsed with a Prometheus text-format parser), --listen-metrics-urls, /health,
 * /livez and /readyz on a running etcdts: healthy, and a member without a leader; /health
 * against the real etcd 3.4 too (methods, and a member that lost its quorum).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { cleanup, CONFORMANCE_TARGETS, freePort, type ServerProcess, startServer } from "../harness.ts";
import { b64, post } from "./http.ts";

afterAll(cleanup);

function metricsOf(text: string) {
  return new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
}

describe("metrics and probes on a healthy member", () => {
  let server: ServerProcess;
  let metricsUrl: string;

  beforeAll(async () => {
    metricsUrl = `http://127.0.0.1:${await freePort()}`;
    server = await startServer("etcdts", { extraArgs: ["--listen-metrics-urls", metricsUrl] });
  });

  test("/metrics parses and has etcd's names, types and values", async () => {
    for (let i = 0; i < 5; i++) {
      await post(`${server.clientUrl}/v3/kv/put`, { key: b64(`m${i}`), value: b64("v") });
    }
    await post(`${server.clientUrl}/v3/kv/put`, {});
    const r = await fetch(`${server.clientUrl}/metrics`);
    expect(r.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const m = metricsOf(await r.text());
    const value = (name: string) => Number(m.get(name)!.metrics[0].value);
    for (
      const name of [
        "etcd_server_has_leader",
        "etcd_server_leader_changes_seen_total",
        "etcd_server_proposals_committed_total",
        "etcd_server_proposals_applied_total",
        "etcd_server_proposals_pending",
        "etcd_server_proposals_failed_total",
        "etcd_mvcc_db_total_size_in_bytes",
        "etcd_mvcc_db_total_size_in_use_in_bytes",
        "etcd_disk_wal_fsync_duration_seconds",
        "etcd_disk_backend_commit_duration_seconds",
        // etcd_network_peer_round_trip_time_seconds: not on a lone member (no peer measured), as in etcd.
        "grpc_server_handled_total",
        "etcd_debugging_mvcc_keys_total",
        "process_resident_memory_bytes",
      ]
    ) expect(m.has(name) ? name : `missing ${name}`).toBe(name);
    expect(value("etcd_server_has_leader")).toBe(1);
    expect(value("etcd_server_leader_changes_seen_total")).toBeGreaterThanOrEqual(1);
    expect(value("etcd_debugging_mvcc_keys_total")).toBe(5);
    expect(value("etcd_server_proposals_applied_total")).toBeGreaterThanOrEqual(6);
    expect(value("etcd_mvcc_db_total_size_in_bytes")).toBeGreaterThan(0);
    expect(m.get("etcd_disk_wal_fsync_duration_seconds")!.type).toBe("HISTOGRAM");
    expect(Number(m.get("etcd_disk_wal_fsync_duration_seconds")!.metrics[0].count)).toBeGreaterThanOrEqual(5);
    const handled = m.get("grpc_server_handled_total")!.metrics;
    const puts = (code: string) =>
      handled.find((s) => s.labels!.grpc_method === "Put" && s.labels!.grpc_code === code);
    expect(puts("OK")).toMatchObject({
      value: "5",
      labels: { grpc_type: "unary", grpc_service: "etcdserverpb.KV", grpc_method: "Put", grpc_code: "OK" },
    });
    expect(puts("InvalidArgument")!.value).toBe("1");
  });

  test("--listen-metrics-urls serves /metrics and /health on its own port", async () => {
    const m = metricsOf(await (await fetch(`${metricsUrl}/metrics`)).text());
    expect(m.get("etcd_server_has_leader")!.metrics[0].value).toBe("1");
    expect(await (await fetch(`${metricsUrl}/health`)).json()).toEqual({ health: "true" });
    expect((await fetch(`${metricsUrl}/v3/kv/range`, { method: "POST", body: "{}" })).status).toBe(404);
  });

  test("/livez and /readyz: ok, verbose lists checks, exclude, per-check paths, GET only", async () => {
    const get = async (p: string) => {
      const r = await fetch(server.clientUrl + p);
      return `${r.status} ${await r.text()}`;
    };
    expect(await get("/livez")).toBe("200 ok\n");
    expect(await get("/readyz")).toBe("200 ok\n");
    expect(await get("/livez?verbose")).toBe("200 [+]serializable_read ok\nok\n");
    expect(await get("/readyz?verbose&exclude=linearizable_read")).toBe(
      "200 [+]data_corruption ok\n[+]serializable_read ok\n[+]non_learner ok\nok\n",
    );
    expect(await get("/readyz/linearizable_read?verbose")).toBe("200 [+]linearizable_read ok\nok\n");
    const postLivez = await fetch(`${server.clientUrl}/livez`, { method: "POST" });
    expect(postLivez.status).toBe(405);
    expect(postLivez.headers.get("allow")).toBe("GET");
  });

  test("/health counts into etcd_server_health_success", async () => {
    await fetch(`${server.clientUrl}/health`);
    const m = metricsOf(await (await fetch(`${server.clientUrl}/metrics`)).text());
    expect(Number(m.get("etcd_server_health_success")!.metrics[0].value)).toBeGreaterThanOrEqual(1);
  });
});

describe("probes on a member without a leader", () => {
  test("not ready, it answers only on --listen-metrics-urls: /health false, serializable health and /livez true", async () => {
    const peer = `http://127.0.0.1:${await freePort()}`;
    const absent = `http://127.0.0.1:${await freePort()}`;
    const metricsUrl = `http://127.0.0.1:${await freePort()}`;
    const server = await startServer("etcdts", {
      healthCheck: "tcp",
      extraArgs: [
        "--name",
        "a",
        "--listen-peer-urls",
        peer,
        "--initial-advertise-peer-urls",
        peer,
        "--initial-cluster",
        `a=${peer},b=${absent}`,
        "--listen-metrics-urls",
        metricsUrl,
      ],
    });
    // As etcd, a member that has not published itself serves no client request.
    const early = await fetch(`${server.clientUrl}/health`, { signal: AbortSignal.timeout(500) }).catch((e) =>
      e
    );
    expect(early).toBeInstanceOf(Error);
    const h = await fetch(`${metricsUrl}/health`);
    expect(h.status).toBe(503);
    expect(await h.text()).toBe('{"health":"false"}\n');
    expect((await fetch(`${metricsUrl}/health?serializable=true`)).status).toBe(200);
    expect((await fetch(`${metricsUrl}/livez`)).status).toBe(200);
    const m = metricsOf(await (await fetch(`${metricsUrl}/metrics`)).text());
    expect(m.get("etcd_server_has_leader")!.metrics[0].value).toBe("0");
    expect(Number(m.get("etcd_server_health_failures")!.metrics[0].value)).toBe(1);
    expect(server.stderr()).toContain('"msg":"serving /health false","reason":"RAFT NO LEADER"');
  });
});

for (const kind of CONFORMANCE_TARGETS) {
  describe(`/health on ${kind}`, () => {
    test("GET only; false once the member lost its quorum", async () => {
      const [pa, pb] = [`http://127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`];
      const member = (name: string, peer: string) =>
        startServer(kind, {
          healthCheck: "tcp",
          extraArgs: [
            ...["--name", name, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer],
            ...[
              "--initial-cluster",
              `a=${pa},b=${pb}`,
              "--heartbeat-interval",
              "50",
              "--election-timeout",
              "500",
            ],
          ],
        });
      const [a, b] = await Promise.all([member("a", pa), member("b", pb)]);
      const health = async (query = "", method = "GET") => {
        const r = await fetch(`${a.clientUrl}/health${query}`, { method, signal: AbortSignal.timeout(5000) });
        return `${r.status} ${r.headers.get("allow") ?? "-"} ${await r.text()}`;
      };
      for (let i = 0; (await health()) !== '200 - {"health":"true"}'; i++) {
        if (i === 100) expect(await health()).toBe('200 - {"health":"true"}');
        await Bun.sleep(100);
      }
      for (const method of ["POST", "HEAD"]) {
        expect(await health("", method)).toBe(`405 GET ${method === "HEAD" ? "" : "Method Not Allowed\n"}`);
      }
      await b.kill9();
      // Both say only false (tools match that body); etcdts honours 3.5's ?serializable=true.
      const down = '{"health":"false"}\n';
      for (let i = 0; (await health()) !== `503 - ${down}`; i++) {
        if (i === 100) expect(await health()).toBe(`503 - ${down}`);
        await Bun.sleep(100);
      }
      expect(await health("?serializable=true")).toBe(
        kind === "etcd" ? `503 - ${down}` : '200 - {"health":"true"}',
      );
    }, 60_000);
  });
}
