/** A server process's resident memory, as the hardening tests bound it. */
import * as fs from "node:fs";

/** VmRSS of `pid` in MiB. */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  if (m === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) / 1024;
}

/** Samples `pid`'s RSS every few milliseconds until `stop()`: the peak seen. */
export function rssPeak(pid: number): { stop(): number } {
  let peak = rssMiB(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMiB(pid));
    } catch {
      // the process is gone
    }
  }, 20);
  return {
    stop() {
      clearInterval(timer);
      try {
        peak = Math.max(peak, rssMiB(pid));
      } catch {
        // gone
      }
      return peak;
    },
  };
}
