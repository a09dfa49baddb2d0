/**
 * etcd's YAML configuration file (`--config-file`, `ETCD_CONFIG_FILE`), read into the same
 * settings by flag name that flags and `ETCD_*` variables give, then checked and defaulted
 * by config.ts exactly as they are.
 *
 * etcd 3.4 reads the file with sigs.k8s.io/yaml: YAML 1.1 turned into JSON, then Go's JSON
 * decoder into its config struct. What follows from that is what a user sees, so we keep it:
 * keys match case-insensitively; a key etcd does not know is ignored (we warn); a value
 * must have its setting's type (a string setting refuses a number, a number setting a
 * string); a duration is a whole number of nanoseconds; TLS settings live only in the
 * `client-transport-security` and `peer-transport-security` objects. A value of the wrong
 * type is an error that names the key and its line.
 */
import * as fs from "node:fs";
import { isMap, isScalar, LineCounter, parseAllDocuments } from "yaml";
import { configFromSettings, type SettingsResult } from "./config.ts";
import { formatNanos } from "../lib/gofmt.ts";

/** The Go type of an etcd config struct field, which decides what YAML value it takes. */
type GoType = "string" | "bool" | "uint" | "uint32" | "uint64" | "int" | "int64" | "duration" | "strings";

/**
 * etcd 3.4's keys (embed.Config's and etcdmain's proxy settings' JSON names) with their Go
 * types; each is also a flag of the same name. The last three are etcdts's or later
 * etcd's, read as etcd 3.5 reads them.
 */
const KEYS: Readonly<Record<string, GoType>> = {
  "name": "string",
  "data-dir": "string",
  "wal-dir": "string",
  "snapshot-count": "uint64",
  "max-snapshots": "uint",
  "max-wals": "uint",
  "heartbeat-interval": "uint",
  "election-timeout": "uint",
  "initial-election-tick-advance": "bool",
  "backend-batch-interval": "duration",
  "backend-batch-limit": "int",
  "quota-backend-bytes": "int64",
  "max-txn-ops": "uint",
  "max-request-bytes": "uint",
  "max-concurrent-streams": "uint32",
  "cipher-suites": "strings",
  "initial-cluster-state": "string",
  "discovery-srv": "string",
  "discovery-srv-name": "string",
  "discovery-proxy": "string",
  "discovery": "string",
  "initial-cluster": "string",
  "initial-cluster-token": "string",
  "strict-reconfig-check": "bool",
  "enable-v2": "bool",
  "auto-compaction-mode": "string",
  "auto-compaction-retention": "string",
  "grpc-keepalive-min-time": "duration",
  "grpc-keepalive-interval": "duration",
  "grpc-keepalive-timeout": "duration",
  "pre-vote": "bool",
  "auth-token": "string",
  "bcrypt-cost": "uint",
  "auth-token-ttl": "uint",
  "experimental-initial-corrupt-check": "bool",
  "experimental-corrupt-check-time": "duration",
  "experimental-enable-v2v3": "string",
  "experimental-backend-bbolt-freelist-type": "string",
  "experimental-enable-lease-checkpoint": "bool",
  "experimental-enable-lease-checkpoint-persist": "bool",
  "experimental-compaction-batch-limit": "int",
  "experimental-watch-progress-notify-interval": "duration",
  "experimental-warning-apply-duration": "duration",
  "force-new-cluster": "bool",
  "enable-pprof": "bool",
  "metrics": "string",
  "listen-metrics-urls": "string",
  "logger": "string",
  "log-level": "string",
  "log-outputs": "strings",
  "enable-grpc-gateway": "bool",
  "log-output": "strings",
  "debug": "bool",
  "log-package-levels": "string",
  "unsafe-no-fsync": "bool",
  "listen-peer-urls": "string",
  "listen-client-urls": "string",
  "initial-advertise-peer-urls": "string",
  "advertise-client-urls": "string",
  "cors": "string",
  "host-whitelist": "string",
  "proxy-failure-wait": "uint",
  "proxy-refresh-interval": "uint",
  "proxy-dial-timeout": "uint",
  "proxy-write-timeout": "uint",
  "proxy-read-timeout": "uint",
  "proxy": "string",
  "discovery-fallback": "string",
  "experimental-snapshot-catchup-entries": "uint64",
  "experimental-lease-checkpoint-interval": "duration",
  "experimental-jit-warmup": "bool",
  "experimental-read-threads": "int",
};

