/**
 * The targets of every abuse probe (issue 19): while a client misbehaves, the server's
 * RSS peaks at most PEAK_BUDGET_MIB above idle, comes back within AFTER_BUDGET_MIB of idle
 * once the abuse ends, and another client's requests keep a p99 within P99_BUDGET_MS.
 * `underAbuse` measures all three around a probe and prints them as one row of the table.
 * The suites run against etcdts, or against `ABUSE_TARGET=etcd` for bench/abuse-memory.sh
 * (etcd's rows for comparison; the suites' other assertions are etcdts's).
 */
import { expect } from "bun:test";
import * as os from "node:os";
import * as path from "node:path";
import { waitFor } from "../harness.ts";
import { rssMiB, rssPeak } from "../h2/rss.ts";

export const PEAK_BUDGET_MIB = 64;
export const AFTER_BUDGET_MIB = 16;
export const P99_BUDGET_MS = 100;
/** How long memory may take to come back once the abuse ends. */
const AFTER_WAIT_MS = 10_000;

/** What a probe did to the server: RSS in MiB, the other client's latencies in ms. */
export interface AbuseFigures<T> {
  result: T;
  idle: number;
  peak: number;
  after: number;
  p99: number;
  max: number;
  requests: number;
}

const PROBE = path.join(import.meta.dir, "latency_probe.ts");

/**
 * Runs `abuse` against the server at `endpoint` (process `pid`) with a latency probe
 * alongside, then waits (bounded) for RSS to come back, and prints `name`'s row.
 */
export async function underAbuse<T>(
  name: string,
  server: { pid: number; endpoint: string },
  abuse: () => Promise<T>,
): Promise<AbuseFigures<T>> {
  const idle = rssMiB(server.pid);
  const probe = Bun.spawn([process.execPath, PROBE, server.endpoint], { stdin: "pipe", stdout: "pipe" });
  const out = probe.stdout.getReader();
  const dec = new TextDecoder();
  let text = "";
  const readUntil = async (done: () => boolean) => {
    while (!done()) {
      const c = await out.read();
      if (c.done) break;
      text += dec.decode(c.value, { stream: true });
    }
  };
  // Its first line comes once its connection answers: the abuse starts after that.
  await readUntil(() => text.includes("ready\n"));
  const peak = rssPeak(server.pid);
  // A probe that throws (a server that never ends the connection, say) still gets its row.
  const outcome = await abuse().then((value) => ({ value }), (error: unknown) => ({ error }));
  probe.stdin.end();
  const top = peak.stop();
  await readUntil(() => false);
  await probe.exited;
  const lines = text.trim().split("\n");
  const lat = JSON.parse(lines[lines.length - 1]) as { n: number; p99: number; max: number };
  let after = rssMiB(server.pid);
  try {
    await waitFor(`RSS back within ${AFTER_BUDGET_MIB} MiB of idle`, () => {
      after = rssMiB(server.pid);
      return after - idle <= AFTER_BUDGET_MIB;
    }, { timeoutMs: AFTER_WAIT_MS, intervalMs: 200 });
  } catch {
    // reported below; the caller asserts
  }
  const row = `| ${name} | idle ${idle.toFixed(0)} MiB | peak +${(top - idle).toFixed(0)} MiB | after +${
    (after - idle).toFixed(0)
  } MiB | other client p99 ${lat.p99.toFixed(1)} ms (max ${lat.max.toFixed(1)}, ${lat.n} requests) |`;
  if ("error" in outcome) {
    console.log(`${row} probe failed: ${String(outcome.error).split("\n")[0]}`);
    throw outcome.error;
  }
  console.log(row);
  const f = { result: outcome.value, idle, peak: top, after, p99: lat.p99, max: lat.max, requests: lat.n };
  return f;
}

/**
 * The targets, asserted for one probe's figures. The latency one only where it means
 * something: on a machine whose run queue is longer than its cores, another client waits
 * for a core whatever the server does (here it swung 10 ms → 1.6 s between two runs of
 * the same build), so there the figure is printed, not asserted. `latencyMiss` names a
 * probe known to miss the latency target and why, until that is fixed.
 */
export function expectWithinTargets(f: AbuseFigures<unknown>, latencyMiss?: string): void {
  expect(f.peak - f.idle).toBeLessThanOrEqual(PEAK_BUDGET_MIB);
  expect(f.after - f.idle).toBeLessThanOrEqual(AFTER_BUDGET_MIB);
  const load = os.loadavg()[0];
  const cores = os.availableParallelism();
  if (latencyMiss !== undefined) {
    console.log(`  p99 not asserted, a known miss: ${latencyMiss}`);
  } else if (load > cores) {
    console.log(`  p99 not asserted: load average ${load.toFixed(1)} on ${cores} cores`);
  } else {
    expect(f.p99).toBeLessThanOrEqual(P99_BUDGET_MS);
  }
}

/** The server kind the abuse suites start (see the head comment). */
export const ABUSE_TARGET: "etcdts" | "etcd" = process.env.ABUSE_TARGET === "etcd" ? "etcd" : "etcdts";
