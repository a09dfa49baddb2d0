/**
 * `etcdts serve` configuration: etcd's flag names, defaults and `ETCD_*` variables.
 *
 * Every etcd 3.4 flag is known here with one of three fates: it works, it is accepted
 * because it has no observable effect in etcdts (e.g. `--logger`), or it names a feature
 * not built yet and is refused with a clear error: never silently ignored.
 */
import { parseGoDuration } from "../lib/gofmt.ts";
import { type CipherPolicy, opensslCiphers } from "./cipher_suites.ts";
import { type KeepaliveSettings, keepaliveSettings } from "./h2/keepalive.ts";
import type { V3DiscoveryConfig } from "./discovery/v3.ts";

export type FlagKind = "string" | "bool" | "int" | "urls" | "duration-ms" | "duration";
type Fate = "works" | "accepted" | "not-yet";

interface FlagSpec {
  readonly kind: FlagKind;
  readonly def: string;
  readonly fate: Fate;
  /** For not-yet flags: which piece of work brings them. */
  readonly later?: string;
  /**
   * What `serve --help` and the README say of a working flag whose effect its name does
   * not tell, or why an accepted flag has no effect (every accepted flag has one).
   */
  readonly note?: string;
}

const PROXY = "only used by --proxy, which etcdts refuses";

