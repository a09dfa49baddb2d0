/**
 * DNS SRV discovery, as etcd's pkg/srv: the peers a new cluster bootstraps from
 * (`_etcd-server[-ssl]._tcp.DOMAIN`, `etcd --discovery-srv`) and the client endpoints
 * etcdctl finds (`_etcd-client[-ssl]._tcp.DOMAIN`, `etcdctl --discovery-srv`).
 *
 * Lookups go to the system's resolver, or to `ETCDTS_DNS_SERVER` (`host[:port]`, several
 * comma-separated): an etcdts-only setting for split-DNS setups and tests, since the
 * system resolver cannot be pointed at a port.
 */
import dns from "node:dns";
import net from "node:net";

/** The environment variable naming the DNS server(s) SRV discovery asks. */
export const DNS_SERVER_ENV = "ETCDTS_DNS_SERVER";

/** Who answers the lookups: a resolver, and whether it replaces the system's. */
export interface SrvResolver {
  readonly resolver: dns.promises.Resolver;
  /** Set when `ETCDTS_DNS_SERVER` chose the servers; else hosts are looked up as the system does. */
  readonly custom: boolean;
}

export function srvResolver(env: Record<string, string | undefined>): SrvResolver {
  const resolver = new dns.promises.Resolver();
  const servers = (env[DNS_SERVER_ENV] ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (servers.length > 0) resolver.setServers(servers);
  return { resolver, custom: servers.length > 0 };
}

interface SrvRecord {
  readonly target: string;
  readonly port: number;
}

/** Go's `lookup NAME on SERVER: REASON` for a failed query. */
function lookupError(r: SrvResolver, name: string, e: unknown): Error {
  const server = r.resolver.getServers()[0] ?? "127.0.0.1";
  const on = /^\[.*\]:\d+$|^[^:]+:\d+$/.test(server)
    ? server
    : net.isIPv6(server)
    ? `[${server}]:53`
    : `${server}:53`;
  const code = (e as NodeJS.ErrnoException).code;
  const reason = code === "ENOTFOUND" || code === "ENODATA"
    ? "no such host"
    : code === "ETIMEOUT"
    ? "i/o timeout"
    : code === "ESERVFAIL" || code === "EREFUSED" || code === "EBADRESP" || code === "EFORMERR"
    ? "server misbehaving"
    : String(code ?? (e as Error).message);
  return new Error(`lookup ${name} on ${on}: ${reason}`);
}

/** net.LookupSRV(service, "tcp", domain): records by priority (then heavier first). */
async function lookupSrv(r: SrvResolver, service: string, domain: string): Promise<SrvRecord[] | Error> {
  const name = `_${service}._tcp.${domain}`;
  try {
    const records = await r.resolver.resolveSrv(name);
    return records
      .sort((a, b) => a.priority - b.priority || b.weight - a.weight)
      .map((s) => ({ target: s.name.replace(/\.$/, ""), port: s.port }));
  } catch (e) {
    return lookupError(r, name, e);
  }
}

/** net.ResolveTCPAddr: "ip:port" for host:port, the host's first IPv4 address preferred. */
async function resolveTcpAddr(r: SrvResolver, host: string, port: string): Promise<string | Error> {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  const join = (ip: string) => (net.isIPv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`);
  if (net.isIP(bare) !== 0) return join(bare);
  if (r.custom) {
    for (const family of ["resolve4", "resolve6"] as const) {
      const ips = await r.resolver[family](bare).catch(() => []);
      if (ips.length > 0) return join(ips[0]);
    }
  }
  // The system's way (hosts file first), as Go's resolver does: "localhost" resolves anywhere.
  try {
    const { address } = await dns.promises.lookup(bare, { family: 0, order: "ipv4first" });
    return join(address);
  } catch (e) {
    return lookupError(r, bare, e);
  }
}

function hostPort(u: URL): { host: string; port: string } {
  return { host: u.hostname, port: u.port || (u.protocol === "https:" ? "443" : "80") };
}

/**
 * pkg/srv.GetCluster: "name=scheme://target:port" for each SRV record of `service`. The
 * record that resolves to one of `selfPeerUrls` is named `name`; the others are numbered
 * from 0, as etcd names them.
 */
export async function getCluster(
  r: SrvResolver,
  opts: {
    scheme: "http" | "https";
    service: string;
    name: string;
    domain: string;
    selfPeerUrls: readonly string[];
  },
): Promise<string[] | Error> {
  const self = new Map<string, URL>();
  for (const text of opts.selfPeerUrls) {
    const u = new URL(text);
    const { host, port } = hostPort(u);
    const addr = await resolveTcpAddr(r, host, port);
    if (addr instanceof Error) return addr;
    self.set(addr, u);
  }
  const records = await lookupSrv(r, opts.service, opts.domain);
  if (records instanceof Error) {
    return new Error(`error querying DNS SRV records for _${opts.service} ${records.message}`);
  }
  const parts: string[] = [];
  let lastErr: Error | undefined;
  let unnamed = 0;
  for (const { target, port } of records) {
    const addr = await resolveTcpAddr(r, target, String(port));
    if (addr instanceof Error) {
      lastErr = addr;
      continue;
    }
    const mine = self.get(addr);
    const memberName = mine !== undefined ? opts.name : String(unnamed++);
    const urlHost = net.isIPv6(target) ? `[${target}]:${port}` : `${target}:${port}`;
    const url = `${opts.scheme}://${urlHost}`;
    if (mine !== undefined && mine.protocol !== `${opts.scheme}:`) {
      lastErr = new Error(
        `bootstrap at ${url} from DNS for ${opts.service} has scheme mismatch with expected peer ${
          mine.href.replace(/\/$/, "")
        }`,
      );
    } else {
      parts.push(`${memberName}=${url}`);
    }
  }
  if (parts.length === 0 && lastErr !== undefined) {
    return new Error(`error querying DNS SRV records for _${opts.service} ${lastErr.message}`);
  }
  return parts;
}

/** `service` with etcd's -ssl suffix for https and the optional `-serviceName` (GetSRVService). */
export function srvService(service: string, serviceName: string, scheme: "http" | "https"): string {
  const base = scheme === "https" ? `${service}-ssl` : service;
  return serviceName !== "" ? `${base}-${serviceName}` : base;
}

/**
 * pkg/srv.GetClient: the endpoints of `service` (https records first). Like Go's, each
 * target keeps its trailing dot.
 */
export async function getClient(
  r: SrvResolver,
  service: string,
  domain: string,
  serviceName: string,
): Promise<string[] | Error> {
  const endpoints: string[] = [];
  const errors: Error[] = [];
  for (const scheme of ["https", "http"] as const) {
    const records = await lookupSrv(r, srvService(service, serviceName, scheme), domain);
    if (records instanceof Error) errors.push(records);
    else endpoints.push(...records.map((s) => `${scheme}://${s.target}.:${s.port}`));
  }
  if (errors.length === 2) {
    return new Error(`dns lookup errors: ${errors[0].message} and ${errors[1].message}`);
  }
  return endpoints;
}
