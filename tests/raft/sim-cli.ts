/**
 * Runs the simulator over a range of seeds: `bun run sim --seeds 1..1000 --steps 3000
 * --nodes 5`. Any failure prints its seed and the command that replays it exactly.
 */
import { runSimulation, SimFailure } from "./sim.ts";

function parseArgs(
  argv: string[],
): { from: number; to: number; steps: number; nodes: number; verbose: boolean } {
  let from = 1;
  let to = 100;
  let steps = 3000;
  let nodes = 3;
  let verbose = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes("=") ? a.split("=", 2) : [a, undefined];
    const value = () => inline ?? argv[++i];
    if (flag === "--seeds" || flag === "--seed") {
      const v = value();
      const m = /^(\d+)(?:\.\.(\d+))?$/.exec(v);
      if (!m) throw new Error(`bad --seeds ${v} (want N or FROM..TO)`);
      from = Number(m[1]);
      to = m[2] === undefined ? from : Number(m[2]);
    } else if (flag === "--steps") steps = Number(value());
    else if (flag === "--nodes") nodes = Number(value());
    else if (flag === "--verbose" || flag === "-v") verbose = true;
    else throw new Error(`unknown flag ${a}`);
  }
  return { from, to, steps, nodes, verbose };
}

const args = parseArgs(process.argv.slice(2));
const started = performance.now();
let failures = 0;
let runs = 0;
let unknown = 0;
let commits = 0;
for (let seed = args.from; seed <= args.to; seed++) {
  try {
    const s = runSimulation({ seed, steps: args.steps, nodes: args.nodes, verbose: args.verbose });
    runs++;
    commits += s.committed;
    if (s.linearizable === "unknown") unknown++;
    if (args.verbose || args.from === args.to) console.log(JSON.stringify(s));
  } catch (e) {
    failures++;
    const seedOf = e instanceof SimFailure ? e.seed : seed;
    console.error(`FAIL seed ${seedOf}: ${e instanceof Error ? e.message : e}`);
    if (!(e instanceof SimFailure) && e instanceof Error) console.error(e.stack);
    console.error(
      `replay: bun run sim --seeds ${seedOf} --steps ${args.steps} --nodes ${args.nodes} --verbose`,
    );
  }
}
const secs = (performance.now() - started) / 1000;
console.log(
  `${runs + failures} seeds (${args.from}..${args.to}, ${args.nodes} nodes, ${args.steps} steps): ` +
    `${failures} failed, ${unknown} linearizability unknown, ${commits} entries committed, ${
      secs.toFixed(1)
    }s`,
);
process.exit(failures > 0 ? 1 : 0);
