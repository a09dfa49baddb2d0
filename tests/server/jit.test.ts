/**
 * The JIT machinery (server/jit/) seen from outside the real binary: the served process
 * runs with JSC's options in its environment under the PID it was started with, its
 * compiler threads at nice 19; with no C library to call it warns once and serves with
 * JSC's defaults; `--experimental-jit-warmup=false` turns every part off.
 */
import { afterAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import { cleanup, ETCDTS_BIN, run, startServer, waitFor } from "../harness.ts";

afterAll(cleanup);

const environ = (pid: number) => fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");

/** The nice value of each of the process's threads named `comm`. */
function nices(pid: number, comm: string): number[] {
  const out: number[] = [];
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      if (fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, "latin1").trimEnd() !== comm) continue;
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, "latin1");
      // Fields after the ")" that closes the name: the nice value is the 17th.
      out.push(Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]));
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** Puts until JSC has a compiler thread (the requests queue compiles), then its nices. */
async function compilerThreadNices(pid: number, endpoint: string): Promise<number[]> {
  let found: number[] = [];
  await waitFor("a JSC compiler thread", async () => {
    await run([ETCDTS_BIN, `--endpoints=${endpoint}`, "put", "k", "v"]);
    found = nices(pid, "JITWorker");
    return found.length > 0;
  }, { timeoutMs: 20_000 });
  return found;
}

test("served: JSC's options in effect, same PID, compiler threads at nice 19", async () => {
  const s = await startServer("etcdts", { env: { ETCD_EXPERIMENTAL_JIT_WARMUP: "true" } });
  const pid = s.proc.pid;
  // The PID Bun.spawn got is the one serving: the re-exec replaced the image in place.
  expect(environ(pid)).toContain("BUN_JSC_useFTLJIT=0");
  expect(environ(pid)).toContain("BUN_JSC_jitPolicyScale=0.5");
  expect(s.stderr()).toMatch(/"JIT warm-up: \d+ rounds in \d+ ms"/);
  expect(s.stderr()).not.toContain("could not be applied");
  await compilerThreadNices(pid, s.endpoint);
  // A compiler thread JSC starts is lowered at the next scan, within a second.
  await waitFor("every compiler thread at nice 19", () => nices(pid, "JITWorker").every((n) => n === 19));
  expect(await s.stop()).toBe(0);
});

test("with no C library to call: one warning, JSC's defaults, and it serves", async () => {
  const s = await startServer("etcdts", {
    env: { ETCD_EXPERIMENTAL_JIT_WARMUP: "true", ETCDTS_LIBC: "/nonexistent/libc.so.6" },
  });
  const warnings = s.stderr().split("\n").filter((l) => l.includes("JIT options could not be applied"));
  expect(warnings.length, s.stderr()).toBe(1);
  expect(JSON.parse(warnings[0])).toMatchObject({ level: "warn" });
  expect(warnings[0]).toContain("/nonexistent/libc.so.6");
  expect(environ(s.proc.pid).filter((v) => v.startsWith("BUN_JSC_"))).toEqual([]);
  expect(s.stderr()).toMatch(/"JIT warm-up: \d+ rounds in \d+ ms"/);
  expect((await run([ETCDTS_BIN, `--endpoints=${s.endpoint}`, "put", "k", "v"])).stdout).toBe("OK\n");
  expect(await s.stop()).toBe(0);
});

test("turned off (ETCD_EXPERIMENTAL_JIT_WARMUP=false): no options, no warm-up, compiler threads left alone", async () => {
  const s = await startServer("etcdts", { env: { ETCD_EXPERIMENTAL_JIT_WARMUP: "false" } });
  expect(environ(s.proc.pid).filter((v) => v.startsWith("BUN_JSC_"))).toEqual([]);
  expect(s.stderr()).not.toContain("JIT warm-up");
  expect(s.stderr()).not.toContain("could not be applied");
  const found = await compilerThreadNices(s.proc.pid, s.endpoint);
  // As nice as the process was started (its main thread's), not lowered.
  const [main] = nices(s.proc.pid, fs.readFileSync(`/proc/${s.proc.pid}/comm`, "latin1").trimEnd());
  expect(main).toBeLessThan(19);
  expect(found.every((n) => n === main)).toBe(true);
  expect(await s.stop()).toBe(0);
});