/** etcd 3.4's flags (`etcd --help`), with our defaults (etcd's, but where noted) and fates. */
const FLAGS: Record<string, FlagSpec> = {
  "name": { kind: "string", def: "default", fate: "works" },
  "data-dir": { kind: "string", def: "", fate: "works" },
  "wal-dir": { kind: "string", def: "", fate: "works" },
  // etcd 3.6's default (etcd-io/etcd#15408): the entries kept in memory between snapshots
  // were ~12 MiB of a member's RSS after 30,000 puts at 100,000.
  "snapshot-count": {
    kind: "int",
    def: "10000",
    fate: "works",
    note: "default 10000, as in etcd 3.6 (3.4: 100000): fewer log entries kept in memory",
  },
  "heartbeat-interval": { kind: "int", def: "100", fate: "works" },
  "election-timeout": { kind: "int", def: "1000", fate: "works" },
  "initial-election-tick-advance": {
    kind: "bool",
    def: "true",
    fate: "works",
    note: "a single member campaigns at once, without etcd's randomized remainder",
  },
  "listen-peer-urls": { kind: "urls", def: "http://localhost:2380", fate: "works" },
  "listen-client-urls": { kind: "urls", def: "http://localhost:2379", fate: "works" },
  "max-snapshots": { kind: "int", def: "5", fate: "works" },
  "max-wals": { kind: "int", def: "5", fate: "works" },
  // etcd 3.5.14+: entries kept after a snapshot for followers that are only a little behind.
  "experimental-snapshot-catchup-entries": { kind: "int", def: "5000", fate: "works", note: "etcd 3.5's" },
  "quota-backend-bytes": { kind: "int", def: "0", fate: "works" },
  "backend-batch-interval": {
    kind: "string",
    def: "",
    fate: "accepted",
    note: "bbolt's commit interval; the SQLite store commits each applied batch, fsyncs grouped every 100 ms",
  },
  "backend-batch-limit": {
    kind: "int",
    def: "0",
    fate: "accepted",
    note: "bbolt's commit size; the SQLite store commits each applied batch, fsyncs grouped every 100 ms",
  },
  "max-txn-ops": { kind: "int", def: "128", fate: "works" },
  "max-request-bytes": { kind: "int", def: "1572864", fate: "works" },
  "max-concurrent-streams": { kind: "int", def: "4294967295", fate: "works" },
  "grpc-keepalive-min-time": { kind: "duration", def: "5s", fate: "works" },
  "grpc-keepalive-interval": { kind: "duration", def: "2h", fate: "works" },
  "grpc-keepalive-timeout": { kind: "duration", def: "20s", fate: "works" },
  "initial-advertise-peer-urls": { kind: "urls", def: "http://localhost:2380", fate: "works" },
  "initial-cluster": { kind: "string", def: "", fate: "works" },
  "initial-cluster-state": { kind: "string", def: "new", fate: "works" },
  "initial-cluster-token": { kind: "string", def: "etcd-cluster", fate: "works" },
  "advertise-client-urls": { kind: "urls", def: "http://localhost:2379", fate: "works" },
  "discovery": { kind: "string", def: "", fate: "works" },
  // What to do when v2 discovery finds the cluster full: etcdts has no v2 proxy to become.
  "discovery-fallback": {
    kind: "string",
    def: "proxy",
    fate: "works",
    note: "exit or proxy when --discovery finds the cluster full; with no v2 proxy, both exit",
  },
  "discovery-proxy": { kind: "string", def: "", fate: "works" },
  "discovery-srv": { kind: "string", def: "", fate: "works" },
  "discovery-srv-name": { kind: "string", def: "", fate: "works" },
  // etcd 3.6's v3 discovery: the members meet through keys on an etcd v3 cluster.
  "discovery-token": {
    kind: "string",
    def: "",
    fate: "works",
    note: "etcd 3.6's v3 discovery, with --discovery-endpoints",
  },
  "discovery-endpoints": { kind: "string", def: "", fate: "works" },
  "discovery-dial-timeout": { kind: "duration", def: "2s", fate: "works" },
  "discovery-request-timeout": { kind: "duration", def: "5s", fate: "works" },
  "discovery-keepalive-time": { kind: "duration", def: "2s", fate: "works" },
  "discovery-keepalive-timeout": { kind: "duration", def: "6s", fate: "works" },
  "discovery-insecure-transport": { kind: "bool", def: "true", fate: "works" },
  "discovery-insecure-skip-tls-verify": { kind: "bool", def: "false", fate: "works" },
  "discovery-cert": { kind: "string", def: "", fate: "works" },
  "discovery-key": { kind: "string", def: "", fate: "works" },
  "discovery-cacert": { kind: "string", def: "", fate: "works" },
  "discovery-user": { kind: "string", def: "", fate: "works" },
  "discovery-password": { kind: "string", def: "", fate: "works" },
  "strict-reconfig-check": { kind: "bool", def: "true", fate: "works" },
  "pre-vote": { kind: "bool", def: "true", fate: "works" },
  "auto-compaction-retention": { kind: "string", def: "0", fate: "works" },
  "auto-compaction-mode": { kind: "string", def: "periodic", fate: "works" },
  "enable-v2": { kind: "bool", def: "false", fate: "not-yet", later: "the v2 API is not supported; use v3" },
  "cert-file": { kind: "string", def: "", fate: "works" },
  "key-file": { kind: "string", def: "", fate: "works" },
  "client-cert-auth": { kind: "bool", def: "false", fate: "works" },
  "client-crl-file": { kind: "string", def: "", fate: "works" },
  "client-cert-allowed-hostname": { kind: "string", def: "", fate: "works" },
  "trusted-ca-file": { kind: "string", def: "", fate: "works" },
  "auto-tls": { kind: "bool", def: "false", fate: "works" },
  "peer-cert-file": { kind: "string", def: "", fate: "works" },
  "peer-key-file": { kind: "string", def: "", fate: "works" },
  "peer-client-cert-auth": { kind: "bool", def: "false", fate: "works" },
  "peer-trusted-ca-file": { kind: "string", def: "", fate: "works" },
  "peer-cert-allowed-cn": { kind: "string", def: "", fate: "works" },
  "peer-cert-allowed-hostname": { kind: "string", def: "", fate: "works" },
  "peer-auto-tls": { kind: "bool", def: "false", fate: "works" },
  "peer-crl-file": { kind: "string", def: "", fate: "works" },
  "cipher-suites": { kind: "string", def: "", fate: "works" },
  "cors": { kind: "string", def: "*", fate: "works" },
  "host-whitelist": { kind: "string", def: "*", fate: "works" },
  "auth-token": { kind: "string", def: "simple", fate: "works" },
  "bcrypt-cost": { kind: "int", def: "10", fate: "works" },
  "auth-token-ttl": { kind: "int", def: "300", fate: "works" },
  "enable-pprof": {
    kind: "bool",
    def: "false",
    fate: "not-yet",
    later: "Go's /debug/pprof profiles do not exist in a Bun process; etcdts serves none rather than " +
      "answer go tool pprof with something it cannot read",
  },
  "enable-grpc-gateway": {
    kind: "bool",
    def: "true",
    fate: "not-yet",
    later: "the JSON gateway is always served on the client port",
  },
  "metrics": { kind: "string", def: "basic", fate: "works" },
  "listen-metrics-urls": { kind: "urls", def: "", fate: "works" },
  // etcd 3.4's default is capnslog (deprecated there); etcdts defaults to zap, as etcd 3.5 does.
  "logger": { kind: "string", def: "zap", fate: "works" },
  "log-output": { kind: "string", def: "default", fate: "works", note: "deprecated: use --log-outputs" },
  "log-outputs": { kind: "string", def: "default", fate: "works" },
  "log-level": { kind: "string", def: "info", fate: "works" },
  "proxy": {
    kind: "string",
    def: "off",
    fate: "not-yet",
    later: "etcd's proxy mode serves only the v2 API, which etcdts does not have; run a member instead",
  },
  "proxy-failure-wait": { kind: "int", def: "5000", fate: "accepted", note: PROXY },
  "proxy-refresh-interval": { kind: "int", def: "30000", fate: "accepted", note: PROXY },
  "proxy-dial-timeout": { kind: "int", def: "1000", fate: "accepted", note: PROXY },
  "proxy-write-timeout": { kind: "int", def: "5000", fate: "accepted", note: PROXY },
  "proxy-read-timeout": { kind: "int", def: "0", fate: "accepted", note: PROXY },
  "experimental-initial-corrupt-check": { kind: "bool", def: "false", fate: "works" },
  "experimental-corrupt-check-time": { kind: "string", def: "0s", fate: "works" },
  // etcdts's own: how often to compare every stored revision with its checksum
  // (server/corrupt/integrity.ts); 0 turns the scrub off.
  "experimental-integrity-scrub-interval": {
    kind: "string",
    def: "24h",
    fate: "works",
    note: "etcdts's own: how often every stored revision's checksum is verified; 0 never",
  },
  "experimental-enable-v2v3": {
    kind: "string",
    def: "",
    fate: "accepted",
    note: "v2 emulation, only served with --enable-v2, which etcdts refuses",
  },
  "experimental-backend-bbolt-freelist-type": {
    kind: "string",
    def: "array",
    fate: "accepted",
    note: "the store is SQLite, which has no bbolt freelist",
  },
  "experimental-enable-lease-checkpoint": {
    kind: "bool",
    def: "false",
    fate: "accepted",
    note: "remaining lease TTLs are always checkpointed, every --experimental-lease-checkpoint-interval",
  },
  // Remaining TTLs are always persisted with their checkpoints, as etcd 3.6 does.
  "experimental-enable-lease-checkpoint-persist": {
    kind: "bool",
    def: "false",
    fate: "accepted",
    note: "checkpointed TTLs are always persisted, as in etcd 3.6",
  },
  "experimental-lease-checkpoint-interval": { kind: "string", def: "5m", fate: "works" },
  "experimental-compaction-batch-limit": { kind: "int", def: "1000", fate: "works" },
  "experimental-peer-skip-client-san-verification": {
    kind: "bool",
    def: "false",
    fate: "accepted",
    note: "etcdts never checks a peer certificate's SANs against the connecting address, so nothing to skip",
  },
  "experimental-watch-progress-notify-interval": { kind: "string", def: "10m", fate: "works" },
  "experimental-warning-apply-duration": { kind: "duration", def: "100ms", fate: "works" },
  // etcdts's own: the JIT machinery (server/jit/): JSC's options by re-exec, the warm-up on
  // two throwaway members, compiler threads at nice 19. Off only to start faster, as the
  // functional tests do.
  "experimental-jit-warmup": {
    kind: "bool",
    def: "true",
    fate: "works",
    note:
      "etcdts's own: JSC's options, a JIT warm-up before serving and its compiler threads niced; false starts 0.8 s sooner",
  },
  // etcdts's own: threads that read and encode large ranges (store/read_workers.ts).
  "experimental-read-threads": {
    kind: "int",
    def: "-1",
    fate: "works",
    note:
      "etcdts's own: threads reading ranges of 256+ keys beside the event loop; -1 = one per core, at most 4; 0 = none; at most 64",
  },
  "force-new-cluster": {
    kind: "bool",
    def: "false",
    fate: "works",
    note: "restart a member that has a log as a one-member cluster with its data; unsafe",
  },
  "debug": { kind: "bool", def: "false", fate: "works", note: "deprecated: use --log-level=debug" },
  "unsafe-no-fsync": {
    kind: "bool",
    def: "false",
    fate: "accepted",
    note: "etcdts always fsyncs; group commit already keeps fsyncs few",
  },
  "log-package-levels": {
    kind: "string",
    def: "",
    fate: "accepted",
    note: "capnslog's per-package levels (deprecated in etcd 3.4); use --log-level",
  },
  // Read by serveMain (server/config_file.ts): the file then replaces every flag and variable.
  "config-file": {
    kind: "string",
    def: "",
    fate: "works",
    note: "etcd's YAML file (or ETCD_CONFIG_FILE); when given, other flags and ETCD_* variables are ignored",
  },
  "version": { kind: "bool", def: "false", fate: "works" },
  "help": { kind: "bool", def: "false", fate: "works" },
};

