/**
 * TLS between members: a 3-member cluster over https peer URLs, with --peer-auto-tls, and
 * with CA-signed certificates and --peer-client-cert-auth, where a member presenting a
 * certificate from another CA cannot join.
 */
import { afterAll, expect, test } from "bun:test";
import * as path from "node:path";
import { cleanup, etcdts, startCluster, tempDir, waitFor } from "../harness.ts";
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
}, 60_000);

test(
  "--peer-client-cert-auth: CA-signed members form a cluster; a foreign certificate cannot join",
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
