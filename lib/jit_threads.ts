/**
 * JavaScriptCore's compiler threads at the lowest CPU priority (nice 19), so that a
 * function being optimized in the background never takes a core from the thread that
 * answers requests. On a 2-core host with the client on the other core, a compile that
 * preempted the event loop was a 2–4 ms put among the first hundred. Measured with the
 * shared bench against the build before (fresh servers, 6 paired rounds): 1-watcher
 * put → event p99 0.85× (lower in 5 of 6 pairs); with 64 clients, put throughput 1.01×
 * and serializable range 0.97× (a compile now waits for a free core), both within the
 * rounds' spread.
 *
 * Linux keeps a nice value per thread and a new thread inherits its creator's, here the
 * event loop's: JSC starts a second compiler thread when work queues up and ends it
 * after seconds idle, so the threads are looked for again every second.
 */
import * as fs from "node:fs";

/** The name JSC gives its compiler threads (/proc/self/task/TID/comm). */
const COMPILER_THREAD = "JITWorker";
const NICE = 19;
const RESCAN_MS = 1000;

type SetPriority = (tid: number) => boolean;

/** Owns the rescan timer; `stop()` ends it. */
export class JitThreadPriority {
  readonly #setPriority: SetPriority;
  readonly #taskDir: string;
  /** Threads already lowered (or not compiler threads), by TID. */
  readonly #seen = new Set<number>();
  #timer: ReturnType<typeof setInterval> | null = null;

  constructor(setPriority: SetPriority, taskDir = "/proc/self/task") {
    this.#setPriority = setPriority;
    this.#taskDir = taskDir;
  }

  /**
   * Lowers the compiler threads now and every second after; null when this system cannot
   * (not Linux, no libc to call): the server then runs with JSC's priorities.
   */
  static async start(): Promise<JitThreadPriority | null> {
    if (process.platform !== "linux") return null;
    const setPriority = await libcSetPriority();
    if (setPriority === null) return null;
    const owner = new JitThreadPriority(setPriority);
    owner.rescan();
    owner.#timer = setInterval(() => owner.rescan(), RESCAN_MS);
    (owner.#timer as { unref?: () => void }).unref?.();
    return owner;
  }

  /** Lowers each compiler thread not seen before; returns how many it lowered. */
  rescan(): number {
    let tids: number[];
    try {
      tids = fs.readdirSync(this.#taskDir).map(Number);
    } catch {
      return 0;
    }
    let lowered = 0;
    const alive = new Set(tids);
    for (const tid of this.#seen) if (!alive.has(tid)) this.#seen.delete(tid);
    for (const tid of tids) {
      if (this.#seen.has(tid)) continue;
      let name: string;
      try {
        name = fs.readFileSync(`${this.#taskDir}/${tid}/comm`, "latin1").trimEnd();
      } catch {
        continue; // ended meanwhile
      }
      if (name === COMPILER_THREAD && !this.#setPriority(tid)) continue; // retried next scan
      this.#seen.add(tid);
      if (name === COMPILER_THREAD) lowered++;
    }
    return lowered;
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}

/** setpriority(PRIO_PROCESS, tid, 19) from libc: on Linux it sets that one thread's nice. */
async function libcSetPriority(): Promise<SetPriority | null> {
  // Imported here: bun:ffi is only for the server on Linux, never the CLI.
  const { dlopen, FFIType } = await import("bun:ffi");
  try {
    const libc = dlopen("libc.so.6", {
      setpriority: { args: [FFIType.i32, FFIType.u32, FFIType.i32], returns: FFIType.i32 },
    });
    const PRIO_PROCESS = 0;
    return (tid) => libc.symbols.setpriority(PRIO_PROCESS, tid, NICE) === 0;
  } catch {
    return null;
  }
}
