/**
 * Bootstrapping from discovery: a member without a log asks --discovery-srv's SRV records,
 * v3 discovery (--discovery-token) or a v2 discovery URL for its initial cluster, and logs
 * a failure as etcd does.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { ServerConfig } from "../config.ts";
import type { V3DiscoveryConfig } from "./v3.ts";
import { memberId } from "../ids.ts";
import { log } from "../log.ts";
import { Wal } from "../../wal/wal.ts";

/**
 * The configuration with its initial cluster from discovery (--discovery-srv's SRV
 * records, or v3 discovery) for a member without a log, as etcd consults discovery only to
 * bootstrap; null, logged as etcd logs it, when discovery failed.
 */
export async function discoveredConfig(config: ServerConfig): Promise<ServerConfig | null> {
  if (config.discoverySrv === "" && config.discoveryV3 === null && config.discoveryUrl === "") return config;
  if (Wal.exists(config.walDir || path.join(config.dataDir, "member", "wal"))) return config;
  if (config.discoveryV3 !== null) return await v3DiscoveredConfig(config, config.discoveryV3);
  if (config.discoveryUrl !== "") return await v2DiscoveredConfig(config);
  const { clusterFromSrv } = await import("./srv.ts");
  const cluster = await clusterFromSrv({
    name: config.name,
    domain: config.discoverySrv,
    serviceName: config.discoverySrvName,
    selfPeerUrls: config.initialAdvertisePeerUrls,
    env: process.env,
  });
  if (!(cluster instanceof Error)) return { ...config, initialCluster: cluster };
  log.warn("failed to start etcd", { error: cluster.message });
  log.fatal("discovery failed", { error: cluster.message });
  return null;
}

async function v3DiscoveredConfig(config: ServerConfig, v3: V3DiscoveryConfig): Promise<ServerConfig | null> {
  const { joinDiscoveryCluster } = await import("./v3.ts");
  log.info("Bootstrapping cluster using v3 discovery.");
  const joined = await joinDiscoveryCluster(
    v3,
    ownId(config),
    selfEntry(config),
    (f) => fs.readFileSync(f, "utf8"),
  );
  const cluster = joined instanceof Error ? joined : clusterFromDiscovery(joined);
  if (!(cluster instanceof Error)) return { ...config, initialCluster: cluster };
  const error = `failed to join discovery cluster (${cluster.message})`;
  log.warn("failed to start etcd", { error });
  log.warn("failed to bootstrap; discovery token was already used", { "discovery-token": "", error });
  log.warn("do not reuse discovery token; generate a new one to bootstrap a cluster");
  return null;
}

async function v2DiscoveredConfig(config: ServerConfig): Promise<ServerConfig | null> {
  const v2 = await import("./v2.ts");
  const joined = await v2.joinV2Discovery(
    config.discoveryUrl,
    config.discoveryProxy,
    ownId(config),
    selfEntry(config),
  );
  const cluster = joined instanceof Error ? joined : clusterFromDiscovery(joined);
  if (!(cluster instanceof Error)) return { ...config, initialCluster: cluster };
  const error = `failed to join discovery cluster (${cluster.message})`;
  const token = { "discovery-token": config.discoveryUrl };
  if (cluster.message === v2.ERR_FULL_CLUSTER && config.discoveryFallback === "proxy") {
    log.warn("discovery cluster is full, falling back to proxy", { "fallback-proxy": "proxy", error });
    log.fatal("discovery failed", {
      error: "etcdts has no v2 proxy to fall back to; start this member with --discovery-fallback=exit, " +
        "or add it to the running cluster with member add and --initial-cluster-state existing",
    });
    return null;
  }
  log.warn("failed to start etcd", { error });
  if (cluster.message === v2.ERR_DUPLICATE_ID) {
    log.warn("member has been registered with discovery service", { name: config.name, ...token, error });
    log.warn("but could not find valid cluster configuration", { "data-dir": config.dataDir });
    log.warn("check data dir if previous bootstrap succeeded");
    log.warn("or use a new discovery token if previous bootstrap failed");
  } else if (cluster.message === v2.ERR_DUPLICATE_NAME) {
    log.warn("member with duplicated name has already been registered", { ...token, error });
    log.warn("cURL the discovery token URL for details");
    log.warn("do not reuse discovery token; generate a new one to bootstrap a cluster");
  } else {
    log.warn("failed to bootstrap; discovery token was already used", { ...token, error });
    log.warn("do not reuse discovery token; generate a new one to bootstrap a cluster");
  }
  return null;
}

/** This member's ID in hex as discovery keys it (types.ID.String()). */
function ownId(config: ServerConfig): string {
  return memberId(config.initialAdvertisePeerUrls, { clusterToken: config.initialClusterToken }).toString(16);
}

/** types.URLsMap.String() of this member alone: its "name=url" pairs, sorted. */
function selfEntry(config: ServerConfig): string {
  return config.initialAdvertisePeerUrls.map((u) => `${config.name}=${u}`).sort().join(",");
}

/** The initial cluster discovery returned ("name=url,..."), refused with a URL twice. */
function clusterFromDiscovery(text: string): Map<string, string[]> | Error {
  const cluster = new Map<string, string[]>();
  const seen = new Set<string>();
  for (const pair of text.split(",")) {
    const eq = pair.indexOf("=");
    const [name, url] = [pair.slice(0, eq), pair.slice(eq + 1)];
    if (seen.has(url)) return new Error(`discovery cluster ${text} has duplicate url`);
    seen.add(url);
    cluster.set(name, [...(cluster.get(name) ?? []), url]);
  }
  return cluster;
}
