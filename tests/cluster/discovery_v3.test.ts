/**
 * v3 discovery (etcd 3.6's --discovery-token/--discovery-endpoints): etcdts members meet
 * through keys on a discovery service, here the real etcd 3.4 (and etcdts itself), form one
 * cluster, and a member beyond the size finds the cluster full.
 */
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import {
  cleanEnv,
  cleanup,
  CONFORMANCE_TARGETS,
  ETCDTS_BIN,
  run,
  startServer,
  tempDir,
  waitFor,
} from "../harness.ts";
import { memberArgs, memberPorts } from "./discovery_member.ts";

afterAll(cleanup);

async function newMember(name: string) {
  return { name, ...(await memberPorts()) };
}

const serve = (args: readonly string[]) =>
  run([ETCDTS_BIN, "serve", ...args], { env: { ETCD_EXPERIMENTAL_JIT_WARMUP: "false" }, timeoutMs: 20_000 });

for (const kind of CONFORMANCE_TARGETS) {
  describe(`v3 discovery through ${kind}`, () => {
    test("3 members bootstrap from a token; a 4th finds the cluster full", async () => {
      const service = await startServer(kind);
      const token = "tok-" + kind;
      const size = await run([
        ETCDTS_BIN,
        `--endpoints=${service.endpoint}`,
        "put",
        `/_etcd/registry/${token}/_config/size`,
        "3",
      ]);
      expect(size.code).toBe(0);
      const discovery = ["--discovery-token", token, "--discovery-endpoints", service.clientUrl];
      const dir = tempDir("etcdts-v3disc-");
      const specs = await Promise.all(["a", "b", "c"].map(newMember));
      await Promise.all(specs.map((m) =>
        startServer("etcdts", {
          clientPort: m.client,
          dataDir: path.join(dir, m.name),
          healthCheck: "tcp",
          args: memberArgs(m.name, m, dir, discovery),
        })
      ));
      const endpoints = specs.map((m) => `127.0.0.1:${m.client}`).join(",");
      await waitFor("the cluster to take a write", async () => {
        return (await run([ETCDTS_BIN, `--endpoints=${endpoints}`, "put", "k", "v"])).code === 0;
      }, { timeoutMs: 30_000 });
      for (const m of specs) {
        const got = await run([
          ETCDTS_BIN,
          `--endpoints=127.0.0.1:${m.client}`,
          "get",
          "k",
          "--print-value-only",
        ]);
        expect(got.stdout).toBe("v\n");
      }
      const list = await run([ETCDTS_BIN, `--endpoints=${endpoints}`, "member", "list"]);
      expect(list.stdout.trim().split("\n").map((l) => l.split(", ")[2]).sort()).toEqual(["a", "b", "c"]);

      // The registry holds each member under its ID, as etcd 3.6 writes it.
      const registry = await run([
        ETCDTS_BIN,
        `--endpoints=${service.endpoint}`,
        "get",
        `/_etcd/registry/${token}/members/`,
        "--prefix",
      ]);
      for (const m of specs) expect(registry.stdout).toContain(`${m.name}=http://127.0.0.1:${m.peer}`);

      const late = await newMember("d");
      const full = await serve(memberArgs(late.name, late, dir, discovery));
      expect(full.code).toBe(1);
      expect(full.stderr).toContain(
        '"msg":"failed to start etcd","error":"failed to join discovery cluster (discovery: cluster is full)"',
      );
      expect(full.stderr).toContain(
        '"msg":"do not reuse discovery token; generate a new one to bootstrap a cluster"',
      );
    }, 60_000);

    test("a token without a size key: etcd's error", async () => {
      const service = await startServer(kind);
      const dir = tempDir("etcdts-v3disc-");
      const r = await serve(
        memberArgs("a", await memberPorts(), dir, [
          "--discovery-token",
          "none",
          "--discovery-endpoints",
          service.clientUrl,
        ]),
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        '"error":"failed to join discovery cluster (discovery: size key not found)"',
      );
    }, 30_000);
  });
}

