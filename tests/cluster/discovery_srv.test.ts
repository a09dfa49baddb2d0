/**
 * `--discovery-srv`: members bootstrap from DNS SRV records, and the CLI finds client
 * endpoints the same way. dnsmasq on loopback serves the records; ETCDTS_DNS_SERVER points
 * etcdts at it (the real etcd asks /etc/resolv.conf's servers only, so it runs here where
 * the answer needs no DNS).
 */
import { afterAll, describe, expect, test } from "bun:test";
import path from "node:path";
import { cleanup, ETCDTS_BIN, freePort, run, startServer, tempDir, waitFor } from "../harness.ts";
import { haveDnsmasq, startDnsmasq } from "../dnsmasq.ts";
import { memberArgs } from "./discovery_member.ts";
import { makeCerts } from "../security/certs.ts";
import { CONFORMANCE_TARGETS } from "../harness.ts";

afterAll(cleanup);

const DOMAIN = "disc.test";

async function member(
  dns: string,
  opts: { name: string; peer: number; client: number; dir: string; extra?: readonly string[] },
) {
  return await startServer("etcdts", {
    clientPort: opts.client,
    dataDir: path.join(opts.dir, opts.name),
    healthCheck: "tcp",
    env: { ETCDTS_DNS_SERVER: dns },
    args: memberArgs(opts.name, opts, opts.dir, opts.extra ?? []),
  });
}

/** `etcdts serve` run to its end (a start-up that fails). */
function serveFails(dns: string, args: readonly string[]) {
  return run([ETCDTS_BIN, "serve", ...args], {
    env: { ETCDTS_DNS_SERVER: dns, ETCD_EXPERIMENTAL_JIT_WARMUP: "false" },
  });
}

describe.skipIf(!haveDnsmasq())("DNS SRV discovery", () => {
  test("3 members bootstrap from _etcd-server SRV records; the CLI finds _etcd-client ones", async () => {
    const peers = [await freePort(), await freePort(), await freePort()];
    const clients = [await freePort(), await freePort(), await freePort()];
    const dns = await startDnsmasq({
      domains: [DOMAIN],
      // The service name (--discovery-srv-name) picks these records, not the unnamed ones.
      srv: [
        ...peers.map((port) => ({ service: `_etcd-server-prod._tcp.${DOMAIN}`, target: "localhost", port })),
        ...clients.map((port) => ({
          service: `_etcd-client-prod._tcp.${DOMAIN}`,
          target: "localhost",
          port,
        })),
        { service: `_etcd-server._tcp.${DOMAIN}`, target: "localhost", port: 1 },
      ],
    });
    const dir = tempDir("etcdts-srv-");
    const members = await Promise.all(
      ["a", "b", "c"].map((name, i) =>
        member(dns.server, {
          name,
          peer: peers[i],
          client: clients[i],
          dir,
          extra: ["--discovery-srv", DOMAIN, "--discovery-srv-name", "prod"],
        })
      ),
    );
    const cli = (args: readonly string[]) =>
      run([ETCDTS_BIN, "--discovery-srv", DOMAIN, "--discovery-srv-name", "prod", ...args], {
        env: { ETCDTS_DNS_SERVER: dns.server },
      });
    await waitFor("the cluster to serve", async () => (await cli(["put", "k", "v"])).code === 0, {
      timeoutMs: 30_000,
    });
    const got = await cli(["get", "k", "--print-value-only"]);
    expect(got).toEqual({ stdout: "v\n", stderr: "", code: 0 });

    // One cluster of three, each known by the peer URL of its SRV record; the others were
    // named by their order in the records (etcd's "0", "1"), which only the bootstrap saw.
    const list = await cli(["member", "list", "-w", "json"]);
    const peerUrls = (JSON.parse(list.stdout).members as { peerURLs: string[] }[]).flatMap((m) => m.peerURLs);
    expect(peerUrls.sort()).toEqual(peers.map((p) => `http://localhost:${p}`).sort());
    for (const m of members) {
      expect(m.stderr()).toContain('"msg":"got bootstrap from DNS for etcd-server"');
    }

    // Endpoints as etcdctl prints them: the SRV target with its trailing dot.
    const health = await cli(["endpoint", "health"]);
    expect(health.code).toBe(0);
    for (const p of clients) {
      expect(health.stderr + health.stdout).toContain(`http://localhost.:${p} is healthy`);
    }

    // --insecure-discovery=false drops http endpoints, as etcdctl does, and falls back to --endpoints.
    const secureOnly = await cli([
      "--insecure-discovery=false",
      `--endpoints=127.0.0.1:${clients[0]}`,
      "get",
      "k",
    ]);
    expect(secureOnly.code).toBe(0);
    expect(secureOnly.stderr).toContain(
      `ignoring discovered insecure endpoint "http://localhost.:${clients[0]}"`,
    );

    // A restart has a log: it rejoins from it, asking DNS nothing (etcd consults discovery only
    // to bootstrap), even with the records gone.
    await members[0].stop();
    await member("127.0.0.1:1", {
      name: "a",
      peer: peers[0],
      client: clients[0],
      dir,
      extra: ["--discovery-srv", DOMAIN, "--discovery-srv-name", "prod"],
    });
    await waitFor("the restarted member to serve", async () => {
      const r = await run([
        ETCDTS_BIN,
        `--endpoints=127.0.0.1:${clients[0]}`,
        "get",
        "k",
        "--print-value-only",
      ]);
      return r.stdout === "v\n";
    }, { timeoutMs: 20_000 });
  }, 60_000);

  test("a target host resolves through the DNS server too", async () => {
    const [peer, client] = [await freePort(), await freePort()];
    const dns = await startDnsmasq({
      domains: [DOMAIN],
      srv: [{ service: `_etcd-server._tcp.${DOMAIN}`, target: `m1.${DOMAIN}`, port: peer }],
      hosts: { [`m1.${DOMAIN}`]: "127.0.0.1" },
    });
    const m = await member(dns.server, {
      name: "solo",
      peer,
      client,
      dir: tempDir("etcdts-srv-"),
      extra: ["--discovery-srv", DOMAIN],
    });
    const list = await run([ETCDTS_BIN, `--endpoints=127.0.0.1:${client}`, "member", "list"]);
    expect(list.stdout).toContain(`, solo, http://m1.${DOMAIN}:${peer}, http://127.0.0.1:${client}, false`);
    expect(m.stderr()).toContain(`"node":"solo=http://m1.${DOMAIN}:${peer}"`);
  }, 30_000);

  test("no records, or none for this member: etcd's errors", async () => {
    const peer = await freePort();
    const dns = await startDnsmasq({
      domains: [DOMAIN],
      srv: [{ service: `_etcd-server._tcp.${DOMAIN}`, target: "127.0.0.1", port: peer + 1 }],
    });
    const dir = tempDir("etcdts-srv-");
    const base = ["--name", "x", "--data-dir", path.join(dir, "x"), "--initial-advertise-peer-urls"];
    const none = await serveFails(dns.server, [
      ...base,
      `http://127.0.0.1:${peer}`,
      "--discovery-srv",
      `none.${DOMAIN}`,
    ]);
    expect(none.code).toBe(1);
    const lookup = (svc: string) => `lookup _${svc}._tcp.none.${DOMAIN} on ${dns.server}: no such host`;
    expect(none.stderr).toContain(
      `"msg":"failed to resolve during SRV discovery","error":"error querying DNS SRV records for _etcd-server-ssl ${
        lookup("etcd-server-ssl")
      }"`,
    );
    expect(none.stderr).toContain('"msg":"discovery failed"');

    const notMine = await serveFails(dns.server, [
      ...base,
      `http://127.0.0.1:${peer}`,
      "--discovery-srv",
      DOMAIN,
    ]);
    expect(notMine.code).toBe(1);
    expect(notMine.stderr).toContain(
      `"msg":"discovery failed","error":"cannot find local etcd member \\"x\\" in SRV records"`,
    );

    const cli = await run([ETCDTS_BIN, "--discovery-srv", `none.${DOMAIN}`, "get", "k"], {
      env: { ETCDTS_DNS_SERVER: dns.server },
    });
    expect(cli).toEqual({
      stdout: "",
      stderr: `Error: dns lookup errors: ${lookup("etcd-client-ssl")} and ${lookup("etcd-client")}\n`,
      code: 1,
    });
  }, 30_000);
});

