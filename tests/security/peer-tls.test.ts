/**
 * TLS between members: a 3-member cluster over https peer URLs, with --peer-auto-tls, and
 * with CA-signed certificates and --peer-client-cert-auth, where a member presenting a
 * certificate from another CA cannot join; --peer-cert-allowed-cn/hostname keep client
 * certificates of the same CA off the peer port; without peer client certificates the
 * member warns that its peer port must not be reachable by clients.
 */
import { afterAll, expect, test } from "bun:test";
import * as path from "node:path";
import * as fs from "node:fs";
import {
  cleanup,
  CONFORMANCE_TARGETS,
  etcdts,
  freePort,
  startCluster,
  startServer,
  tempDir,
  waitFor,
} from "../harness.ts";
import { makeCerts } from "./certs.ts";

afterAll(cleanup);

async function replicates(endpoints: string[]): Promise<void> {
  await waitFor("a write", async () => (await etcdts(endpoints.join(","), ["put", "tls", "yes"])).code === 0);
  for (const ep of endpoints) {
    await waitFor(
      `${ep} to see the write`,
      async () => (await etcdts(ep, ["get", "tls", "--print-value-only"])).stdout === "yes\n",
    );
  }
}

test("--peer-auto-tls: members talk over https with self-signed certificates", async () => {
  const cluster = await startCluster(3, { peerScheme: "https", extraArgs: ["--peer-auto-tls"] });
  await replicates(cluster.endpoints);
  const list = (await etcdts(cluster.endpoints[0], ["member", "list"])).stdout;
  expect(list.match(/https:\/\/127\.0\.0\.1:\d+/g)?.length).toBe(3);
  // Any TLS client may connect to these peer ports: the member says so.
  expect(cluster.members[0].stderr()).toContain("serving peer traffic without --peer-client-cert-auth");
}, 60_000);

test(
  "--peer-client-cert-auth, --peer-cert-allowed-cn: CA-signed members form a cluster; a foreign certificate cannot join",
  async () => {
    const dir = tempDir("etcdts-peer-certs-");
    makeCerts(dir);
    const f = (n: string) => path.join(dir, n);
    const flags = (cert: string) => [
      "--peer-cert-file",
      f(`${cert}.pem`),
      "--peer-key-file",
      f(`${cert}.key`),
      "--peer-trusted-ca-file",
      f("ca.pem"),
      "--peer-client-cert-auth",
      // Members present server.pem (CN=server): their streams and snapshots pass the filter.
      "--peer-cert-allowed-cn=server",
      // Their dials offer only this suite (to a TLS 1.2 peer; 1.3 has its own): still a cluster.
      "--cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ];
    const cluster = await startCluster(3, { peerScheme: "https", extraArgs: flags("server") });
    await replicates(cluster.endpoints);
    // The intruder's certificate is for 127.0.0.1 too, but from another CA: refused.
    await expect(
      cluster.addMember({
        extraArgs: [...flags("server"), "--peer-cert-file", f("evil.pem"), "--peer-key-file", f("evil.key")],
      }),
    )
      .rejects.toThrow(/cannot fetch cluster info|exited/);
  },
  60_000,
);

test("without peer TLS the member warns that its peer port must not be reachable by clients", async () => {
  const server = await startServer("etcdts");
  await waitFor("the warning", () => server.stderr().includes("serving peer traffic insecurely"));
  const line = server.stderr().split("\n").find((l) => l.includes("serving peer traffic insecurely"))!;
  expect(JSON.parse(line)).toMatchObject({
    level: "warn",
    msg: "serving peer traffic insecurely; the peer port must not be reachable by clients: " +
      "without peer TLS and --peer-client-cert-auth, whoever connects can act as a member",
  });
});

/** A lone member whose peer port is https, with the test CA's server certificate and `extra` flags. */
async function tlsPeerMember(kind: "etcdts" | "etcd", certs: string, extra: string[]) {
  const peer = `https://127.0.0.1:${await freePort()}`;
  const server = await startServer(kind, {
    extraArgs: [
      "--name=n1",
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=n1=${peer}`,
      `--peer-cert-file=${path.join(certs, "server.pem")}`,
      `--peer-key-file=${path.join(certs, "server.key")}`,
      `--peer-trusted-ca-file=${path.join(certs, "ca.pem")}`,
      "--peer-client-cert-auth",
      ...extra,
    ],
  });
  return { server, peer };
}

/** Whether the peer port answers /members to a caller presenting certificate `name`. */
async function peerAnswers(peer: string, certs: string, name: string): Promise<boolean> {
  const read = (f: string) => fs.readFileSync(path.join(certs, f), "utf8");
  try {
    const r = await fetch(`${peer}/members`, {
      tls: { cert: read(`${name}.pem`), key: read(`${name}.key`), ca: read("ca.pem") },
      signal: AbortSignal.timeout(5000),
    });
    return r.ok;
  } catch {
    return false;
  }
}

for (const kind of CONFORMANCE_TARGETS) {
  test(
    `${kind}: --peer-cert-allowed-cn admits a member's certificate, not a client's from the same CA`,
    async () => {
      const certs = tempDir("etcdts-peer-cn-");
      makeCerts(certs);
      const { server, peer } = await tlsPeerMember(kind, certs, ["--peer-cert-allowed-cn=server"]);
      expect(await peerAnswers(peer, certs, "server")).toBe(true);
      expect(await peerAnswers(peer, certs, "alice")).toBe(false);
      await waitFor(
        "the refusal in the log",
        () => server.stderr().includes("client certificate authentication failed"),
      );
      expect(server.stderr()).toContain("rejected connection");
      if (kind === "etcdts") {
        expect(server.stderr()).not.toContain("the peer port must not be reachable");
      }
    },
    60_000,
  );

  test(`${kind}: --peer-cert-allowed-hostname admits certificates valid for that host`, async () => {
    const certs = tempDir("etcdts-peer-host-");
    makeCerts(certs);
    const one = await tlsPeerMember(kind, certs, ["--peer-cert-allowed-hostname=127.0.0.1"]);
    expect(await peerAnswers(one.peer, certs, "alice")).toBe(true);
    const other = await tlsPeerMember(kind, certs, ["--peer-cert-allowed-hostname=db.example.com"]);
    expect(await peerAnswers(other.peer, certs, "server")).toBe(false);
  }, 60_000);

  test(
    `${kind}: --peer-cert-allowed-cn and --peer-cert-allowed-hostname together refuse to start`,
    async () => {
      const certs = tempDir("etcdts-peer-both-");
      makeCerts(certs);
      const started = tlsPeerMember(kind, certs, [
        "--peer-cert-allowed-cn=a",
        "--peer-cert-allowed-hostname=b",
      ]);
      await expect(started).rejects.toThrow(
        /AllowedCN and AllowedHostname are mutually exclusive \(cn="a", hostname="b"\)/,
      );
    },
    60_000,
  );
}