/** A key inside one of the file's objects: the flag it sets, or why etcdts ignores it. */
type Field = { readonly flag: string; readonly type: GoType } | { readonly ignored: string };
/** One of the file's objects: its keys, each a setting or an object of its own. */
interface Shape {
  readonly [key: string]: Field | Shape;
}

/** What a TLS object holds in etcd 3.4 (its securityConfig). CRL files are flags only. */
const SECURITY_FIELDS: Readonly<Record<string, GoType>> = {
  "cert-file": "string",
  "key-file": "string",
  "client-cert-auth": "bool",
  "trusted-ca-file": "string",
  "auto-tls": "bool",
};

function securityShape(prefix: "" | "peer-"): Shape {
  return Object.fromEntries(
    Object.entries(SECURITY_FIELDS).map(([k, type]) => [k, { flag: `${prefix}${k}`, type }]),
  );
}

/**
 * The objects of the file: the two TLS objects of etcd 3.4, and etcd 3.6's
 * `discovery-config` (v3discovery.DiscoveryConfig: a token and a clientv3.ConfigSpec under
 * `client`), each key the flag of the same meaning.
 */
const OBJECTS: Readonly<Record<string, Shape>> = {
  "client-transport-security": securityShape(""),
  "peer-transport-security": securityShape("peer-"),
  "discovery-config": {
    "token": { flag: "discovery-token", type: "string" },
    "client": {
      "endpoints": { flag: "discovery-endpoints", type: "strings" },
      "request-timeout": { flag: "discovery-request-timeout", type: "duration" },
      "dial-timeout": { flag: "discovery-dial-timeout", type: "duration" },
      "keepalive-time": { flag: "discovery-keepalive-time", type: "duration" },
      "keepalive-timeout": { flag: "discovery-keepalive-timeout", type: "duration" },
      "max-request-bytes": { ignored: "etcdts's discovery client sends only small requests" },
      "max-recv-bytes": { ignored: "etcdts's discovery client takes any response size" },
      "secure": {
        "cert": { flag: "discovery-cert", type: "string" },
        "key": { flag: "discovery-key", type: "string" },
        "cacert": { flag: "discovery-cacert", type: "string" },
        "server-name": { ignored: "the server name is each endpoint's host, as with the flags" },
        "insecure-transport": { flag: "discovery-insecure-transport", type: "bool" },
        "insecure-skip-tls-verify": { flag: "discovery-insecure-skip-tls-verify", type: "bool" },
      },
      "auth": {
        "username": { flag: "discovery-user", type: "string" },
        "password": { flag: "discovery-password", type: "string" },
        "token": { ignored: "etcd has no flag for it either; give username and password" },
      },
    },
  },
};

function isField(v: Field | Shape): v is Field {
  return typeof (v as { flag?: unknown }).flag === "string" ||
    typeof (v as { ignored?: unknown }).ignored === "string";
}

/** Every key this reads, for tests: each must be a server flag. */
export const CONFIG_FILE_KEYS: readonly string[] = [
  ...Object.keys(KEYS),
  ...Object.values(OBJECTS).flatMap(flagsOf),
];

function flagsOf(shape: Shape): string[] {
  return Object.values(shape).flatMap((v) => isField(v) ? ("flag" in v ? [v.flag] : []) : flagsOf(v));
}

const UNSIGNED_MAX: Partial<Record<GoType, bigint>> = {
  uint: 2n ** 64n - 1n,
  uint64: 2n ** 64n - 1n,
  uint32: 2n ** 32n - 1n,
};

/**
 * The server configuration from the YAML file at `file`, as etcd 3.4 would read it; errors
 * name the file, the line and the key.
 */
