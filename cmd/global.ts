/**
 * etcdctl's global flags and what they turn into: ETCDCTL_* variables, the client
 * settings, the output printer and the command timeout (ctlv3/ctl.go, command/global.go).
 */
import type { Client, TlsOptions } from "../client/client.ts";
import * as fs from "node:fs";
import type { RunContext } from "./command.ts";
import { CliError, ExitCode } from "./errors.ts";
import type { FlagSpec, FlagValue } from "../lib/pflag.ts";
import { defaults, setFlag } from "../lib/pflag.ts";
import { formatGoDuration } from "./gofmt.ts";
import type { Sink } from "./io.ts";
import type { Printer } from "./print/printer.ts";

const s = 1000;

/** The root's persistent flags, in etcdctl's wording. */
export const globalFlags: FlagSpec[] = [
  { name: "endpoints", kind: "stringSlice", def: ["127.0.0.1:2379"], usage: "gRPC endpoints" },
  { name: "debug", kind: "bool", def: false, usage: "enable client-side debug logging" },
  {
    name: "write-out",
    short: "w",
    kind: "string",
    def: "simple",
    usage: "set the output format (fields, json, protobuf, simple, table)",
  },
  { name: "hex", kind: "bool", def: false, usage: "print byte strings as hex encoded strings" },
  { name: "dial-timeout", kind: "duration", def: 2 * s, usage: "dial timeout for client connections" },
  {
    name: "command-timeout",
    kind: "duration",
    def: 5 * s,
    usage: "timeout for short running command (excluding dial timeout)",
  },
  { name: "keepalive-time", kind: "duration", def: 2 * s, usage: "keepalive time for client connections" },
  {
    name: "keepalive-timeout",
    kind: "duration",
    def: 6 * s,
    usage: "keepalive timeout for client connections",
  },
  {
    name: "insecure-transport",
    kind: "bool",
    def: true,
    usage: "disable transport security for client connections",
  },
  {
    name: "insecure-discovery",
    kind: "bool",
    def: true,
    usage: "accept insecure SRV records describing cluster endpoints",
  },
  {
    name: "insecure-skip-tls-verify",
    kind: "bool",
    def: false,
    usage:
      "skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)",
  },
  { name: "cert", kind: "string", def: "", usage: "identify secure client using this TLS certificate file" },
  { name: "key", kind: "string", def: "", usage: "identify secure client using this TLS key file" },
  {
    name: "cacert",
    kind: "string",
    def: "",
    usage: "verify certificates of TLS-enabled secure servers using this CA bundle",
  },
  {
    name: "user",
    kind: "string",
    def: "",
    usage: "username[:password] for authentication (prompt if password is not supplied)",
  },
  {
    name: "password",
    kind: "string",
    def: "",
    usage: "password for authentication (if this option is used, --user option shouldn't include password)",
  },
  {
    name: "discovery-srv",
    short: "d",
    kind: "string",
    def: "",
    usage: "domain name to query for SRV records describing cluster endpoints",
  },
  {
    name: "discovery-srv-name",
    kind: "string",
    def: "",
    usage: "service name to query when using DNS discovery",
  },
];

/** ETCDCTL_<NAME> for a flag name (pkg/flags.FlagToEnv). */
export function flagEnvName(name: string): string {
  return `ETCDCTL_${name.toUpperCase().replaceAll("-", "_")}`;
}

/**
 * Applies ETCDCTL_* variables to the inherited flags not set on the command line, and
 * reports unknown or conflicting variables the way pkg/flags does (a conflict is fatal).
 * Invalid values are ignored, as etcdctl ignores SetPflagsFromEnv's error.
 */
export function applyEnv(ctx: RunContext): void {
  const alreadySet = new Set<string>();
  const used = new Set<string>();
  for (const f of ctx.inherited) {
    const key = flagEnvName(f.name);
    if (ctx.flags.changed.has(f.name)) {
      alreadySet.add(key);
      continue;
    }
    const v = ctx.io.env[key];
    if (v !== undefined && v !== "") {
      used.add(key);
      setFlag(f, ctx.flags, v);
    }
  }
  for (const [k, v] of Object.entries(ctx.io.env)) {
    if (used.has(k) || k === "ETCDCTL_API" || v === undefined) continue;
    if (alreadySet.has(k)) {
      throw new CliError(
        ExitCode.Error,
        `${logStamp()} C | pkg/flags: conflicting environment variable ${
          JSON.stringify(k)
        } is shadowed by corresponding command-line flag (either unset environment variable or disable flag)`,
        { raw: true },
      );
    }
    if (k.startsWith("ETCDCTL_")) {
      ctx.io.stderr.write(`${logStamp()} W | pkg/flags: unrecognized environment variable ${k}=${v}\n`);
    }
  }
}