/** The parsed, validated server configuration. */
export interface ServerConfig {
  readonly name: string;
  readonly dataDir: string;
  readonly walDir: string;
  readonly snapshotCount: number;
  readonly heartbeatIntervalMs: number;
  readonly electionTimeoutMs: number;
  readonly listenClientUrls: readonly URL[];
  readonly advertiseClientUrls: readonly string[];
  readonly listenPeerUrls: readonly URL[];
  /** Whether --listen-peer-urls was given: a lone member then listens too, so members can join. */
  readonly listenPeerExplicit: boolean;
  readonly initialAdvertisePeerUrls: readonly string[];
  /** name → peer URLs, in the order given; empty until resolved with --discovery-srv. */
  readonly initialCluster: ReadonlyMap<string, readonly string[]>;
  /** --discovery-srv: the domain whose SRV records give a new member its initial cluster. */
  readonly discoverySrv: string;
  readonly discoverySrvName: string;
  /** --discovery-token with --discovery-endpoints: v3 discovery gives a new member its initial cluster. */
  readonly discoveryV3: V3DiscoveryConfig | null;
  /** --discovery (v2 discovery), through --discovery-proxy if set; --discovery-fallback when it is full. */
  readonly discoveryUrl: string;
  readonly discoveryProxy: string;
  readonly discoveryFallback: "exit" | "proxy";
  readonly initialClusterState: "new" | "existing";
  readonly initialClusterToken: string;
  readonly maxSnapshots: number;
  readonly maxWals: number;
  readonly snapshotCatchUpEntries: number;
  /** 0 in the flag means etcd's default, 2 GiB. */
  readonly quotaBackendBytes: number;
  readonly maxTxnOps: number;
  readonly maxRequestBytes: number;
  readonly maxConcurrentStreams: number;
  readonly strictReconfigCheck: boolean;
  readonly preVote: boolean;
  /** --initial-election-tick-advance (server/member/tick_advance.ts). */
  readonly initialElectionTickAdvance: boolean;
  readonly autoCompactionMode: "periodic" | "revision";
  readonly autoCompactionRetention: string;
  readonly listenMetricsUrls: readonly URL[];
  readonly logLevel: "debug" | "info" | "warn" | "error" | "panic" | "fatal";
  readonly logger: "zap" | "capnslog";
  /** --metrics: "extensive" adds grpc_server_handling_seconds to /metrics (etcd takes any other value as basic). */
  readonly metrics: string;
  /** --experimental-warning-apply-duration, in ms (server/slow_apply.ts). */
  readonly warningApplyDurationMs: number;
  /** --experimental-compaction-batch-limit: rows a compaction deletes per step (store/compaction_deletes.ts). */
  readonly compactionBatchLimit: number;
  /** --cors: origins the client port's HTTP answers with CORS headers ("*" or none: all). */
  readonly cors: readonly string[];
  /** --host-whitelist: Host names plain-HTTP requests may name ("*" or none: all). */
  readonly hostWhitelist: readonly string[];
  /** --log-outputs targets: default, stderr, stdout, journal or file paths. */
  readonly logOutputs: readonly string[];
  /** etcd's warnings about deprecated logging flags, printed to stderr before any log line. */
  readonly logWarnings: readonly string[];
  readonly authToken: string;
  readonly bcryptCost: number;
  readonly authTokenTtl: number;
  readonly initialCorruptCheck: boolean;
  readonly corruptCheckTime: string;
  /** How often the scrub verifies every stored revision's checksum (a Go duration; 0 = never). */
  readonly integrityScrubInterval: string;
  readonly watchProgressNotifyInterval: string;
  /** How often the leader checkpoints remaining lease TTLs (a Go duration). */
  readonly leaseCheckpointInterval: string;
  /** Restart as a one-member cluster (server/force_new_cluster.ts). */
  readonly forceNewCluster: boolean;
  /** Whether to run the JIT warm-up (server/jit/) at startup. */
  readonly jitWarmup: boolean;
  /** Read worker threads (store/read_workers.ts); 0 = none. */
  readonly readThreads: number;
  /** gRPC keepalive (server/h2/keepalive.ts), from the three --grpc-keepalive-* flags. */
  readonly grpcKeepalive: KeepaliveSettings;
  /** Client and peer TLS (server/tls.ts). */
  readonly clientTls: TlsFlags;
  readonly peerTls: TlsFlags;
}