export function loadConfigFile(file: string): SettingsResult {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    return { kind: "error", message: `config file: open ${file}: ${reason(e)}` };
  }
  const read = settingsFromYaml(text);
  if ("error" in read) return { kind: "error", message: `config file ${file}${read.error}` };
  const parsed = configFromSettings(read.given, read.warnings);
  if (parsed.kind === "error") return { kind: "error", message: `config file ${file}: ${parsed.message}` };
  return parsed;
}

/** Go's wording for the usual reasons a file cannot be read. */
function reason(e: unknown): string {
  const code = (e as { code?: string }).code;
  if (code === "ENOENT") return "no such file or directory";
  if (code === "EACCES") return "permission denied";
  if (code === "EISDIR") return "is a directory";
  return (e as Error).message;
}

/**
 * Settings by flag name from the YAML text, with warnings for what is ignored; an error's
 * text starts with ", line N: " (or ": ") to follow the file's name.
 */
export function settingsFromYaml(
  text: string,
): { given: Map<string, string>; warnings: string[] } | { error: string } {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, {
    version: "1.1", // go-yaml v2: yes/no/on/off are booleans, 010 is octal
    intAsBigInt: true, // uint64 settings are exact
    uniqueKeys: false, // go-yaml v2 lets a repeated key's last value win
    merge: true,
    lineCounter: lines,
  });
  // go-yaml reads the first document of a stream.
  const doc = Array.isArray(docs) ? docs[0] : undefined;
  const given = new Map<string, string>();
  const warnings: string[] = [];
  if (doc === undefined) return { given, warnings };
  if (doc.errors.length > 0) {
    return { error: `: ${doc.errors[0].message.split("\n")[0].replace(/:$/, "")}` };
  }
  // Each key's line, by its dotted path ("discovery-config.client.endpoints").
  const keyLines = new Map<string, number>();
  const noteLines = (node: unknown, path: string) => {
    if (!isMap(node)) return;
    for (const pair of node.items) {
      if (!isScalar(pair.key) || pair.key.range == null) continue;
      const key = `${path}${pair.key.value}`;
      keyLines.set(key, lines.linePos(pair.key.range[0]).line);
      noteLines(pair.value, `${key}.`);
    }
  };
  noteLines(doc.contents, "");
  const top: unknown = doc.toJS();
  if (top === null || top === undefined) return { given, warnings };
  if (!isPlainObject(top)) {
    return { error: `: the file must be a mapping of etcd's configuration keys, not ${describe(top)}` };
  }
  const fail = (path: string, message: string) => {
    const line = keyLines.get(path);
    return { error: `${line === undefined ? "" : `, line ${line}`}: ${path} ${message}` };
  };
  // An object's keys into `given`; the first value of the wrong type is the error.
  const readObject = (obj: Record<string, unknown>, shape: Shape, path: string): { error: string } | null => {
    for (const [rawKey, value] of Object.entries(obj)) {
      const key = known(rawKey, shape);
      const at = `${path}${rawKey}`;
      if (key === undefined) {
        warnings.push(`config file: ignored the unknown key ${JSON.stringify(at)}`);
        continue;
      }
      if (value === null) continue; // as in Go, null leaves the default
      const inner = shape[key];
      if (isField(inner)) {
        if ("ignored" in inner) {
          warnings.push(`config file: ignored ${JSON.stringify(at)}: ${inner.ignored}`);
          continue;
        }
        const v = convert(value, inner.type);
        if (typeof v !== "string") return fail(at, v.error);
        given.set(inner.flag, v);
        continue;
      }
      if (!isPlainObject(value)) {
        return fail(at, `must be a mapping of ${Object.keys(inner).join(", ")}, not ${describe(value)}`);
      }
      const err = readObject(value, inner, `${at}.`);
      if (err !== null) return err;
    }
    return null;
  };
  for (const [rawKey, value] of Object.entries(top)) {
    const key = known(rawKey, { ...KEYS, ...OBJECTS });
    if (key === undefined) {
      warnings.push(`config file: ignored the unknown key ${JSON.stringify(rawKey)}${ignoredWhy(rawKey)}`);
      continue;
    }
    if (value === null) continue; // as in Go, null leaves the default
    const shape = OBJECTS[key];
    if (shape === undefined) {
      const v = convert(value, KEYS[key]);
      if (typeof v !== "string") return fail(rawKey, v.error);
      given.set(key, v);
      continue;
    }
    if (!isPlainObject(value)) {
      return fail(rawKey, `must be a mapping of ${Object.keys(shape).join(", ")}, not ${describe(value)}`);
    }
    const err = readObject(value, shape, `${rawKey}.`);
    if (err !== null) return err;
  }
  return { given, warnings };
}

