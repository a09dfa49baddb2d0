/**
 * One binary, two faces: through a link named `etcd` it is the server, through one named
 * `etcdctl` the client. The server re-executes itself once to set JSC's options
 * (server/jit/); the link name, the arguments and the PID must survive that.
 */
import { afterAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  cleanup,
  defer,
  ETCD_BIN,
  ETCDTS_BIN,
  freePort,
  haveRealEtcd,
  run,
  tempDir,
  waitFor,
} from "../harness.ts";

afterAll(cleanup);

function links(): { etcd: string; etcdctl: string } {
  const dir = tempDir("etcdts-links-");
  const etcd = path.join(dir, "etcd");
  const etcdctl = path.join(dir, "etcdctl");
  fs.symlinkSync(ETCDTS_BIN, etcd);
  fs.symlinkSync(ETCDTS_BIN, etcdctl);
  return { etcd, etcdctl };
}

/** Starts `cmd` as a lone member on free ports and waits until it serves. */
async function serving(cmd: readonly string[], env?: Record<string, string>) {
  const name = "solo";
  const dataDir = path.join(tempDir("etcdts-link-data-"), "d");
  const url = `http://127.0.0.1:${await freePort()}`;
  const peer = `http://127.0.0.1:${await freePort()}`;
  const args = [
    ...["--name", name, "--data-dir", dataDir],
    ...["--listen-client-urls", url, "--advertise-client-urls", url],
    ...["--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer],
    ...["--initial-cluster", `${name}=${peer}`],
  ];
  const proc = Bun.spawn([...cmd, ...args], {
    stdout: "ignore",
    stderr: "ignore",
    env: { ...process.env, ...env },
  });
  defer(async () => {
    proc.kill("SIGKILL");
    await proc.exited;
  });
  await waitFor(`${cmd.join(" ")} to serve`, async () => {
    if (proc.exitCode !== null) throw new Error(`exited with ${proc.exitCode}`);
    return (await fetch(`${url}/health`).catch(() => null))?.ok ?? false;
  });
  const proc_ = (file: string) => fs.readFileSync(`/proc/${proc.pid}/${file}`, "utf8").split("\0");
  return {
    proc,
    url,
    args,
    cmdline: () => proc_("cmdline").filter((a) => a !== ""),
    environ: () => proc_("environ"),
  };
}

test("a link named etcd is the server and one named etcdctl the client, as etcd's own binaries", async () => {
  const { etcd, etcdctl } = links();
  const server = await run([etcd, "--version"]);
  expect(server.code).toBe(0);
  expect(server.stdout).toStartWith("etcd Version: ");
  const client = await run([etcdctl, "version"]);
  expect(client.code).toBe(0);
  expect(client.stdout).toStartWith("etcdctl version: ");
});

test("the server started through the link keeps its PID, arguments and name after setting JSC's options", async () => {
  const { etcd, etcdctl } = links();
  const s = await serving([etcd]);
  expect(s.cmdline()).toEqual([etcd, ...s.args]);
  expect(s.environ()).toContain("BUN_JSC_useFTLJIT=0");
  expect(s.environ()).toContain("BUN_JSC_jitPolicyScale=0.5");
  expect((await run([etcdctl, `--endpoints=${s.url}`, "put", "k", "v"])).stdout).toBe("OK\n");
  expect((await run([etcdctl, `--endpoints=${s.url}`, "get", "k", "--print-value-only"])).stdout).toBe("v\n");
  s.proc.kill("SIGTERM");
  expect(await s.proc.exited).toBe(0);
});

test("a JSC option the user set wins over the server's", async () => {
  const s = await serving([ETCDTS_BIN, "serve"], { BUN_JSC_useFTLJIT: "1" });
  expect(s.environ()).toContain("BUN_JSC_useFTLJIT=1");
  expect(s.environ()).not.toContain("BUN_JSC_useFTLJIT=0");
});

test.skipIf(!haveRealEtcd())(
  "through a link named etcd, --help and -h print etcd 3.4's help byte for byte",
  async () => {
    const { etcd } = links();
    for (const flag of ["--help", "-h", "-help"]) {
      const ours = await run([etcd, flag]);
      const theirs = await run([ETCD_BIN, flag]);
      expect(ours.code).toBe(theirs.code);
      expect(ours.stdout).toBe(theirs.stdout);
      expect(ours.stderr).toBe(theirs.stderr);
    }
    // Help wins over what follows it, as Go's flag package stops there.
    expect((await run([etcd, "--help", "--no-such-flag"])).stdout).toBe(
      (await run([ETCD_BIN, "--help"])).stdout,
    );
  },
);

test("etcdts serve --help stays etcdts's own list of flags and their fates", async () => {
  const r = await run([ETCDTS_BIN, "serve", "--help"]);
  expect(r.code).toBe(0);
  expect(r.stdout).toStartWith("Usage:\n\n  etcdts serve [flags]\n");
});
