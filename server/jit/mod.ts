/**
 * The server's JIT machinery, in three parts, all on by default and all off with
 * `--experimental-jit-warmup=false`. (1) JavaScriptCore options (options.ts): FTL, the top
 * tier, off, and tier-up thresholds halved until the server serves; JSC reads them only
 * at start, so `serve` re-executes itself once with them in its environment, keeping its
 * PID, arguments and link name (a `BUN_JSC_*` value the user set wins). (2) The warm-up
 * (warmup.ts): before the real member starts, two throwaway members are driven in turn
 * for up to 0.8 s with a client shaped like grpc-go (go_wire.ts), so the real member
 * answers its first request from optimized code. (3) Once serving, JSC's compiler threads
 * run at nice 19 (compiler_threads.ts), so a background compile never takes a core from
 * the event loop. Measured (docs/bench/jit-machinery-ab.md): without the three, the
 * quick-suite workloads need 1.1–2.3× the server CPU per operation. The calls into the C
 * library (execve, setpriority) go to the libc Bun itself is linked against, found in
 * /proc/self/maps, glibc or musl (libc.ts); when there is none to call, the server warns
 * once and runs with JSC's defaults.
 */
import { log } from "../log.ts";
import type { ServerConfig } from "../config.ts";
import { findLibc } from "./libc.ts";
import { missingOptions, reexecWith, servingJitPolicy } from "./options.ts";
import { JitThreadPriority } from "./compiler_threads.ts";
import type { ScratchServer } from "./warmup.ts";

// Enough rounds for the request path's functions to reach JSC's optimizing tier (about
// a thousand calls each); the budget caps the startup cost on a slow machine (about 400
// rounds fit on the 2-core benchmark machine).
const WARMUP_ROUNDS = 1500;
const WARMUP_BUDGET_MS = 800;

const PRIO_PROCESS = 0; // with a thread ID, Linux's setpriority sets that one thread's nice

/** The JIT machinery of one `serve` run: `prepare`, then `warmUp`, `start` and `stop`. */
export class JitMachinery {
  /** Why a part could not be applied, for the log once it is configured. */
  readonly warnings: readonly string[];
  readonly #enabled: boolean;
  readonly #env: NodeJS.ProcessEnv;
  readonly #threads: JitThreadPriority | null;

  private constructor(
    enabled: boolean,
    env: NodeJS.ProcessEnv,
    threads: JitThreadPriority | null,
    warnings: string[],
  ) {
    this.#enabled = enabled;
    this.#env = env;
    this.#threads = threads;
    this.warnings = warnings;
  }

  /**
   * The entry point, called before anything is written: when JSC's options are missing,
   * re-executes this process with them and never returns. Returns when they are in
   * effect, when the machinery is off, or when the C library cannot be called (with a
   * warning).
   */
  static async prepare(enabled: boolean, env: NodeJS.ProcessEnv): Promise<JitMachinery> {
    if (!enabled) return new JitMachinery(false, env, null, []);
    const libc = await findLibc(env);
    if (libc instanceof Error) {
      return new JitMachinery(true, env, null, [`JIT options could not be applied: ${libc.message}`]);
    }
    const missing = missingOptions(env);
    const failed = missing.length > 0 ? reexecWith(libc, env, missing) : null;
    const threads = new JitThreadPriority((tid, nice) => libc.setpriority(PRIO_PROCESS, tid, nice) === 0);
    return new JitMachinery(
      true,
      env,
      threads,
      failed ? [`JIT options could not be applied: ${failed.message}`] : [],
    );
  }

  /**
   * Runs the warm-up against scratch servers started by `startScratch`, then returns JSC
   * to its serving policy. Never fails the server: a warm-up that cannot run is logged and
   * skipped; a `signal` ends it early.
   */
  async warmUp(
    startScratch: (config: ServerConfig) => Promise<ScratchServer>,
    signal: AbortSignal,
  ): Promise<void> {
    if (!this.#enabled) return;
    const { warmUp } = await import("./warmup.ts");
    // The scratch members' lifecycle lines are not the served member's: keep them out of the log.
    const level = log.level;
    log.setLevel("error");
    const report = await warmUp(startScratch, {
      rounds: WARMUP_ROUNDS,
      budgetMs: WARMUP_BUDGET_MS,
      stop: () => signal.aborted,
    }).finally(() => log.setLevel(level));
    if (report instanceof Error) log.warn(`JIT warm-up skipped: ${report.message}`);
    else log.info(`JIT warm-up: ${report.rounds} rounds in ${Math.round(report.ms)} ms`);
    servingJitPolicy(this.#env);
  }

  /** Lowers JSC's compiler threads from now on; not during the warm-up, which wants its compiles done soonest. */
  start(): void {
    this.#threads?.start();
  }

  stop(): void {
    this.#threads?.stop();
  }
}
