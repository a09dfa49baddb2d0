import { describe, expect, test } from "bun:test";
import { runSimulation } from "./sim.ts";

/**
 * How many seeds may end with an "unknown" linearizability verdict (the checker's search
 * budget ran out): none. Such a history is not evidence either way, so a run that gathers
 * them would pass without having checked what it claims to; a new one means raising the
 * checker's budget or shortening that schedule, not ignoring it.
 */
const MAX_UNKNOWN_VERDICTS = 0;
const SEEDS = 300;

// CI coverage of the simulator: each seed is a different schedule of faults. A failure
// message names its seed; replay it with `bun run sim --seeds <seed> --nodes <n> --verbose`.
describe("raft simulator", () => {
  for (const nodes of [3, 5]) {
    test(`${nodes} nodes, ${SEEDS} seeds: safety after every step, liveness and linearizability`, () => {
      const undecided: number[] = [];
      for (let seed = 1; seed <= SEEDS; seed++) {
        const stats = runSimulation({ seed, nodes, steps: 2500 });
        if (stats.linearizable === "unknown") undecided.push(seed);
        else expect(stats.linearizable, `seed ${seed}`).toBe(true);
      }
      expect(undecided.length, `seeds with an unknown verdict: ${undecided.join(", ")}`)
        .toBeLessThanOrEqual(MAX_UNKNOWN_VERDICTS);
    }, 120_000);
  }
});