/** One side's TLS flags (--cert-file ... or --peer-cert-file ...). */
export interface TlsFlags {
  readonly certFile: string;
  readonly keyFile: string;
  readonly trustedCaFile: string;
  readonly clientCertAuth: boolean;
  readonly crlFile: string;
  readonly autoTls: boolean;
  /** The CN a connecting side's certificate must carry (--peer-cert-allowed-cn); "" any. */
  readonly allowedCn: string;
  /** The host a connecting side's certificate must be valid for (--[peer-|client-]cert-allowed-hostname); "" any. */
  readonly allowedHostname: string;
  /** --cipher-suites (server/cipher_suites.ts). */
  readonly ciphers: CipherPolicy;
}

export type ParseResult =
  | { kind: "config"; config: ServerConfig; warnings: string[] }
  /**
   * --config-file (or ETCD_CONFIG_FILE) names etcd's YAML file: as in etcd 3.4, it alone
   * configures the server, other flags and ETCD_* variables are ignored. serveMain reads it
   * with server/config_file.ts, which keeps the YAML parser off every other path.
   */
  | { kind: "file"; path: string }
  | { kind: "help" }
  | { kind: "version" }
  /** `usage`: a command line Go's flag package refuses (etcd then prints its usage, exits 2). */
  | { kind: "error"; message: string; usage?: boolean };

/** What settings make: a configuration, or why not. */
export type SettingsResult = Extract<ParseResult, { kind: "config" | "error" }>;

const DEFAULT_QUOTA = 2 * 1024 * 1024 * 1024;

/**
 * Parses etcd-style arguments (`--flag=value`, `--flag value`, `-flag value`, bare
 * booleans) plus `ETCD_*` variables; a variable shadowed by a flag is an error, as in etcd 3.4.
 */
