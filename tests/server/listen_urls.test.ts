/**
 * Where a member listens: every URL of --listen-client-urls and --listen-peer-urls, port 0
 * as a port the system picks (named in etcd's "serving ... traffic" log lines), and unix
 * sockets (`unix://host:port` is a file of that name in the working directory, as in etcd),
 * which etcdctl and our CLI reach with `--endpoints unix://...`. Against etcd 3.4 too.
 */
import { afterAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  cleanEnv,
  cleanup,
  collected,
  CONFORMANCE_TARGETS,
  defer,
  ETCD_BIN,
  ETCDCTL_BIN,
  ETCDTS_BIN,
  freePort,
  run,
  tempDir,
  waitFor,
} from "../harness.ts";
import { makeCerts } from "../security/certs.ts";

afterAll(cleanup);

/** A lone member started with `urls` (listen and advertise flags), in `cwd`; its stderr. */
function member(kind: "etcdts" | "etcd", cwd: string, urls: string[]): { stderr: () => string } {
  const peer = "http://127.0.0.1:2380"; // advertised only: a lone member never dials it
  return spawnMember(kind, cwd, [
    `--data-dir=${path.join(cwd, "data")}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=default=${peer}`,
    "--advertise-client-urls=http://127.0.0.1:2379",
    ...urls,
  ]);
}

/** `kind` started with `args` (zap logging) in `cwd`, killed at cleanup; its stderr. */
function spawnMember(kind: "etcdts" | "etcd", cwd: string, args: string[]): { stderr: () => string } {
  const cmd = kind === "etcdts"
    ? [ETCDTS_BIN, "serve", "--logger=zap", ...args]
    : [ETCD_BIN, "--logger=zap", ...args];
  const env = { ...cleanEnv(), ...(kind === "etcdts" ? { ETCD_EXPERIMENTAL_JIT_WARMUP: "false" } : {}) };
  const proc = Bun.spawn(cmd, { cwd, env, stdout: "ignore", stderr: "pipe" });
  defer(async () => {
    proc.kill("SIGKILL");
    await proc.exited;
  });
  return { stderr: collected(proc.stderr) };
}

/** The addresses of the log lines with message `msg`, once `n` of them are logged. */
async function addresses(m: { stderr: () => string }, msg: string, n: number): Promise<string[]> {
  const found = () =>
    m.stderr().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
      .filter((l) => l.msg === msg).map((l) => l.address as string);
  await waitFor(`${n} "${msg}" lines`, () => found().length >= n, { timeoutMs: 20_000 });
  return found();
}

async function putGet(
  cli: "etcdctl" | "etcdts",
  endpoint: string,
  cwd: string,
  flags: string[] = [],
): Promise<string> {
  const bin = cli === "etcdctl" ? ETCDCTL_BIN : ETCDTS_BIN;
  const base = [bin, `--endpoints=${endpoint}`, "--dial-timeout=3s", ...flags];
  const opts = { cwd, env: { ETCDCTL_API: "3" } };
  const put = await run([...base, "put", "k", cli], opts);
  expect(put.stderr).toBe("");
  return (await run([...base, "get", "k", "--print-value-only"], opts)).stdout;
}

