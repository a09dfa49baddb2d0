/**
 * The JIT warm-up (server/jit/): the real binary, with it on as users run it. It must
 * drive its throwaway member for real (puts, their watch events and ranges all answered),
 * leave nothing behind (no temporary directory, no key or revision in the real store),
 * and give way to a signal.
 */
import { afterAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { cleanup, collected, defer, ETCDTS_BIN, freePort, run, tempDir, waitFor } from "../harness.ts";

afterAll(cleanup);

async function spawnServer(tmp: string) {
  const dataDir = path.join(tempDir("etcdts-warmup-data-"), "d");
  const url = `http://127.0.0.1:${await freePort()}`;
  const proc = Bun.spawn(
    [ETCDTS_BIN, "serve", "--data-dir", dataDir, "--listen-client-urls", url, "--advertise-client-urls", url],
    // TMPDIR is where the warm-up makes its directory: one of the test's own, to watch.
    {
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, TMPDIR: tmp, ETCD_EXPERIMENTAL_JIT_WARMUP: "true" },
    },
  );
  const stderr = collected(proc.stderr);
  defer(async () => {
    proc.kill("SIGKILL");
    await proc.exited;
  });
  return { proc, url, stderr };
}

test("the warm-up drives a throwaway member and leaves nothing of it behind", async () => {
  const tmp = tempDir("etcdts-warmup-tmp-");
  const s = await spawnServer(tmp);
  await waitFor("the server to serve", async () => {
    if (s.proc.exitCode !== null) throw new Error(`exited with ${s.proc.exitCode}: ${s.stderr()}`);
    return (await fetch(`${s.url}/health`).catch(() => null))?.ok ?? false;
  }, { timeoutMs: 20_000 });
  const report = s.stderr().match(/"JIT warm-up: (\d+) rounds in (\d+) ms"/);
  expect(report, s.stderr()).not.toBeNull();
  expect(Number(report![1])).toBeGreaterThan(0);
  expect(s.stderr()).not.toContain("warn");
  // The real store never saw a warm-up key: a fresh store at revision 1, empty.
  const got = await run([ETCDTS_BIN, `--endpoints=${s.url}`, "get", "", "--prefix", "-w", "json"]);
  const header = JSON.parse(got.stdout).header;
  expect(header.revision).toBe(1);
  expect(JSON.parse(got.stdout).kvs).toBeUndefined();
  expect(fs.readdirSync(tmp)).toEqual([]);
  s.proc.kill("SIGTERM");
  expect(await s.proc.exited).toBe(0);
});

test("a signal during the warm-up ends it, its directory removed, with exit code 0", async () => {
  const tmp = tempDir("etcdts-warmup-tmp-");
  const s = await spawnServer(tmp);
  await waitFor("the warm-up's directory", () => fs.readdirSync(tmp).length > 0, { intervalMs: 5 });
  s.proc.kill("SIGTERM");
  expect(await s.proc.exited).toBe(0);
  expect(fs.readdirSync(tmp)).toEqual([]);
  expect(s.stderr()).toContain("received SIGTERM, shutting down");
  expect(s.stderr()).not.toContain("serving client requests");
});

test("a warm-up that cannot run is logged and skipped; the server serves all the same", async () => {
  const s = await spawnServer(path.join(tempDir("etcdts-warmup-tmp-"), "missing"));
  await waitFor("the server to serve", async () => {
    if (s.proc.exitCode !== null) throw new Error(`exited with ${s.proc.exitCode}: ${s.stderr()}`);
    return (await fetch(`${s.url}/health`).catch(() => null))?.ok ?? false;
  }, { timeoutMs: 20_000 });
  expect(s.stderr()).toContain("JIT warm-up skipped: no temporary directory");
  expect((await run([ETCDTS_BIN, `--endpoints=${s.url}`, "put", "k", "v"])).stdout).toBe("OK\n");
});