export function parseServerArgs(
  args: readonly string[],
  env: Record<string, string | undefined>,
): ParseResult {
  const given = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    // Go's flag package stops at the first argument that is not a flag ("--" ends the flags
    // and is dropped); etcd then refuses what is left, as an error, not with its usage.
    if (a === "--" && i + 1 === args.length) break;
    if (!a.startsWith("-") || a === "-" || a === "--") {
      const left = a === "--" ? args[i + 1] : a;
      return { kind: "error", message: `'${left}' is not a valid flag` };
    }
    const body = a.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq >= 0 ? body.slice(0, eq) : body;
    // Go's flag package stops at -h or -help (etcd defines neither), whatever follows.
    if (name === "h" || name === "help") return { kind: "help" };
    const spec = FLAGS[name];
    if (spec === undefined) {
      return { kind: "error", message: `flag provided but not defined: -${name}`, usage: true };
    }
    let value: string;
    if (eq >= 0) value = body.slice(eq + 1);
    else if (spec.kind === "bool") value = "true";
    else if (i + 1 < args.length) value = args[++i];
    else return { kind: "error", message: `flag needs an argument: -${name}`, usage: true };
    // Go's flag package rejects a malformed value while parsing, config file or not.
    const bad = checkValue(name, spec.kind, value);
    if (bad !== null) return { kind: "error", message: bad, usage: true };
    given.set(name, value);
  }
  if (isTrue(given.get("version"))) return { kind: "version" };
  // etcd reads ETCD_CONFIG_FILE before any other variable, to know whether to read them at all.
  const file = given.get("config-file") || env.ETCD_CONFIG_FILE || "";
  if (file !== "") return { kind: "file", path: file };

  const warnings: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith("ETCD_") || v === undefined) continue;
    const flag = k.slice(5).toLowerCase().replaceAll("_", "-");
    if (FLAGS[flag] === undefined) {
      warnings.push(`unrecognized environment variable ${k}=${v}`);
      continue;
    }
    if (given.has(flag)) {
      return {
        kind: "error",
        message: `conflicting environment variable "${k}" is shadowed by corresponding command-line flag ` +
          `(either unset environment variable or disable flag)`,
      };
    }
    given.set(flag, v);
  }
  return configFromSettings(given, warnings);
}

/** The kind of value etcd's flag `name` takes; undefined for a name etcd does not have. */
export function flagKind(name: string): FlagKind | undefined {
  return FLAGS[name]?.kind;
}

/**
 * The configuration from settings by flag name (what flags and variables gave, or a
 * config file): refuses not-yet features and malformed values, fills in defaults.
 */
export function configFromSettings(given: ReadonlyMap<string, string>, warnings: string[]): SettingsResult {
  for (const [name, value] of given) {
    const spec = FLAGS[name];
    if (spec === undefined) return { kind: "error", message: `unknown setting ${name}` };
    const differs = spec.kind === "bool" ? isTrue(value) !== isTrue(spec.def) : value !== spec.def;
    if (spec.fate === "not-yet" && differs) {
      return { kind: "error", message: `--${name} is not supported by etcdts yet (${spec.later})` };
    }
    const bad = checkValue(name, spec.kind, value);
    if (bad !== null) return { kind: "error", message: bad };
  }
  const get = (n: string): string => given.get(n) ?? FLAGS[n].def;
  return buildConfig(get, given, warnings);
}

/**
 * Read threads from --experimental-read-threads: -1 = one per core, at most 4. Not one
 * fewer than the cores: the event loop's share of a large range is a fifth of it, so on 2
 * cores two threads read 1000-key ranges at 694-764/s where one read at 518-588/s.
 */
function readThreads(flag: number): number {
  if (flag >= 0) return Math.min(MAX_READ_THREADS, Math.floor(flag));
  return Math.min(4, navigator.hardwareConcurrency);
}

/** Read threads at most: each is a JavaScript VM of its own, all started at once. */
const MAX_READ_THREADS = 64;

function isTrue(v: string | undefined): boolean {
  return v === "true" || v === "1" || v === "t" || v === "T" || v === "TRUE" || v === "True";
}

/** The int flags etcd declares unsigned (Uint/Uint64Var): Go's flag package refuses a sign. */
const UNSIGNED_FLAGS = new Set([
  "auth-token-ttl",
  "bcrypt-cost",
  "election-timeout",
  "experimental-snapshot-catchup-entries",
  "heartbeat-interval",
  "max-request-bytes",
  "max-snapshots",
  "max-txn-ops",
  "max-wals",
  "proxy-dial-timeout",
  "proxy-failure-wait",
  "proxy-read-timeout",
  "proxy-refresh-interval",
  "proxy-write-timeout",
  "snapshot-count",
]);