describe("--discovery-srv with --initial-cluster", () => {
  for (const kind of CONFORMANCE_TARGETS) {
    test(`${kind}: refused as conflicting bootstrap flags`, async () => {
      const bin = kind === "etcdts" ? [ETCDTS_BIN, "serve"] : ["/usr/bin/etcd"];
      const dir = tempDir("etcdts-srv-");
      const r = await run([
        ...bin,
        "--data-dir",
        dir,
        "--discovery-srv",
        DOMAIN,
        "--initial-cluster",
        "default=http://127.0.0.1:1,other=http://127.0.0.1:2",
      ], { env: kind === "etcdts" ? { ETCD_EXPERIMENTAL_JIT_WARMUP: "false" } : {} });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        'multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery" or ' +
          '"discovery-srv"',
      );
    });
  }
});

describe.skipIf(!haveDnsmasq())("DNS SRV discovery of TLS endpoints", () => {
  test("with --insecure-discovery=false, _etcd-client-ssl servers are verified by the domain", async () => {
    const certs = tempDir("etcdts-srv-certs-");
    makeCerts(certs, { moreNames: [DOMAIN] });
    const server = await startServer("etcdts", {
      clientScheme: "https",
      extraArgs: [`--cert-file=${certs}/server.pem`, `--key-file=${certs}/server.key`],
    });
    const port = Number(server.clientUrl.split(":")[2]);
    const dns = await startDnsmasq({
      domains: [DOMAIN, "other.test"],
      srv: [DOMAIN, "other.test"].map((d) => ({
        service: `_etcd-client-ssl._tcp.${d}`,
        target: "localhost",
        port,
      })),
    });
    const cli = (args: readonly string[]) =>
      run([ETCDTS_BIN, "--discovery-srv", DOMAIN, `--cacert=${certs}/ca.pem`, "--dial-timeout=2s", ...args], {
        env: { ETCDTS_DNS_SERVER: dns.server },
      });
    // The certificate does not name other.test: found there, the server is refused.
    const elsewhere = await run([
      ETCDTS_BIN,
      "--discovery-srv",
      "other.test",
      `--cacert=${certs}/ca.pem`,
      "--dial-timeout=1s",
      "--insecure-discovery=false",
      "get",
      "k",
    ], { env: { ETCDTS_DNS_SERVER: dns.server } });
    expect(elsewhere.code).toBe(1);
    expect(await cli(["--insecure-discovery=false", "put", "k", "v"])).toEqual({
      stdout: "OK\n",
      stderr: "",
      code: 0,
    });
    // Without it, the target's own name: "localhost." is localhost (etcdctl 3.4 fails to verify
    // a name with its trailing dot; etcdts dials and verifies it without the dot).
    expect(await cli(["get", "k", "--print-value-only"])).toEqual({ stdout: "v\n", stderr: "", code: 0 });
  }, 30_000);
});