for (const kind of CONFORMANCE_TARGETS) {
  describe(`${kind}: listen URLs`, () => {
    test("several client and peer URLs: each one serves", async () => {
      const dir = tempDir();
      const [c1, c2, p1, p2] = [await freePort(), await freePort(), await freePort(), await freePort()];
      const m = member(kind, dir, [
        `--listen-client-urls=http://127.0.0.1:${c1},http://127.0.0.1:${c2}`,
        `--listen-peer-urls=http://127.0.0.1:${p1},http://127.0.0.1:${p2}`,
      ]);
      expect((await addresses(m, "serving peer traffic", 2)).sort()).toEqual(
        [`127.0.0.1:${p1}`, `127.0.0.1:${p2}`].sort(),
      );
      await addresses(m, "serving client traffic insecurely; this is strongly discouraged!", 2);
      for (const c of [c1, c2]) expect(await putGet("etcdctl", `127.0.0.1:${c}`, dir)).toBe("etcdctl\n");
      // The peer port lists the members on every URL.
      for (const p of [p1, p2]) {
        const members = await (await fetch(`http://127.0.0.1:${p}/members`)).json() as { name: string }[];
        expect(members.map((x) => x.name)).toEqual(["default"]);
      }
    }, 40_000);

    test("port 0: the system picks a port, and the log lines name it", async () => {
      const dir = tempDir();
      const m = member(kind, dir, [
        "--listen-client-urls=http://127.0.0.1:0",
        "--listen-peer-urls=http://127.0.0.1:0",
      ]);
      const [peer] = await addresses(m, "serving peer traffic", 1);
      const [client] = await addresses(
        m,
        "serving client traffic insecurely; this is strongly discouraged!",
        1,
      );
      expect(client).toMatch(/^127\.0\.0\.1:[1-9]\d*$/);
      expect(peer).toMatch(/^127\.0\.0\.1:[1-9]\d*$/);
      expect(await putGet("etcdctl", client, dir)).toBe("etcdctl\n");
      expect((await fetch(`http://${peer}/members`)).ok).toBe(true);
      // etcdts's own summary line names the bound port too.
      if (kind === "etcdts") {
        const summary = `serving client requests on http://${client}/ as member`;
        await waitFor("the summary line", () => m.stderr().includes(summary));
      }
    }, 40_000);

    test("unix sockets: unix://host:port is a file of that name; etcdctl and etcdts reach it", async () => {
      const dir = tempDir();
      const [c1, c2, p1] = [await freePort(), await freePort(), await freePort()];
      const m = member(kind, dir, [
        `--listen-client-urls=unix://localhost:${c1},unix://127.0.0.1:${c2}`,
        `--listen-peer-urls=unix://localhost:${p1}`,
      ]);
      const clients = await addresses(
        m,
        "serving client traffic insecurely; this is strongly discouraged!",
        2,
      );
      expect(clients.sort()).toEqual([`127.0.0.1:${c2}`, `localhost:${c1}`]);
      expect(await addresses(m, "serving peer traffic", 1)).toEqual([`localhost:${p1}`]);
      for (const file of [`localhost:${c1}`, `127.0.0.1:${c2}`, `localhost:${p1}`]) {
        expect(fs.statSync(path.join(dir, file)).isSocket()).toBe(true);
      }
      for (const cli of ["etcdctl", "etcdts"] as const) {
        expect(await putGet(cli, `unix://localhost:${c1}`, dir)).toBe(`${cli}\n`);
        expect(await putGet(cli, `unix://127.0.0.1:${c2}`, dir)).toBe(`${cli}\n`);
      }
    }, 40_000);

    test("unixs://: TLS on a unix socket, for etcdctl and etcdts with --cacert", async () => {
      const dir = tempDir();
      makeCerts(dir);
      const port = await freePort();
      const m = member(kind, dir, [
        `--listen-client-urls=unixs://localhost:${port}`,
        `--listen-peer-urls=http://127.0.0.1:${await freePort()}`,
        `--cert-file=${dir}/server.pem`,
        `--key-file=${dir}/server.key`,
      ]);
      expect(await addresses(m, "serving client traffic securely", 1)).toEqual([`localhost:${port}`]);
      for (const cli of ["etcdctl", "etcdts"] as const) {
        expect(await putGet(cli, `unixs://localhost:${port}`, dir, [`--cacert=${dir}/ca.pem`])).toBe(
          `${cli}\n`,
        );
      }
    }, 40_000);

    test("members talk over unix:// peer URLs", async () => {
      const dir = tempDir();
      const names = ["a", "b", "c"];
      const peers = await Promise.all(names.map(async () => `unix://localhost:${await freePort()}`));
      const clients = await Promise.all(names.map(async () => `http://127.0.0.1:${await freePort()}`));
      const cluster = names.map((n, i) => `${n}=${peers[i]}`).join(",");
      names.forEach((n, i) =>
        spawnMember(kind, dir, [
          `--name=${n}`,
          `--data-dir=${path.join(dir, n)}`,
          `--listen-peer-urls=${peers[i]}`,
          `--initial-advertise-peer-urls=${peers[i]}`,
          `--initial-cluster=${cluster}`,
          `--listen-client-urls=${clients[i]}`,
          `--advertise-client-urls=${clients[i]}`,
        ])
      );
      const ctl = (i: number, args: string[]) =>
        run([ETCDCTL_BIN, `--endpoints=${clients[i]}`, "--dial-timeout=2s", ...args], {
          env: { ETCDCTL_API: "3" },
        });
      await waitFor("a write through the cluster", async () => (await ctl(0, ["put", "k", "v"])).code === 0, {
        timeoutMs: 30_000,
      });
      // The peer ports are socket files, nothing on TCP: the members dialed each other's files.
      for (const p of peers) expect(fs.statSync(path.join(dir, new URL(p).host)).isSocket()).toBe(true);
      for (const i of [1, 2]) {
        await waitFor(
          `member ${i} to read it`,
          async () => (await ctl(i, ["get", "k", "--print-value-only"])).stdout === "v\n",
        );
      }
    }, 60_000);

    test("a URL without a port or with a path is refused, as etcd's URL flags do", async () => {
      const dir = tempDir();
      const cmd = kind === "etcdts" ? [ETCDTS_BIN, "serve"] : [ETCD_BIN];
      for (
        const [url, why] of [
          ["unix:///tmp/x.sock", `URL address does not have the form "host:port": unix:///tmp/x.sock`],
          ["http://127.0.0.1:2379/x", "URL must not contain a path: http://127.0.0.1:2379/x"],
        ]
      ) {
        const r = await run([...cmd, `--data-dir=${dir}/d`, `--listen-client-urls=${url}`], {
          timeoutMs: 10_000,
        });
        expect(r.code).toBe(2); // Go's flag package refuses it while parsing
        expect(r.stderr).toContain(`invalid value "${url}" for flag -listen-client-urls: ${why}`);
      }
    });
  });
}