function checkValue(name: string, kind: FlagKind, v: string): string | null {
  // etcd's --cors is a URL list ("host:port", no path) where "*" stands alone; an Origin
  // is compared with each URL's text.
  if (name === "cors" && v === "*") return null;
  if (name === "cors" && v === "") {
    return `invalid value "" for flag -cors: URL scheme must be http, https, unix, or unixs: `;
  }
  if (name === "cors") kind = "urls";
  switch (kind) {
    case "bool":
      return /^(1|0|t|f|T|F|true|false|TRUE|FALSE|True|False)$/.test(v)
        ? null
        : `invalid boolean value "${v}" for -${name}: parse error`;
    case "int":
      return (UNSIGNED_FLAGS.has(name) ? /^\d+$/ : /^-?\d+$/).test(v)
        ? null
        : `invalid value "${v}" for flag -${name}: parse error`;
    case "urls":
      for (const u of splitList(v)) {
        // Go's url.Parse takes a string without a scheme as a relative URL: the scheme check
        // refuses it, before anything that could fail to parse.
        const scheme = u.match(/^([a-z][a-z0-9+.-]*):/i)?.[1].toLowerCase() ?? "";
        if (!["http", "https", "unix", "unixs"].includes(scheme)) {
          return `invalid value "${v}" for flag -${name}: URL scheme must be http, https, unix, or unixs: ${u}`;
        }
        try {
          new URL(u);
          // etcd's types.NewURLs: "host:port" (a unix socket's file name too) and no path.
          const [, authority, rest] = u.match(/^[a-z]+:\/\/([^/?#]*)(.*)$/i) ?? [];
          if (
            authority === undefined || !/^(\[[^\]]*\]|[^:[\]]*):[^:]*$/.test(authority.replace(/^.*@/, ""))
          ) {
            return `invalid value "${v}" for flag -${name}: URL address does not have the form "host:port": ${u}`;
          }
          if (/^\/[^?#]*/.test(rest)) {
            return `invalid value "${v}" for flag -${name}: URL must not contain a path: ${u}`;
          }
        } catch {
          return `invalid value "${v}" for flag -${name}: parse ${u}: invalid URL`;
        }
      }
      return null;
    case "duration":
      // Go's flag package: a time.Duration flag rejects what time.ParseDuration does.
      return typeof parseGoDuration(v) === "number"
        ? null
        : `invalid value "${v}" for flag -${name}: parse error`;
    default:
      return null;
  }
}

/** A duration flag already checked by checkValue, in milliseconds. */
function ms(v: string): number {
  return parseGoDuration(v) as number;
}

function splitList(v: string): string[] {
  return v.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
}

function parseInitialCluster(v: string): Map<string, string[]> | string {
  const out = new Map<string, string[]>();
  for (const part of splitList(v)) {
    const eq = part.indexOf("=");
    if (eq <= 0) return `--initial-cluster: '${part}' is not of the form name=peerURL`;
    const name = part.slice(0, eq);
    const urls = out.get(name) ?? [];
    urls.push(part.slice(eq + 1));
    out.set(name, urls);
  }
  return out;
}

/** The v3 discovery settings, null without them, or etcd 3.6's complaint. */
function v3Discovery(get: (n: string) => string): V3DiscoveryConfig | null | string {
  const token = get("discovery-token");
  const endpoints = splitList(get("discovery-endpoints"));
  if ((token !== "") !== (endpoints.length > 0)) {
    return "both --discovery-token and --discovery-endpoints must be set";
  }
  if (token === "") return null;
  return {
    token,
    endpoints,
    dialTimeoutMs: ms(get("discovery-dial-timeout")),
    requestTimeoutMs: ms(get("discovery-request-timeout")),
    keepAliveTimeMs: ms(get("discovery-keepalive-time")),
    keepAliveTimeoutMs: ms(get("discovery-keepalive-timeout")),
    insecureTransport: isTrue(get("discovery-insecure-transport")),
    insecureSkipTlsVerify: isTrue(get("discovery-insecure-skip-tls-verify")),
    cert: get("discovery-cert"),
    key: get("discovery-key"),
    cacert: get("discovery-cacert"),
    user: get("discovery-user"),
    password: get("discovery-password"),
  };
}

function buildConfig(
  get: (n: string) => string,
  given: ReadonlyMap<string, string>,
  warnings: string[],
): SettingsResult {
  const name = get("name");
  const int = (n: string) => Number(get(n));
  const urls = (n: string) => splitList(get(n)).map((u) => new URL(u));
  const state = get("initial-cluster-state");
  if (state !== "new" && state !== "existing") {
    return {
      kind: "error",
      message: `invalid value "${state}" for flag -initial-cluster-state: valid values are "new", "existing"`,
    };
  }
  const fallback = get("discovery-fallback");
  if (fallback !== "exit" && fallback !== "proxy") {
    return {
      kind: "error",
      message: `invalid value "${fallback}" for flag -discovery-fallback: invalid value`,
    };
  }
  const mode = get("auto-compaction-mode");
  if (mode !== "periodic" && mode !== "revision") {
    return { kind: "error", message: `unknown auto-compaction-mode "${mode}"` };
  }
  const level = get("log-level");
  if (!["debug", "info", "warn", "error", "panic", "fatal"].includes(level)) {
    return { kind: "error", message: `unknown log-level "${level}"` };
  }
  const cors = splitList(get("cors")); // checked by checkValue
  const logging = loggingFlags(get, given);
  if (typeof logging === "string") return { kind: "error", message: logging };
  const peerAdvertise = splitList(get("initial-advertise-peer-urls"));
  // etcd's default initial cluster is "<name>=<initial advertise peer URLs>".
  const defaultCluster = peerAdvertise.map((u) => `${name}=${u}`).join(",");
  const discoverySrv = get("discovery-srv");
  // As etcd: the default initial cluster gives way to discovery; an explicit one conflicts.
  const explicitCluster = (given.get("initial-cluster") ?? defaultCluster) !== defaultCluster;
  const v3 = v3Discovery(get);
  if (typeof v3 === "string") return { kind: "error", message: v3 };
  const durl = get("discovery");
  if ([durl !== "", discoverySrv !== "", explicitCluster, v3 !== null].filter((set) => set).length > 1) {
    return {
      kind: "error",
      // etcd 3.6 names the flag it added; 3.4's message otherwise.
      message: v3 !== null
        ? 'multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery", ' +
          '"discovery-endpoints" or "discovery-srv"'
        : 'multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery" or ' +
          '"discovery-srv"',
    };
  }
  const cluster = discoverySrv !== "" ? new Map<string, string[]>() : parseInitialCluster(
    given.get("initial-cluster") ?? defaultCluster,
  );
  if (typeof cluster === "string") return { kind: "error", message: cluster };
  const mine = discoverySrv !== "" ? peerAdvertise : cluster.get(name);
  if (mine === undefined) {
    return {
      kind: "error",
      message: `couldn't find local name "${name}" in the initial cluster configuration`,
    };
  }
  if ([...mine].sort().join(",") !== [...peerAdvertise].sort().join(",")) {
    return {
      kind: "error",
      message: `--initial-cluster has ${name}=${
        mine.join(",")
      } but missing from --initial-advertise-peer-urls=${peerAdvertise.join(",")}`,
    };
  }
  const maxReq = int("max-request-bytes");
  if (maxReq <= 0) return { kind: "error", message: "--max-request-bytes must be positive" };
  const quota = int("quota-backend-bytes");
  const suites = opensslCiphers(splitList(get("cipher-suites")));
  if ("error" in suites) return { kind: "error", message: suites.error };
  const config: ServerConfig = {
    name,
    dataDir: get("data-dir") || `${name}.etcd`,
    walDir: get("wal-dir"),
    snapshotCount: int("snapshot-count"),
    heartbeatIntervalMs: int("heartbeat-interval"),
    electionTimeoutMs: int("election-timeout"),
    listenClientUrls: urls("listen-client-urls"),
    advertiseClientUrls: splitList(get("advertise-client-urls")),
    listenPeerUrls: urls("listen-peer-urls"),
    listenPeerExplicit: given.has("listen-peer-urls"),
    initialAdvertisePeerUrls: peerAdvertise,
    initialCluster: cluster,
    discoverySrv,
    discoverySrvName: get("discovery-srv-name"),
    discoveryV3: v3,
    discoveryUrl: durl,
    discoveryProxy: get("discovery-proxy"),
    discoveryFallback: fallback,
    initialClusterState: state,
    // etcd bootstraps a v2-discovered cluster with the discovery URL as its token.
    initialClusterToken: durl !== "" ? durl : get("initial-cluster-token"),
    maxSnapshots: int("max-snapshots"),
    maxWals: int("max-wals"),
    snapshotCatchUpEntries: int("experimental-snapshot-catchup-entries"),
    quotaBackendBytes: quota <= 0 ? DEFAULT_QUOTA : quota,
    maxTxnOps: int("max-txn-ops"),
    maxRequestBytes: maxReq,
    maxConcurrentStreams: int("max-concurrent-streams"),
    strictReconfigCheck: isTrue(get("strict-reconfig-check")),
    preVote: isTrue(get("pre-vote")),
    initialElectionTickAdvance: isTrue(get("initial-election-tick-advance")),
    jitWarmup: isTrue(get("experimental-jit-warmup")),
    readThreads: readThreads(int("experimental-read-threads")),
    forceNewCluster: isTrue(get("force-new-cluster")),
    autoCompactionMode: mode,
    autoCompactionRetention: get("auto-compaction-retention"),
    listenMetricsUrls: urls("listen-metrics-urls"),
    logLevel: level as ServerConfig["logLevel"],
    ...logging,
    metrics: get("metrics"),
    warningApplyDurationMs: ms(get("experimental-warning-apply-duration")),
    compactionBatchLimit: int("experimental-compaction-batch-limit"),
    // etcd compares an Origin with each URL's text as Go prints it: scheme lowercased, the
    // rest as written (a default port too), so not with a normalized origin.
    cors: cors.map((u) =>
      u === "*" ? u : u.replace(/^[a-z][a-z0-9+.-]*:/i, (scheme) => scheme.toLowerCase())
    ),
    hostWhitelist: splitList(get("host-whitelist")),
    authToken: get("auth-token"),
    bcryptCost: int("bcrypt-cost"),
    authTokenTtl: int("auth-token-ttl"),
    initialCorruptCheck: isTrue(get("experimental-initial-corrupt-check")),
    corruptCheckTime: get("experimental-corrupt-check-time"),
    integrityScrubInterval: get("experimental-integrity-scrub-interval"),
    watchProgressNotifyInterval: get("experimental-watch-progress-notify-interval"),
    leaseCheckpointInterval: get("experimental-lease-checkpoint-interval"),
    grpcKeepalive: keepaliveSettings(
      ms(get("grpc-keepalive-interval")),
      ms(get("grpc-keepalive-timeout")),
      ms(get("grpc-keepalive-min-time")),
    ),
    clientTls: tlsFlags(get, "", suites),
    peerTls: tlsFlags(get, "peer-", suites),
  };
  if (config.heartbeatIntervalMs <= 0 || config.electionTimeoutMs < 5 * config.heartbeatIntervalMs) {
    return {
      kind: "error",
      message: `--election-timeout[${config.electionTimeoutMs}ms] should be at least as 5 times as ` +
        `--heartbeat-interval[${config.heartbeatIntervalMs}ms]`,
    };
  }
  return { kind: "config", config, warnings };
}

/** Go's %q of a []string: ["a" "b"]. */
function goQuoteList(v: readonly string[]): string {
  return `[${v.map((s) => JSON.stringify(s)).join(" ")}]`;
}

/** --logger, --log-outputs (and the deprecated --log-output) checked as etcd 3.4's setupLogging does. */
function loggingFlags(
  get: (n: string) => string,
  given: ReadonlyMap<string, string>,
):
  | Pick<ServerConfig, "logger" | "logOutputs" | "logWarnings"> & Partial<Pick<ServerConfig, "logLevel">>
  | string {
  const logger = get("logger");
  const warnings: string[] = [];
  let outputs = splitList(get("log-outputs"));
  const old = splitList(get("log-output"));
  if (!given.has("log-outputs") && given.has("log-output") && get("log-output") !== "default") {
    warnings.push(`[WARNING] Deprecated '--log-output' flag is set to ${goQuoteList(old)}`);
    warnings.push("Please use '--log-outputs' flag");
    outputs = old;
  }
  if (outputs.length === 0) outputs = ["default"];
  // etcd 3.4's --debug means --log-level=debug, with its warnings (their typo included).
  const debug = isTrue(get("debug"));
  if (debug) {
    warnings.push(`[WARNING] Deprecated '--debug' flag is set to true (use '--log-level=debug' instead`);
    if (get("log-level") !== "debug") {
      warnings.push(
        `[WARNING] Deprecated '--debug' flag is set to true with inconsistent '--log-level=${
          get("log-level")
        }' flag`,
      );
    }
  }
  if (logger === "capnslog") {
    warnings.push(`[WARNING] Deprecated '--logger=capnslog' flag is set; use '--logger=zap' flag instead`);
  }
  const pkgLevels = get("log-package-levels");
  if (pkgLevels !== "") {
    warnings.push(
      `[WARNING] Deprecated '--log-package-levels=${pkgLevels}' flag is set; use '--logger=zap' flag instead`,
    );
  }
  if (logger === "capnslog") {
    if (outputs.length !== 1) {
      return `--logger=capnslog supports only 1 value in '--log-outputs', got ${goQuoteList(outputs)}`;
    }
    if (!["default", "stderr", "stdout"].includes(outputs[0])) {
      return `unknown log-output "${outputs[0]}" (only supports "default", "stderr", "stdout")`;
    }
  } else if (logger === "zap") {
    if (outputs.length > 1 && outputs.includes("default")) {
      return `multi logoutput for "default" is not supported yet`;
    }
  } else return `unknown logger option "${logger}"`;
  return {
    logger,
    logOutputs: outputs,
    logWarnings: warnings,
    ...(debug ? { logLevel: "debug" as const } : {}),
  };
}

function tlsFlags(get: (n: string) => string, prefix: "" | "peer-", ciphers: CipherPolicy): TlsFlags {
  return {
    certFile: get(`${prefix}cert-file`),
    keyFile: get(`${prefix}key-file`),
    trustedCaFile: get(`${prefix}trusted-ca-file`),
    clientCertAuth: isTrue(get(`${prefix}client-cert-auth`)),
    crlFile: get(prefix === "" ? "client-crl-file" : "peer-crl-file"),
    autoTls: isTrue(get(`${prefix}auto-tls`)),
    // etcd 3.4 has no --client-cert-allowed-cn.
    allowedCn: prefix === "peer-" ? get("peer-cert-allowed-cn") : "",
    allowedHostname: get(`${prefix === "" ? "client-" : prefix}cert-allowed-hostname`),
    ciphers,
  };
}

/** The usage text for `etcdts serve --help`: flag names with defaults, etcd's layout in brief. */
export function serverUsage(): string {
  const lines = [
    "Usage:",
    "",
    "  etcdts serve [flags]",
    "  etcd [flags]",
    "",
    "Flags (etcd's names; each also as ETCD_<NAME>):",
  ];
  for (const [name, spec] of Object.entries(FLAGS)) {
    const why = fateText(spec);
    lines.push(`  --${name} '${spec.def}'${why === "" ? "" : `  (${why})`}`);
  }
  return lines.join("\n") + "\n";
}

/** What etcdts does with a flag, beyond working as etcd's: "" when it simply works. */
function fateText(spec: FlagSpec): string {
  if (spec.fate === "not-yet") return `not supported yet: ${spec.later}`;
  if (spec.fate === "accepted") return `accepted, no effect: ${spec.note}`;
  return spec.note ?? "";
}

/**
 * The README's flag table: a row per flag, generated so it cannot drift from the flags
 * (tests/server/flag_table.test.ts compares). One line per flag, unpadded, so a flag's
 * change of fate is a one-line change.
 */
export function flagTable(): string {
  const fates: Record<Fate, string> = { works: "works", accepted: "accepted", "not-yet": "refused" };
  const rows = Object.entries(FLAGS).map(([name, spec]) => {
    const why = spec.fate === "not-yet" ? spec.later! : spec.note ?? "";
    return `| \`--${name}\` | ${fates[spec.fate]} | ${why.replaceAll("|", "\\|")} |`;
  });
  return ["| flag | in etcdts | notes |", "| --- | --- | --- |", ...rows].join("\n") + "\n";
}

/** Every flag's name and fate, for tests. */
export function flagFates(): ReadonlyMap<string, { fate: Fate; note?: string; later?: string }> {
  return new Map(Object.entries(FLAGS));
}
