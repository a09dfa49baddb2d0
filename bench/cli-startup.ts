/**
 * CLI startup cost: `etcdts put k v` end to end against the real `etcdctl put k v`, both
 * on the same server. The commands run interleaved (A, B, C, A, B, C, ...) so a burst of
 * load from other processes hits all of them alike; the medians of wall time and of CPU
 * time (user + system) are compared. Target (issue 3): etcdts put ≤ 1.5× etcdctl put.
 *
 *   bun bench/cli-startup.ts                        # starts dist/etcdts serve on a free port
 *   bun bench/cli-startup.ts --server etcd          # ... or the real etcd
 *   bun bench/cli-startup.ts --endpoints 127.0.0.1:2379 --runs 300
 *
 * ETCDTS_BIN and ETCDCTL_BIN select other binaries (see tests/harness.ts).
 */
import { parseArgs } from "node:util";
import { cleanup, ETCDCTL_BIN, ETCDTS_BIN, startServer } from "../tests/harness.ts";

const { values } = parseArgs({
  options: {
    server: { type: "string", default: "etcdts" },
    endpoints: { type: "string" },
    runs: { type: "string", default: "200" },
    warmup: { type: "string", default: "10" },
  },
});

interface Sample {
  wallMs: number;
  cpuMs: number;
}

function runOnce(argv: string[]): Sample {
  const t0 = performance.now();
  const r = Bun.spawnSync(argv, { stdout: "ignore", stderr: "pipe", env: { PATH: process.env.PATH ?? "" } });
  const wallMs = performance.now() - t0;
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr.toString()}`);
  const cpu = r.resourceUsage?.cpuTime;
  return { wallMs, cpuMs: cpu ? Number(cpu.user + cpu.system) / 1000 : NaN };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main(): Promise<void> {
  let endpoint = values.endpoints;
  let label = `given (${endpoint})`;
  if (endpoint === undefined) {
    const kind = values.server === "etcd" ? "etcd" : "etcdts";
    endpoint = (await startServer(kind)).endpoint;
    label = kind;
  }
  const commands: [string, string[]][] = [
    ["etcdctl put k v", [ETCDCTL_BIN, "--endpoints", endpoint, "put", "k", "v"]],
    ["etcdts put k v", [ETCDTS_BIN, "--endpoints", endpoint, "put", "k", "v"]],
    ["etcdts get k", [ETCDTS_BIN, "--endpoints", endpoint, "get", "k"]],
    ["etcdts --version", [ETCDTS_BIN, "--version"]],
  ];
  for (let i = 0; i < Number(values.warmup); i++) for (const [, argv] of commands) runOnce(argv);
  const samples = new Map(commands.map(([name]) => [name, [] as Sample[]]));
  const runs = Number(values.runs);
  for (let i = 0; i < runs; i++) {
    for (const [name, argv] of commands) samples.get(name)!.push(runOnce(argv));
  }
  const wall = (name: string) => median(samples.get(name)!.map((s) => s.wallMs));
  const cpu = (name: string) => median(samples.get(name)!.map((s) => s.cpuMs));
  console.log(`server: ${label}; ${runs} interleaved runs each; medians`);
  for (const [name] of commands) {
    console.log(
      `${name.padEnd(18)} wall ${wall(name).toFixed(1).padStart(5)} ms   cpu ${
        cpu(name).toFixed(1).padStart(5)
      } ms`,
    );
  }
  const ratio = wall("etcdts put k v") / wall("etcdctl put k v");
  const cpuRatio = cpu("etcdts put k v") / cpu("etcdctl put k v");
  console.log(
    `etcdts put / etcdctl put: wall ${ratio.toFixed(2)}x, cpu ${cpuRatio.toFixed(2)}x (target: wall <= 1.5x)`,
  );
}

try {
  await main();
} finally {
  await cleanup();
}
