/**
 * `--discovery-srv`: the initial cluster of a new member from DNS SRV records, as etcd's
 * Config.PeerURLsMapAndToken and GetDNSClusterNames build it.
 */
import { getCluster, srvResolver } from "../../lib/srv.ts";
import { log } from "../log.ts";

/**
 * name → peer URLs from `_etcd-server-ssl[-NAME]._tcp.DOMAIN` (https) and
 * `_etcd-server[-NAME]._tcp.DOMAIN` (http), combined; this member must be among them.
 */
export async function clusterFromSrv(
  opts: {
    name: string;
    domain: string;
    serviceName: string;
    selfPeerUrls: readonly string[];
    env: Record<string, string | undefined>;
  },
): Promise<Map<string, string[]> | Error> {
  const r = srvResolver(opts.env);
  const suffix = opts.serviceName !== "" ? `-${opts.serviceName}` : "";
  const found: string[] = [];
  const errors: Error[] = [];
  const kinds = [["https", "etcd-server-ssl"], ["http", "etcd-server"]] as const;
  for (const [scheme, base] of kinds) {
    const service = base + suffix;
    const parts = await getCluster(r, {
      scheme,
      service,
      name: opts.name,
      domain: opts.domain,
      selfPeerUrls: opts.selfPeerUrls,
    });
    if (parts instanceof Error) errors.push(parts);
    else found.push(...parts);
    log.info(`get cluster for ${base} SRV`, {
      "service-scheme": scheme,
      "service-name": service,
      "server-name": opts.name,
      "discovery-srv": opts.domain,
      "advertise-peer-urls": opts.selfPeerUrls,
      "found-cluster": found,
      ...(parts instanceof Error ? { error: parts.message } : {}),
    });
  }
  // etcd 3.4.23 reads only the https records (it drops the http ones, and fails without https
  // ones); etcd 3.5 fixed that by combining both, as this does. Only both failing is an error.
  if (errors.length === 2) {
    log.warn("failed to resolve during SRV discovery", { error: errors[0].message });
    return errors[0];
  }
  const cluster = new Map<string, string[]>();
  for (const part of found) {
    log.info("got bootstrap from DNS for etcd-server", { node: part });
    const eq = part.indexOf("=");
    const name = part.slice(0, eq);
    cluster.set(name, [...(cluster.get(name) ?? []), part.slice(eq + 1)]);
  }
  if (!cluster.has(opts.name)) {
    return new Error(`cannot find local etcd member "${opts.name}" in SRV records`);
  }
  return cluster;
}
