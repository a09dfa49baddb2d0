/**
 * v2 discovery (--discovery URL): etcdts members meet through a v2 keys directory, here on
 * the real etcd 3.4 with --enable-v2 (etcdts serves no v2 API); a member beyond the size
 * finds the cluster full and, as it has no v2 proxy to fall back to, stops either way, as
 * etcd 3.4 does with --discovery-fallback=exit.
 */
import { afterAll, describe, expect, test } from "bun:test";
import path from "node:path";
import {
  cleanup,
  ETCD_BIN,
  ETCDTS_BIN,
  freePort,
  haveRealEtcd,
  run,
  startServer,
  tempDir,
  waitFor,
} from "../harness.ts";
import { memberArgs, memberPorts } from "./discovery_member.ts";

afterAll(cleanup);

describe.skipIf(!haveRealEtcd())("v2 discovery through etcd 3.4 --enable-v2", () => {
  test("3 members bootstrap from a discovery URL; a 4th finds the cluster full", async () => {
    const service = await startServer("etcd", { extraArgs: ["--enable-v2"] });
    const durl = `${service.clientUrl}/v2/keys/discovery/tok1`;
    const size = await fetch(`${durl}/_config/size`, {
      method: "PUT",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "value=3",
    });
    expect(size.status).toBe(201);
    const dir = tempDir("etcdts-v2disc-");
    const specs = await Promise.all(
      ["a", "b", "c"].map(async (name) => ({ name, ...(await memberPorts()) })),
    );
    await Promise.all(specs.map((m) =>
      startServer("etcdts", {
        clientPort: m.client,
        dataDir: path.join(dir, m.name),
        healthCheck: "tcp",
        args: memberArgs(m.name, m, dir, ["--discovery", durl]),
      })
    ));
    const endpoints = specs.map((m) => `127.0.0.1:${m.client}`).join(",");
    await waitFor("the cluster to take a write", async () => {
      return (await run([ETCDTS_BIN, `--endpoints=${endpoints}`, "put", "k", "v"])).code === 0;
    }, { timeoutMs: 30_000 });
    const list = await run([ETCDTS_BIN, `--endpoints=${endpoints}`, "member", "list"]);
    expect(list.stdout.trim().split("\n").map((l) => l.split(", ")[2]).sort()).toEqual(["a", "b", "c"]);

    const late = (more: readonly string[]) =>
      run([
        ETCDTS_BIN,
        "serve",
        ...memberArgs("d", { peer: 1, client: 2 }, dir, ["--discovery", durl, ...more]),
      ], {
        env: { ETCD_EXPERIMENTAL_JIT_WARMUP: "false" },
        timeoutMs: 20_000,
      });
    const full = '"error":"failed to join discovery cluster (discovery: cluster is full)"';
    const proxy = await late([]);
    expect(proxy.code).toBe(1);
    expect(proxy.stderr).toContain(
      `"msg":"discovery cluster is full, falling back to proxy","fallback-proxy":"proxy",${full}`,
    );
    expect(proxy.stderr).toContain("etcdts has no v2 proxy to fall back to");
    const exit = await late(["--discovery-fallback", "exit"]);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toContain(`"msg":"failed to bootstrap; discovery token was already used"`);
    expect(exit.stderr).toContain(full);

    // The real etcd, as a 4th member told to exit, says the same.
    const real = await run([
      ETCD_BIN,
      "--logger=zap",
      ...memberArgs("e", { peer: 3, client: 4 }, dir, ["--discovery", durl, "--discovery-fallback", "exit"]),
    ], { timeoutMs: 20_000 });
    expect(real.code).toBe(1);
    expect(real.stderr).toContain(`"msg":"failed to bootstrap; discovery token was already used"`);
    expect(real.stderr).toContain(full);
  }, 60_000);

  test("--discovery-proxy: the requests go through an HTTP proxy", async () => {
    const service = await startServer("etcd", { extraArgs: ["--enable-v2"] });
    const durl = `${service.clientUrl}/v2/keys/discovery/tok2`;
    await fetch(`${durl}/_config/size`, { method: "PUT", body: new URLSearchParams({ value: "1" }) });
    // A forward proxy: requests arrive with the absolute URL, which it fetches.
    const seen: string[] = [];
    const proxy = Bun.serve({
      port: await freePort(),
      hostname: "127.0.0.1",
      fetch(req) {
        seen.push(`${req.method} ${new URL(req.url).pathname}`);
        return fetch(req.url, { method: req.method, headers: req.headers, body: req.body });
      },
    });
    const p = await memberPorts();
    const dir = tempDir("etcdts-v2disc-");
    try {
      await startServer("etcdts", {
        clientPort: p.client,
        dataDir: path.join(dir, "solo"),
        args: memberArgs("solo", p, dir, [
          "--discovery",
          durl,
          "--discovery-proxy",
          `127.0.0.1:${proxy.port}`,
        ]),
      });
    } finally {
      proxy.stop(true);
    }
    expect(seen).toContain("GET /v2/keys/discovery/tok2/_config/size");
    expect(seen.some((r) => r.startsWith("PUT /v2/keys/discovery/tok2/"))).toBe(true);
  }, 30_000);
});