/** The table's spelling of `key`: exact, else case-insensitive, as Go's JSON decoder matches. */
function known<T>(key: string, table: Readonly<Record<string, T>>): string | undefined {
  if (Object.hasOwn(table, key)) return key;
  const lower = key.toLowerCase();
  return Object.keys(table).find((k) => k.toLowerCase() === lower);
}

/** Why etcd ignores a key that is a flag: its TLS flags have their own objects in the file. */
function ignoredWhy(key: string): string {
  const k = key.toLowerCase();
  const side = k.startsWith("peer-") ? "peer" : "client";
  const field = k.replace(/^peer-/, "");
  if (Object.hasOwn(SECURITY_FIELDS, field)) {
    return ` (etcd reads ${field} from ${side}-transport-security in a config file)`;
  }
  return " (etcd ignores it too)";
}

/** The flag-syntax value of a YAML value for a setting of Go type `type`. */
function convert(v: unknown, type: GoType): string | { error: string } {
  switch (type) {
    case "string":
      if (typeof v === "string") return v;
      // sigs.k8s.io/yaml would give a string field a number's text, but not the fields of
      // etcd's embedded config struct (it looks the wrong field up): etcd 3.4 refuses them.
      if (typeof v === "bigint" || typeof v === "number" || typeof v === "boolean") {
        return { error: `must be a string, not ${describe(v)} (quote it: "${v}")` };
      }
      return { error: `must be a string, not ${describe(v)}` };
    case "bool":
      if (typeof v === "boolean") return String(v);
      return { error: `must be true or false, not ${describe(v)}` };
    case "uint":
    case "uint32":
    case "uint64": {
      const n = wholeNumber(v);
      const max = UNSIGNED_MAX[type]!;
      if (n !== null && n >= 0n && n <= max) return n.toString();
      return { error: `must be a whole number from 0 to ${max} (etcd's ${type}), not ${describe(v)}` };
    }
    case "int":
    case "int64": {
      const n = wholeNumber(v);
      if (n !== null && n >= -(2n ** 63n) && n < 2n ** 63n) return n.toString();
      return { error: `must be a whole number (etcd's ${type}), not ${describe(v)}` };
    }
    case "duration": {
      const n = wholeNumber(v);
      if (n !== null && n >= -(2n ** 63n) && n < 2n ** 63n) return formatNanos(n);
      return {
        error: `must be a whole number of nanoseconds (etcd reads a duration so in its config file: ` +
          `5000000000 is 5s), not ${describe(v)}`,
      };
    }
    case "strings": {
      if (!Array.isArray(v)) return { error: `must be a list of strings, not ${describe(v)}` };
      const out: string[] = [];
      for (const item of v) {
        if (item === null) continue;
        const s = convert(item, "string");
        if (typeof s !== "string") {
          return { error: `must be a list of strings, not a list holding ${describe(item)}` };
        }
        out.push(s);
      }
      return out.join(",");
    }
  }
}

/** An integer, or a float with no fraction (Go's JSON decoder takes 1e3 for a uint). */
function wholeNumber(v: unknown): bigint | null {
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
  return null;
}

function describe(v: unknown): string {
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
  if (typeof v === "number" || typeof v === "bigint") return `the number ${v}`;
  if (typeof v === "boolean") return `the boolean ${v}`;
  if (Array.isArray(v)) return "a list";
  return "a mapping";
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
