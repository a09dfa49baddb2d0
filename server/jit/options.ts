/**
 * The server's JavaScriptCore options. JSC reads `BUN_JSC_*` variables once, when the VM
 * starts, and a compiled executable cannot carry them; so the server sets them and
 * replaces itself with a fresh copy of the same command line (execve keeps the PID, the
 * open descriptors, the arguments and the link name it was invoked by).
 *
 * FTL, JSC's top tier, is off: a 3-member cluster under 64 writers spent a third of its
 * CPU recompiling in it, and a single member used 11% less CPU per put without it. The
 * tier-up thresholds start halved, so the warm-up leaves more of the request path
 * optimized, and go back to JSC's normal policy once the server serves (eager for the
 * whole run cost 13% of single-client put throughput).
 */
import * as fs from "node:fs";
import type { Libc } from "./libc.ts";

/** Tier-up threshold scale the server starts with: JSC's are halved until it serves. */
const WARMUP_JIT_SCALE = "0.5";

/** Options and values the server runs with; a value the user set wins. */
const SERVER_JSC_OPTIONS: Readonly<Record<string, string>> = {
  BUN_JSC_useFTLJIT: "0",
  BUN_JSC_jitPolicyScale: WARMUP_JIT_SCALE,
};

/** The server's options this environment lacks (none once the re-exec happened). */
export function missingOptions(env: NodeJS.ProcessEnv): [string, string][] {
  return Object.entries(SERVER_JSC_OPTIONS).filter(([k]) => env[k] === undefined);
}

/**
 * Replaces this process with itself plus the `missing` options. Returns only when
 * execve failed, with why.
 */
export function reexecWith(libc: Libc, env: NodeJS.ProcessEnv, missing: [string, string][]): Error {
  let argv: string[];
  try {
    // The exact argv this process got, argv[0] included: the link name (etcd) must survive.
    argv = fs.readFileSync("/proc/self/cmdline", "latin1").split("\0");
  } catch (e) {
    return new Error(`cannot read /proc/self/cmdline: ${(e as Error).message}`);
  }
  if (argv.at(-1) === "") argv.pop();
  const envp = Object.entries({ ...env, ...Object.fromEntries(missing) })
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  libc.execve("/proc/self/exe", argv, envp);
  return new Error("execve failed");
}

/**
 * Back to JSC's normal tier-up policy, for serving: `Bun.unsafe.setJITPolicy` scales the
 * starting thresholds again. Does nothing unless the start was ours (a scale the user set
 * stays as set).
 */
export function servingJitPolicy(env: NodeJS.ProcessEnv): void {
  if (env.BUN_JSC_jitPolicyScale !== WARMUP_JIT_SCALE) return;
  Bun.unsafe.setJITPolicy(1 / Number(WARMUP_JIT_SCALE));
}
