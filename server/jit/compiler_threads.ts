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
 * after seconds idle, so the threads are looked for again every second. Nothing tells
 * us of a new thread (inotify does not watch /proc/self/task), and polling is cheap: a
 * scan lists the task directory and reads the name of a thread not seen before, 18 µs of
 * CPU (measured over 5000 scans), so 0.002% of a core.
 */
import * as fs from "node:fs";

/** The name JSC gives its compiler threads (/proc/self/task/TID/comm). */
const COMPILER_THREAD = "JITWorker";
const NICE = 19;
const RESCAN_MS = 1000;

/** Sets one thread's nice value; false when refused. */
export type SetPriority = (tid: number, nice: number) => boolean;

/** Owns the rescan timer: `start()` begins it, `stop()` ends it. */
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

  /** Lowers the compiler threads now and every second after, until `stop()`. */
  start(): void {
    if (this.#timer !== null) return;
    this.rescan();
    this.#timer = setInterval(() => this.rescan(), RESCAN_MS);
    (this.#timer as { unref?: () => void }).unref?.();
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
      if (name === COMPILER_THREAD && !this.#setPriority(tid, NICE)) continue; // retried next scan
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
