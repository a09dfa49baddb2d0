/**
 * `etcd gateway start` (etcdmain/gateway.go): flags, checks and messages as etcd 3.4's,
 * then a TcpProxy on --listen-addr, to --endpoints or the endpoints --discovery-srv finds.
 */
import * as net from "node:net";
import type { FlagSpec } from "../../lib/pflag.ts";
import { type Output, parseStart, type StartCommand } from "../subcommand.ts";
import { TcpProxy } from "./tcpproxy.ts";
import { discoverClientEndpoints } from "../discovery/clients.ts";

const FLAGS: FlagSpec[] = [
  { name: "listen-addr", kind: "string", def: "127.0.0.1:23790", usage: "listen address" },
  { name: "discovery-srv", kind: "string", def: "", usage: "DNS domain used to bootstrap initial cluster" },
  {
    name: "discovery-srv-name",
    kind: "string",
    def: "",
    usage: "service name to query when using DNS discovery",
  },
  { name: "insecure-discovery", kind: "bool", def: false, usage: "accept insecure SRV records" },
  {
    name: "trusted-ca-file",
    kind: "string",
    def: "",
    usage:
      "path to the client server TLS CA file for verifying the discovered endpoints when discovery-srv is provided.",
  },
  {
    name: "endpoints",
    kind: "stringSlice",
    def: ["127.0.0.1:2379"],
    usage: "comma separated etcd cluster endpoints",
  },
  {
    name: "retry-delay",
    kind: "duration",
    def: 60_000,
    usage: "duration of delay before retrying failed endpoints",
  },
];

const COMMAND: StartCommand = {
  group: "gateway",
  groupShort: "gateway related command",
  short: "start the gateway",
  flags: FLAGS,
};

/** `host:port` as Go's net.SplitHostPort splits it (brackets around IPv6), or null. */
export function splitHostPort(addr: string): { host: string; port: string } | null {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([^:]*)$/.exec(addr);
  return m === null ? null : { host: m[1] ?? m[2], port: m[3] };
}

/** An endpoint without its scheme: the gateway proxies TCP, not URLs. */
function stripScheme(ep: string): string {
  try {
    const u = new URL(ep);
    if (u.host !== "" && /^[a-z][a-z0-9+.-]*:\/\//i.test(ep)) return u.host;
  } catch { /* not a URL: a bare host:port */ }
  return ep;
}

/** Runs `etcd gateway ...` (args after `gateway`); resolves with the exit code when it stops. */
export async function gatewayMain(args: readonly string[], out: Output, err: Output): Promise<number> {
  const parsed = parseStart(COMMAND, args, out, err);
  if (parsed.kind === "exit") return parsed.code;
  const v = parsed.flags.values;
  let given = v.get("endpoints") as string[];
  if (v.get("discovery-srv") !== "") {
    const found = await discoverClientEndpoints({
      domain: v.get("discovery-srv") as string,
      serviceName: v.get("discovery-srv-name") as string,
      insecure: v.get("insecure-discovery") as boolean,
      caFile: v.get("trusted-ca-file") as string,
      env: process.env,
    });
    if (found instanceof Error) {
      err.write(`${found.message}\n`);
      return 1;
    }
    // None found: the given endpoints, as etcd falls back to them.
    if (found.length > 0) given = found;
  }
  const endpoints: { host: string; port: number }[] = [];
  for (const ep of given.map(stripScheme)) {
    const hp = splitHostPort(ep);
    if (hp === null) {
      out.write(`error parsing endpoint ${JSON.stringify(ep)}`);
      return 1;
    }
    // An SRV target's trailing dot names the same host; getaddrinfo may not know it with one.
    endpoints.push({ host: hp.host.replace(/\.$/, ""), port: Number.parseInt(hp.port, 10) || 0 });
  }
  const listenAddr = v.get("listen-addr") as string;
  const listen = splitHostPort(listenAddr);
  if (listen === null) {
    out.write(`failed to validate listen address: ${listenAddr}\n`);
    return 1;
  }
  // etcd refuses an endpoint that is the gateway itself: it would proxy to itself forever.
  for (const e of endpoints) {
    if (String(e.port) === listen.port && e.host === listen.host) {
      out.write(
        `SRV or endpoint (${e.host}:${e.port}->${e.host}:${e.port}) should not resolve to the gateway listen addr (${listenAddr})\n`,
      );
      return 1;
    }
  }
  if (endpoints.length === 0) {
    out.write("no endpoints found\n");
    return 1;
  }
  const server = net.createServer({ pauseOnConnect: true });
  const bound = await new Promise<Error | null>((resolve) => {
    server.once("error", resolve);
    server.listen(
      Number(listen.port),
      listen.host === "localhost" ? "127.0.0.1" : listen.host,
      () => resolve(null),
    );
  });
  if (bound !== null) {
    err.write(`listen tcp ${listenAddr}: bind: ${bound.message}\n`);
    return 1;
  }
  const proxy = new TcpProxy({ endpoints, retryDelayMs: v.get("retry-delay") as number });
  proxy.run(server);
  return await new Promise<number>((resolve) => {
    const stop = () => {
      proxy.stop();
      server.close();
      resolve(0);
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
}
