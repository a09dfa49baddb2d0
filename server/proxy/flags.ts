/** `etcd grpc-proxy start`'s flags, as etcd 3.4 declares them (etcdmain/grpc_proxy.go). */
import type { FlagSpec, FlagValues } from "../../lib/pflag.ts";
import type { StartCommand } from "../subcommand.ts";

function str(name: string, usage: string, def = ""): FlagSpec {
  return { name, kind: "string", def, usage };
}
function bool(name: string, usage: string): FlagSpec {
  return { name, kind: "bool", def: false, usage };
}

const FLAGS: FlagSpec[] = [
  str("listen-addr", "listen address", "127.0.0.1:23790"),
  str("discovery-srv", "domain name to query for SRV records describing cluster endpoints"),
  str("discovery-srv-name", "service name to query when using DNS discovery"),
  str("metrics-addr", "listen for endpoint /metrics requests on an additional interface"),
  bool("insecure-discovery", "accept insecure SRV records"),
  {
    name: "endpoints",
    kind: "stringSlice",
    def: ["127.0.0.1:2379"],
    usage: "comma separated etcd cluster endpoints",
  },
  str(
    "advertise-client-url",
    "advertise address to register (must be reachable by client)",
    "127.0.0.1:23790",
  ),
  str(
    "resolver-prefix",
    "prefix to use for registering proxy (must be shared with other grpc-proxy members)",
  ),
  {
    name: "resolver-ttl",
    kind: "int64",
    def: 0n,
    usage: "specify TTL, in seconds, when registering proxy endpoints",
  },
  str("namespace", "string to prefix to all keys for namespacing requests"),
  bool(
    "enable-pprof",
    'Enable runtime profiling data via HTTP server. Address is at client URL + "/debug/pprof/"',
  ),
  str("data-dir", "Data directory for persistent data", "default.proxy"),
  {
    name: "max-send-bytes",
    kind: "int64",
    def: 1572864n,
    usage: "message send limits in bytes (default value is 1.5 MiB)",
  },
  {
    name: "max-recv-bytes",
    kind: "int64",
    def: 2147483647n,
    usage: "message receive limits in bytes (default value is math.MaxInt32)",
  },
  str("cert", "identify secure connections with etcd servers using this TLS certificate file"),
  str("key", "identify secure connections with etcd servers using this TLS key file"),
  str("cacert", "verify certificates of TLS-enabled secure etcd servers using this CA bundle"),
  bool(
    "insecure-skip-tls-verify",
    "skip authentication of etcd server TLS certificates (CAUTION: this option should be enabled only for testing purposes)",
  ),
  str("cert-file", "identify secure connections to the proxy using this TLS certificate file"),
  str("key-file", "identify secure connections to the proxy using this TLS key file"),
  str("trusted-ca-file", "verify certificates of TLS-enabled secure proxy using this CA bundle"),
  {
    name: "listen-cipher-suites",
    kind: "stringSlice",
    def: [],
    usage:
      "Comma-separated list of supported TLS cipher suites between client/proxy (empty will be auto-populated by Go).",
  },
  bool("auto-tls", "proxy TLS using generated certificates"),
  str("client-crl-file", "proxy client certificate revocation list file."),
  bool(
    "experimental-serializable-ordering",
    "Ensure serializable reads have monotonically increasing store revisions across endpoints.",
  ),
  str("experimental-leasing-prefix", "leasing metadata prefix for disconnected linearized reads."),
  bool("debug", "Enable debug-level logging for grpc-proxy."),
  {
    name: "max-concurrent-streams",
    kind: "uint32",
    def: 4294967295n,
    usage: "Maximum concurrent streams that each client can open at a time.",
  },
];

export const GRPC_PROXY_COMMAND: StartCommand = {
  group: "grpc-proxy",
  groupShort: "grpc-proxy related command",
  short: "start the grpc proxy",
  flags: FLAGS,
};

/** The proxy's settings, read from parsed flags. */
export interface ProxyConfig {
  readonly listenAddr: string;
  readonly endpoints: readonly string[];
  /** --discovery-srv, --discovery-srv-name, --insecure-discovery: endpoints from DNS SRV. */
  readonly discovery: { domain: string; serviceName: string; insecure: boolean };
  readonly advertiseClientUrl: string;
  readonly resolverPrefix: string;
  readonly resolverTtl: number;
  readonly namespace: string;
  readonly metricsAddr: string;
  readonly dataDir: string;
  readonly maxSendBytes: number;
  readonly maxRecvBytes: number;
  readonly maxConcurrentStreams: number;
  /** To the upstream cluster: --cert, --key, --cacert, --insecure-skip-tls-verify. */
  readonly upstream: { cert: string; key: string; ca: string; insecureSkipVerify: boolean };
  /** To the proxy's clients: --cert-file, --key-file, --trusted-ca-file, --auto-tls, --client-crl-file. */
  readonly listen: {
    cert: string;
    key: string;
    ca: string;
    autoTls: boolean;
    crl: string;
    /** --listen-cipher-suites, Go's names. */
    cipherSuites: readonly string[];
  };
  readonly debug: boolean;
  readonly serializableOrdering: boolean;
}

export function proxyConfig(fv: FlagValues): ProxyConfig {
  const v = fv.values;
  const s = (n: string) => v.get(n) as string;
  const b = (n: string) => v.get(n) as boolean;
  const n = (name: string) => Number(v.get(name) as bigint);
  return {
    listenAddr: s("listen-addr"),
    endpoints: v.get("endpoints") as string[],
    discovery: {
      domain: s("discovery-srv"),
      serviceName: s("discovery-srv-name"),
      insecure: b("insecure-discovery"),
    },
    advertiseClientUrl: s("advertise-client-url"),
    resolverPrefix: s("resolver-prefix"),
    resolverTtl: n("resolver-ttl"),
    namespace: s("namespace"),
    metricsAddr: s("metrics-addr"),
    dataDir: s("data-dir"),
    maxSendBytes: n("max-send-bytes"),
    maxRecvBytes: n("max-recv-bytes"),
    maxConcurrentStreams: n("max-concurrent-streams"),
    upstream: {
      cert: s("cert"),
      key: s("key"),
      ca: s("cacert"),
      insecureSkipVerify: b("insecure-skip-tls-verify"),
    },
    listen: {
      cert: s("cert-file"),
      key: s("key-file"),
      ca: s("trusted-ca-file"),
      autoTls: b("auto-tls"),
      crl: s("client-crl-file"),
      cipherSuites: v.get("listen-cipher-suites") as string[],
    },
    debug: b("debug"),
    serializableOrdering: b("experimental-serializable-ordering"),
  };
}

/**
 * What etcdts refuses among the flags, with why: each names something a Bun process
 * cannot give or etcdts does not have yet. Null when nothing given is refused.
 */
export function refusedFlag(fv: FlagValues): string | null {
  const v = fv.values;
  if (v.get("enable-pprof") === true) {
    return "--enable-pprof is not supported: etcdts runs on Bun, which has no Go runtime profiles to serve";
  }
  if (v.get("experimental-leasing-prefix") !== "") {
    return "--experimental-leasing-prefix is not supported: etcdts has no leasing KV (clientv3/leasing)";
  }
  return null;
}
