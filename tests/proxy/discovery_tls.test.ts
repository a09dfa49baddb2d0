/**
 * grpc-proxy and gateway find their endpoints through DNS SRV (--discovery-srv, against
 * dnsmasq on loopback), keep http ones only with --insecure-discovery, and fall back to
 * --endpoints when none is left, as etcdmain's discoverEndpoints does. grpc-proxy's
 * --listen-cipher-suites takes etcd's suite names and refuses others at the handshake.
 * etcdts only: etcd's Go resolver cannot be pointed at a DNS server on a loopback port.
 */
import { afterAll, describe, expect, test } from "bun:test";
import * as tls from "node:tls";
import * as fs from "node:fs";
import { cleanup, etcdctl, ETCDTS_BIN, freePort, run, startServer, tempDir } from "../harness.ts";
import { haveDnsmasq, startDnsmasq } from "../dnsmasq.ts";
import { makeCerts } from "../security/certs.ts";
import { startProxy } from "./proxy_process.ts";

afterAll(cleanup);

const DOMAIN = "proxy.test";

describe.skipIf(!haveDnsmasq())("--discovery-srv for grpc-proxy and gateway", () => {
  test(
    "discovered endpoints are used with --insecure-discovery; without it http ones are dropped",
    async () => {
      const server = await startServer("etcdts");
      const port = Number(server.endpoint.split(":")[1]);
      const dns = await startDnsmasq({
        domains: [DOMAIN, "none.test"],
        srv: [{ service: `_etcd-client._tcp.${DOMAIN}`, target: "localhost", port }],
      });
      const env = { ETCDTS_DNS_SERVER: dns.server };
      const dead = `127.0.0.1:${await freePort()}`;
      for (const command of ["grpc-proxy", "gateway"] as const) {
        const found = await startProxy("etcdts", command, [
          "--discovery-srv",
          DOMAIN,
          "--insecure-discovery",
          "--endpoints",
          dead,
        ], env);
        expect(await etcdctl(found.endpoint, ["put", `via-${command}`, "v"])).toMatchObject({ code: 0 });
        expect(found.stderr()).toContain('"msg":"discovered cluster from SRV"');
        // Secure discovery: the http endpoint "is insecure", so --endpoints (dead here) is used.
        const secure = await startProxy(
          "etcdts",
          command,
          ["--discovery-srv", DOMAIN, "--endpoints", dead],
          env,
        );
        expect(secure.stderr()).toContain('"msg":"failed to validate discovered endpoints"');
        expect(secure.stderr()).toContain(`\\"http://localhost.:${port}\\" is insecure`);
        const refused = await etcdctl(secure.endpoint, [
          "get",
          "k",
          "--dial-timeout=1s",
          "--command-timeout=2s",
        ]);
        expect(refused.code).not.toBe(0);
        await secure.stop();
      }
      const got = await etcdctl(server.endpoint, ["get", "via-", "--prefix", "--keys-only"]);
      expect(got.stdout).toBe("via-gateway\n\nvia-grpc-proxy\n\n");
      // No records at all: etcd prints the lookup errors and exits 1.
      for (const command of ["grpc-proxy", "gateway"]) {
        const none = await run([ETCDTS_BIN, command, "start", "--discovery-srv", "none.test"], { env });
        expect(none.code).toBe(1);
        expect(none.stderr).toContain("dns lookup errors");
      }
    },
    60_000,
  );
});

describe("grpc-proxy --listen-cipher-suites", () => {
  test(
    "the listed suites are the only ones the proxy's TLS accepts; an unknown name is refused",
    async () => {
      const certs = tempDir("etcdts-proxy-suites-");
      makeCerts(certs);
      const server = await startServer("etcdts");
      const proxy = await startProxy("etcdts", "grpc-proxy", [
        "--endpoints",
        server.endpoint,
        `--cert-file=${certs}/server.pem`,
        `--key-file=${certs}/server.key`,
        "--listen-cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
      ]);
      const [host, port] = proxy.endpoint.split(":");
      const handshake = (ciphers: string) =>
        new Promise<string>((resolve) => {
          const s = tls.connect({
            host,
            port: Number(port),
            ca: fs.readFileSync(`${certs}/ca.pem`),
            servername: "localhost",
            maxVersion: "TLSv1.2",
            ciphers,
          });
          s.once("secureConnect", () => {
            resolve(s.getCipher().name);
            s.destroy();
          });
          s.once("error", () => resolve("refused"));
        });
      expect(await handshake("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384")).toBe(
        "ECDHE-ECDSA-AES128-GCM-SHA256",
      );
      expect(await handshake("ECDHE-ECDSA-AES256-GCM-SHA384")).toBe("refused");
      const bad = await run([ETCDTS_BIN, "grpc-proxy", "start", "--listen-cipher-suites=TLS_NOPE"]);
      expect(bad).toMatchObject({ code: 1, stderr: 'unexpected TLS cipher suite "TLS_NOPE"\n' });
    },
    30_000,
  );
});
