/**
 * The proxy's HTTP/1.1 side, as etcd 3.4's grpc-proxy serves it on the same port:
 * /metrics relays the first endpoint's /metrics, /health is true when a range through the
 * proxy's client succeeds (or is refused for permission: the cluster answered). Plus
 * /proxy/metrics, the proxy's own counts (etcd 3.5 serves them there).
 */
import type { Client } from "../../client/client.ts";
import { GrpcError } from "../../client/status.ts";
import { KV } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { WatchStats } from "./watch.ts";
import type { RangeCache } from "./cache.ts";

export interface ProxyHttpDeps {
  readonly client: Client;
  readonly endpoints: readonly string[];
  readonly watches: WatchStats;
  readonly cache: RangeCache;
  /** Client keep-alives answered by another client's upstream keep-alive. */
  readonly keepAlivesCoalesced: () => number;
}

const NOT_FOUND = () =>
  new Response("404 page not found\n", { status: 404, headers: { "content-type": "text/plain" } });

function ownMetrics(w: WatchStats, cache: RangeCache, keepAlives: number): string {
  return [
    "# HELP etcdts_grpc_proxy_keepalives_coalescing_total Total number of lease keep-alives answered without one of their own upstream",
    "# TYPE etcdts_grpc_proxy_keepalives_coalescing_total counter",
    `etcdts_grpc_proxy_keepalives_coalescing_total ${keepAlives}`,
    "# HELP etcd_grpc_proxy_cache_hits_total Total number of cache hits",
    "# TYPE etcd_grpc_proxy_cache_hits_total gauge",
    `etcd_grpc_proxy_cache_hits_total ${cache.hits}`,
    "# HELP etcd_grpc_proxy_cache_keys_total Total number of keys/ranges cached",
    "# TYPE etcd_grpc_proxy_cache_keys_total gauge",
    `etcd_grpc_proxy_cache_keys_total ${cache.size}`,
    "# HELP etcd_grpc_proxy_cache_misses_total Total number of cache misses",
    "# TYPE etcd_grpc_proxy_cache_misses_total gauge",
    `etcd_grpc_proxy_cache_misses_total ${cache.misses}`,
    "# HELP etcd_grpc_proxy_events_coalescing_total Total number of events coalescing",
    "# TYPE etcd_grpc_proxy_events_coalescing_total counter",
    `etcd_grpc_proxy_events_coalescing_total ${w.eventsCoalescing}`,
    "# HELP etcd_grpc_proxy_watchers_coalescing_total Total number of current watchers coalescing",
    "# TYPE etcd_grpc_proxy_watchers_coalescing_total gauge",
    `etcd_grpc_proxy_watchers_coalescing_total ${w.watchersCoalescing()}`,
    "",
  ].join("\n");
}

async function healthy(client: Client): Promise<boolean> {
  try {
    await client.service(KV).range({ key: new TextEncoder().encode("a") }, { timeoutMs: 1000 });
    return true;
  } catch (e) {
    return e instanceof GrpcError && e.message === "etcdserver: permission denied";
  }
}

export function proxyHttp(deps: ProxyHttpDeps): (req: Request) => Promise<Response> {
  const upstream = /^https?:\/\//.test(deps.endpoints[0]) ? deps.endpoints[0] : `http://${deps.endpoints[0]}`;
  return async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/proxy/metrics") {
      return new Response(ownMetrics(deps.watches, deps.cache, deps.keepAlivesCoalesced()), {
        headers: { "content-type": "text/plain; version=0.0.4" },
      });
    }
    if (path === "/metrics") {
      try {
        const r = await fetch(`${upstream}/metrics`);
        return new Response(await r.text(), { headers: { "content-type": "text/plain; version=0.0.4" } });
      } catch {
        return new Response("Internal server error\n", { status: 500 });
      }
    }
    if (path === "/health") {
      return Response.json({ health: String(await healthy(deps.client)) });
    }
    return NOT_FOUND();
  };
}
