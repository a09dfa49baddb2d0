/**
 * The lease, lock and elect commands as a user runs them: the same bytes as etcdctl for the
 * read-only lease commands in every format, mutual exclusion of many `lock` processes,
 * SIGINT releasing a lock or resigning an election.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  cleanEnv,
  cleanup,
  etcdctl,
  etcdts,
  ETCDTS_BIN,
  haveRealEtcd,
  type ServerProcess,
  startServer,
  waitFor,
} from "../harness.ts";

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer("etcdts");
});
afterAll(() => cleanup());

// etcdctl's clientv3 logs a retry warning line on some errors; it is not part of the contract.
const stderrOf = (s: string) => s.split("\n").filter((l) => !l.includes("retry_interceptor")).join("\n");

describe.if(haveRealEtcd())("same output as etcdctl", () => {
  let id = "";
  beforeAll(async () => {
    id = (await etcdts(server.endpoint, ["lease", "grant", "1000"])).stdout.split(" ")[1];
    await etcdts(server.endpoint, ["put", "--lease", id, "cli/k", "v"]);
  });
  const cases = () =>
    ["simple", "json", "fields", "protobuf", "table"].flatMap((w) => [
      ["-w", w, "lease", "timetolive", "--keys", id],
      ["-w", w, "lease", "timetolive", "1234"],
      ["-w", w, "lease", "list"],
      ["-w", w, "lease", "keep-alive", "--once", id],
      ["-w", w, "lease", "keep-alive", "--once", "1234"],
      ["-w", w, "lease", "revoke", "1234"],
      ["-w", w, "lease", "grant", "9000000001"],
    ]).concat([
      ["lease", "grant"],
      ["lease", "grant", "x"],
      ["lease", "revoke", "zz"],
      ["lease", "keep-alive"],
      ["lease", "keep-alive", "1234"],
      ["lease", "--help"],
      ["lease", "timetolive", "--help"],
      ["lock", "--help"],
      ["lock"],
      ["elect", "--help"],
      ["elect", "x"],
      ["elect", "-l", "x", "y"],
    ]);
  test("lease, lock and elect commands", async () => {
    for (const args of cases()) {
      const [ours, real] = await Promise.all([etcdts(server.endpoint, args), etcdctl(server.endpoint, args)]);
      expect({ args, ...ours, stderr: stderrOf(ours.stderr) }).toEqual({
        args,
        ...real,
        stderr: stderrOf(real.stderr),
      });
    }
  }, 60_000);
});

test("many lock processes incrementing one counter never lose an update", async () => {
  await etcdts(server.endpoint, ["put", "counter", "0"]);
  const script = `v=$(${ETCDTS_BIN} --endpoints=${server.endpoint} get --print-value-only counter); ` +
    `${ETCDTS_BIN} --endpoints=${server.endpoint} put counter $((v+1)) >/dev/null`;
  const worker = async () => {
    for (let i = 0; i < 3; i++) {
      const r = await etcdts(server.endpoint, ["lock", "ctr", "--", "sh", "-c", script]);
      expect(r.code).toBe(0);
    }
  };
  await Promise.all(Array.from({ length: 5 }, worker));
  expect((await etcdts(server.endpoint, ["get", "--print-value-only", "counter"])).stdout).toBe("15\n");
}, 120_000);

async function interruptible(args: string[]) {
  const proc = Bun.spawn([ETCDTS_BIN, `--endpoints=${server.endpoint}`, ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: cleanEnv(),
  });
  let out = "";
  const reading = (async () => {
    for await (const c of proc.stdout) out += new TextDecoder().decode(c);
  })();
  return { proc, out: () => out, reading };
}

test("lock prints its key, holds it, and SIGINT releases it and exits 0", async () => {
  const p = await interruptible(["lock", "sig"]);
  await waitFor("lock key printed", () => p.out().startsWith("sig/"));
  const key = p.out().split("\n")[0];
  expect((await etcdts(server.endpoint, ["get", key])).stdout).toBe(`${key}\n\n`);
  p.proc.kill("SIGINT");
  expect(await p.proc.exited).toBe(0);
  expect((await etcdts(server.endpoint, ["get", "--prefix", "sig/"])).stdout).toBe("");
}, 30_000);

test("elect campaigns, an observer follows, SIGINT resigns and hands over", async () => {
  const obs = await interruptible(["elect", "-l", "job"]);
  const a = await interruptible(["elect", "job", "alpha"]);
  await waitFor("alpha elected", () => a.out().includes("alpha"));
  const b = await interruptible(["elect", "job", "beta"]);
  await Bun.sleep(300);
  expect(b.out()).toBe("");
  a.proc.kill("SIGINT");
  expect(await a.proc.exited).toBe(0);
  await waitFor("beta elected", () => b.out().includes("beta"));
  await waitFor("observer saw both", () => obs.out().includes("alpha") && obs.out().includes("beta"));
  b.proc.kill("SIGINT");
  obs.proc.kill("SIGINT");
  expect(await b.proc.exited).toBe(0);
  expect(await obs.proc.exited).toBe(0);
}, 30_000);