test("a discovery service with auth on: --discovery-user and --discovery-password", async () => {
  const kind = CONFORMANCE_TARGETS[CONFORMANCE_TARGETS.length - 1];
  const service = await startServer(kind);
  const admin = (args: readonly string[]) => run([ETCDTS_BIN, `--endpoints=${service.endpoint}`, ...args]);
  expect((await admin(["user", "add", "root:secret", "--interactive=false"])).code).toBe(0);
  expect((await admin(["auth", "enable"])).code).toBe(0);
  expect((await admin(["--user=root:secret", "put", "/_etcd/registry/authed/_config/size", "1"])).code).toBe(
    0,
  );
  const m = await memberPorts();
  const dir = tempDir("etcdts-v3disc-");
  const discovery = ["--discovery-token", "authed", "--discovery-endpoints", service.clientUrl];
  // Without credentials the service refuses; etcd retries that, with backoff, for ever.
  const denied = Bun.spawn([ETCDTS_BIN, "serve", ...memberArgs("x", m, dir, discovery)], {
    env: { ...cleanEnv(), ETCD_EXPERIMENTAL_JIT_WARMUP: "false" },
    stderr: "pipe",
  });
  let log = "";
  for await (const chunk of denied.stderr) {
    log += new TextDecoder().decode(chunk);
    if (log.includes('"msg":"retry connecting to discovery service"')) break;
  }
  denied.kill("SIGKILL");
  await denied.exited;
  expect(log).toContain('"msg":"failed to get cluster size from discovery service"');
  expect(log).toContain('"msg":"retry connecting to discovery service"');
  await startServer("etcdts", {
    clientPort: m.client,
    dataDir: path.join(dir, "solo"),
    args: memberArgs("solo", m, dir, [
      ...discovery,
      "--discovery-user",
      "root",
      "--discovery-password",
      "secret",
    ]),
  });
  const registry = await admin(["--user=root:secret", "get", "/_etcd/registry/authed/members/", "--prefix"]);
  expect(registry.stdout).toContain(`solo=http://127.0.0.1:${m.peer}`);
}, 30_000);

test("--discovery-token needs --discovery-endpoints, and conflicts with --initial-cluster", async () => {
  const dir = tempDir("etcdts-v3disc-");
  const alone = await serve(["--data-dir", dir, "--discovery-token", "t"]);
  expect(alone).toEqual({
    stdout: "",
    stderr: "etcdts: both --discovery-token and --discovery-endpoints must be set\n",
    code: 1,
  });
  const both = await serve([
    "--data-dir",
    dir,
    "--discovery-token",
    "t",
    "--discovery-endpoints",
    "http://127.0.0.1:1",
    "--initial-cluster",
    "default=http://127.0.0.1:2,x=http://127.0.0.1:3",
  ]);
  expect(both.stderr).toBe(
    'etcdts: multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery", ' +
      '"discovery-endpoints" or "discovery-srv"\n',
  );
});

for (const kind of CONFORMANCE_TARGETS) {
  test(`${kind}: --discovery-fallback takes exit or proxy`, async () => {
    const bin = kind === "etcdts" ? [ETCDTS_BIN, "serve"] : ["/usr/bin/etcd"];
    const r = await run([...bin, "--data-dir", tempDir("etcdts-v3disc-"), "--discovery-fallback", "bogus"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('invalid value "bogus" for flag -discovery-fallback: invalid value');
  });
}

test("etcd 3.6's discovery-config in a config file bootstraps a member as the flags do", async () => {
  const kind = CONFORMANCE_TARGETS[CONFORMANCE_TARGETS.length - 1];
  const service = await startServer(kind);
  const put = await run([
    ETCDTS_BIN,
    `--endpoints=${service.endpoint}`,
    "put",
    "/_etcd/registry/filed/_config/size",
    "1",
  ]);
  expect(put.code).toBe(0);
  const m = await memberPorts();
  const dir = tempDir("etcdts-v3disc-");
  const file = path.join(dir, "etcd.conf.yml");
  const peer = `http://127.0.0.1:${m.peer}`;
  const client = `http://127.0.0.1:${m.client}`;
  fs.writeFileSync(
    file,
    [
      "name: filed",
      `data-dir: ${path.join(dir, "filed")}`,
      `listen-peer-urls: ${peer}`,
      `initial-advertise-peer-urls: ${peer}`,
      `listen-client-urls: ${client}`,
      `advertise-client-urls: ${client}`,
      "experimental-jit-warmup: false",
      "discovery-config:",
      "  token: filed",
      "  client:",
      `    endpoints: [${service.clientUrl}]`,
      "    dial-timeout: 2000000000",
    ].join("\n") + "\n",
  );
  await startServer("etcdts", {
    clientPort: m.client,
    dataDir: path.join(dir, "filed"),
    args: ["--config-file", file],
  });
  const registry = await run([
    ETCDTS_BIN,
    `--endpoints=${service.endpoint}`,
    "get",
    "/_etcd/registry/filed/members/",
    "--prefix",
  ]);
  expect(registry.stdout).toContain(`filed=${peer}`);
  expect((await run([ETCDTS_BIN, `--endpoints=127.0.0.1:${m.client}`, "put", "k", "v"])).stdout).toBe("OK\n");
}, 30_000);
