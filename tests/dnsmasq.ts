/**
 * A DNS server on loopback for the SRV discovery tests: Debian's dnsmasq answering only
 * for what it is given (`--srv-host`, `--host-record`), NXDOMAIN for anything else under
 * its domains, and nothing from /etc/hosts or upstream. Point etcdts at it with
 * ETCDTS_DNS_SERVER.
 */
import fs from "node:fs";
import { defer, freePort, waitFor } from "./harness.ts";

export const DNSMASQ_BIN = "/usr/sbin/dnsmasq";

export function haveDnsmasq(): boolean {
  return fs.existsSync(DNSMASQ_BIN);
}

export interface SrvRecord {
  /** e.g. `_etcd-server._tcp.example.test` */
  readonly service: string;
  readonly target: string;
  readonly port: number;
}

export interface Dnsmasq {
  /** `127.0.0.1:PORT`, the value for ETCDTS_DNS_SERVER. */
  readonly server: string;
}

/** Starts dnsmasq with `srv` and `hosts` (name → IPv4) for the `domains`; stopped at cleanup. */
export async function startDnsmasq(opts: {
  domains: readonly string[];
  srv: readonly SrvRecord[];
  hosts?: Readonly<Record<string, string>>;
}): Promise<Dnsmasq> {
  const port = await freePort();
  const proc = Bun.spawn([
    DNSMASQ_BIN,
    "--keep-in-foreground",
    `--port=${port}`,
    "--listen-address=127.0.0.1",
    "--bind-interfaces",
    "--no-resolv",
    "--no-hosts",
    "--pid-file=",
    "--log-facility=-",
    ...opts.domains.map((d) => `--local=/${d}/`),
    ...opts.srv.map((r) => `--srv-host=${r.service},${r.target},${r.port}`),
    ...Object.entries(opts.hosts ?? {}).map(([name, ip]) => `--host-record=${name},${ip}`),
  ], { stdout: "ignore", stderr: "ignore" });
  defer(async () => {
    proc.kill("SIGTERM");
    await proc.exited;
  });
  const server = `127.0.0.1:${port}`;
  const { Resolver } = (await import("node:dns")).promises;
  const probe = new Resolver({ timeout: 200, tries: 1 });
  probe.setServers([server]);
  // Answering at all (even NXDOMAIN) means it is up.
  await waitFor(`dnsmasq on ${server}`, async () => {
    if (proc.exitCode !== null) throw new Error("dnsmasq exited");
    const r = await probe.resolve4(`up.${opts.domains[0]}`).then(() => "ok", (e) => e.code);
    return r === "ok" || r === "ENOTFOUND" || r === "ENODATA";
  });
  return { server };
}
