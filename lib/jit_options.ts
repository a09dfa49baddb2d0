/**
 * The server's JavaScriptCore settings. JSC reads its options from `BUN_JSC_*` variables
 * once, when the VM starts, and a compiled executable cannot carry them; so the server
 * sets them and replaces itself with a fresh copy of the same command line (execve keeps
 * the PID, the open descriptors and the arguments).
 *
 * FTL, JSC's top tier, is turned off. Measured with bench/compare.sh: a 3-member cluster
 * under 64 writers spent a third of its CPU in the JIT thread recompiling, and without
 * FTL it put 0.97× etcd's throughput instead of 0.80× (server CPU per put 1.02× etcd's
 * instead of 1.39×); a single member used 11% less CPU per put at the same throughput.
 *
 * The server starts with an eager JIT (tier-up thresholds halved), so the warm-up
 * (server/warmup/) leaves more of the request path optimized, and returns to JSC's
 * normal policy once it serves (`servingJitPolicy`). Measured with the shared bench
 * against the build before, fresh servers, 6 paired rounds: 1-watcher put → event p99
 * 0.72×, single-client put throughput 1.06× and p99 0.80×, 100-key ranges unchanged
 * (8 rounds: 1.00×). Eager for the whole run instead cost 13% of single-client put
 * throughput.
 */
import * as fs from "node:fs";

/** Tier-up threshold scale the server starts with: JSC's are halved until it serves. */
const WARMUP_JIT_SCALE = "0.5";

/** Options and values the server runs with; a value the user set wins. */
const SERVER_JSC_OPTIONS: Readonly<Record<string, string>> = {
  BUN_JSC_useFTLJIT: "0",
  BUN_JSC_jitPolicyScale: WARMUP_JIT_SCALE,
};

/**
 * Back to JSC's normal tier-up policy, for serving: `Bun.unsafe.setJITPolicy` scales the
 * starting thresholds again. Does nothing unless the start was ours (a scale the user
 * set stays as set).
 */
export function servingJitPolicy(env: NodeJS.ProcessEnv = process.env): void {
  if (env.BUN_JSC_jitPolicyScale !== WARMUP_JIT_SCALE) return;
  Bun.unsafe.setJITPolicy(1 / Number(WARMUP_JIT_SCALE));
}

/**
 * Re-executes this process with the server's JSC options when they are missing; returns
 * only when they are in effect already or cannot be set (not Linux, no execve), in which
 * case the server runs with JSC's defaults.
 */
export async function ensureServerJitOptions(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const missing = Object.entries(SERVER_JSC_OPTIONS).filter(([k]) => env[k] === undefined);
  if (missing.length === 0 || process.platform !== "linux") return;
  let argv: string[];
  try {
    // The exact argv this process got, argv[0] included: the link name (etcd) must survive.
    argv = fs.readFileSync("/proc/self/cmdline", "latin1").split("\0");
  } catch {
    return;
  }
  if (argv.at(-1) === "") argv.pop();
  const envp = Object.entries({ ...env, ...Object.fromEntries(missing) })
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  const { dlopen, FFIType, ptr } = await import("bun:ffi");
  let libc;
  try {
    libc = dlopen("libc.so.6", {
      execve: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
    });
  } catch {
    return;
  }
  // NUL-terminated strings and NULL-terminated pointer arrays, as execve wants them; the
  // buffers stay referenced until the call.
  const cstr = (s: string) => Buffer.from(`${s}\0`, "utf8");
  const table = (strings: string[]) => {
    const bufs = strings.map(cstr);
    const ptrs = new BigUint64Array(bufs.length + 1);
    bufs.forEach((b, i) => ptrs[i] = BigInt(ptr(b)));
    return { bufs, ptrs };
  };
  const path = cstr("/proc/self/exe");
  const a = table(argv);
  const e = table(envp);
  libc.symbols.execve(ptr(path), ptr(a.ptrs), ptr(e.ptrs));
  // Only reached when execve failed: run on as we are.
  libc.close();
}