// capnslog's timestamp: "2006-01-02 15:04:05.000000" in local time.
function logStamp(): string {
  const d = new Date();
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${
    p(d.getMinutes())
  }:${p(d.getSeconds())}.${p(d.getMilliseconds() * 1000, 6)}`;
}

/** A flag's value as pflag's Value.String() prints it (for --debug). */
function flagValueText(v: FlagValue, f: FlagSpec): string {
  if (f.kind === "duration") return formatGoDuration(v as number);
  if (f.kind === "stringSlice") return `[${(v as string[]).join(",")}]`;
  return String(v);
}

/** Reads a global flag's value. */
export function flagValue<T extends FlagValue>(ctx: RunContext, name: string): T {
  return ctx.flags.values.get(name) as T;
}

/** What a client needs, resolved from flags and environment. */
export interface ClientSettings {
  endpoints: string[];
  dialTimeoutMs: number;
  keepAliveTimeMs: number;
  keepAliveTimeoutMs: number;
  /** For https:// endpoints (and bare ones when TLS is configured). */
  tls?: TlsOptions;
  /** --user/--password: the client authenticates and refreshes its token. */
  user?: { name: string; password: string };
  /** Where clientv3's warnings go (etcdctl's stderr). */
  log?: Sink;
}

/**
 * etcdctl's clientConfigFromCmd: applies the environment, validates TLS/auth/discovery
 * flags and selects the printer. Security features answer with a clear error until built.
 */
export async function clientSettings(
  ctx: RunContext,
): Promise<{ settings: ClientSettings; printer: Printer }> {
  applyEnv(ctx);
  if (flagValue<boolean>(ctx, "debug")) {
    for (const f of ctx.inherited) {
      ctx.io.stderr.write(`${flagEnvName(f.name)}=${flagValueText(ctx.flags.values.get(f.name)!, f)}\n`);
    }
  }
  for (const name of ["cert", "key", "cacert"]) {
    if (ctx.flags.changed.has(name) && flagValue<string>(ctx, name) === "") {
      throw new CliError(ExitCode.BadArgs, `empty string is passed to --${name} option`);
    }
  }
  const secure = ["cert", "key", "cacert"].some((n) => flagValue<string>(ctx, n) !== "") ||
    !flagValue<boolean>(ctx, "insecure-transport");
  const discovered = await discoveredEndpoints(ctx);
  const tls = tlsSettings(ctx);
  const user = await userSettings(ctx);
  const printer = await printerFor(ctx);
  return {
    settings: {
      tls,
      user,
      // With TLS configured, clientv3 dials endpoints given without a scheme over TLS.
      endpoints: (discovered.length > 0 ? discovered : flagValue<string[]>(ctx, "endpoints")).map((e) =>
        e.trim()
      ).map((e) => secure && !/^[a-z]+:\/\//.test(e) ? `https://${e}` : e),
      dialTimeoutMs: flagValue<number>(ctx, "dial-timeout"),
      keepAliveTimeMs: flagValue<number>(ctx, "keepalive-time"),
      keepAliveTimeoutMs: flagValue<number>(ctx, "keepalive-timeout"),
      log: ctx.io.stderr,
    },
    printer,
  };
}

/**
 * etcdctl's endpointsFromFlagValue: with --discovery-srv, the endpoints of the
 * `_etcd-client[-ssl][-NAME]._tcp` records; http ones only with --insecure-discovery
 * (the default). None found means --endpoints.
 */
async function discoveredEndpoints(ctx: RunContext): Promise<string[]> {
  const domain = flagValue<string>(ctx, "discovery-srv");
  if (domain === "") return [];
  const { getClient, srvResolver } = await import("../lib/srv.ts");
  const found = await getClient(
    srvResolver(ctx.io.env),
    "etcd-client",
    domain,
    flagValue<string>(ctx, "discovery-srv-name"),
  );
  if (found instanceof Error) throw new CliError(ExitCode.Error, found.message);
  if (flagValue<boolean>(ctx, "insecure-discovery")) return found;
  return found.filter((ep) => {
    if (!ep.startsWith("http://")) return true;
    ctx.io.stderr.write(`ignoring discovered insecure endpoint ${JSON.stringify(ep)}\n`);
    return false;
  });
}

function tlsSettings(ctx: RunContext): TlsOptions {
  const read = (name: string) => {
    const f = flagValue<string>(ctx, name);
    if (f === "") return undefined;
    try {
      return fs.readFileSync(f, "utf8");
    } catch (e) {
      throw new CliError(
        ExitCode.Error,
        `open ${f}: ${
          (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (e as Error).message
        }`,
      );
    }
  };
  // etcdctl checks the servers' certificates against the SRV domain unless --insecure-discovery.
  const domain = flagValue<boolean>(ctx, "insecure-discovery") ? "" : flagValue<string>(ctx, "discovery-srv");
  return {
    ca: read("cacert"),
    cert: read("cert"),
    key: read("key"),
    insecureSkipVerify: flagValue<boolean>(ctx, "insecure-skip-tls-verify"),
    ...(domain !== "" ? { serverName: domain } : {}),
  };
}

/**
 * etcdctl's authCfgFromCmd: "name:password", or --password, or a prompt. clientv3 logs in
 * only with both a name and a password: an empty one means no credentials at all.
 */
async function userSettings(ctx: RunContext): Promise<{ name: string; password: string } | undefined> {
  const user = flagValue<string>(ctx, "user");
  const password = flagValue<string>(ctx, "password");
  if (user === "") return undefined;
  const both = (name: string, password: string) =>
    name !== "" && password !== "" ? { name, password } : undefined;
  if (password !== "") return both(user, password);
  const colon = user.indexOf(":");
  if (colon >= 0) return both(user.slice(0, colon), user.slice(colon + 1));
  const { LineReader } = await import("./io.ts");
  const { askPassword } = await import("./ask_password.ts");
  return both(user, await askPassword(ctx.io, new LineReader(ctx.io.stdin), "Password: "));
}

/** etcdctl's NewPrinter: the printer for -w/--write-out, or ExitBadFeature. */
export async function printerFor(ctx: RunContext): Promise<Printer> {
  const hex = flagValue<boolean>(ctx, "hex");
  switch (flagValue<string>(ctx, "write-out")) {
    case "simple":
      return new (await import("./print/simple.ts")).SimplePrinter({ hex });
    case "json":
      return new (await import("./print/json.ts")).JsonPrinter();
    case "fields":
      return new (await import("./print/fields.ts")).FieldsPrinter();
    case "table":
      return new (await import("./print/table.ts")).TablePrinter();
    case "protobuf":
      return new (await import("./print/protobuf.ts")).ProtobufPrinter();
  }
  throw new CliError(ExitCode.BadFeature, "unsupported output format");
}

/**
 * A client for the settings; the caller closes it. With --user it authenticates first, as
 * clientv3 does when dialing: bad credentials end the command with ExitBadConnection (a
 * server with auth off only earns a warning, and the command runs without a token).
 */
export async function newClient(settings: ClientSettings): Promise<Client> {
  const { Client } = await import("../client/client.ts");
  const { log, ...options } = settings;
  const onFailedAttempt = log && (await import("./client_log.ts")).clientv3Warnings(log);
  // A CLI process makes one call and exits: put/get/del need no shared HTTP/2 session.
  const client = new Client({ ...options, onFailedAttempt, oneShot: true });
  if (settings.user !== undefined) {
    try {
      await client.authenticate({ timeoutMs: settings.dialTimeoutMs + 5000 });
    } catch (e) {
      client.close();
      const { rpcErrorText } = await import("./rpc_error.ts");
      throw new CliError(ExitCode.BadConnection, rpcErrorText(e));
    }
  }
  return client;
}

/** The --command-timeout in milliseconds. */
export function commandTimeoutMs(ctx: RunContext): number {
  return flagValue<number>(ctx, "command-timeout");
}

/** Fresh values for the global flags (tests, and commands that re-parse like txn). */
export function globalDefaults() {
  return defaults(globalFlags);
}
