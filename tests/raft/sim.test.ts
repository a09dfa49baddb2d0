import { describe, expect, test } from "bun:test";
import { runSimulation } from "./sim.ts";

// CI coverage of the simulator: each seed is a different schedule of faults. A failure
// message names its seed; replay it with `bun run sim --seeds <seed> --nodes <n> --verbose`.
describe("raft simulator", () => {
  for (const nodes of [3, 5]) {
    test(`${nodes} nodes, 100 seeds: safety after every step, liveness and linearizability`, () => {
      for (let seed = 1; seed <= 100; seed++) {
        const stats = runSimulation({ seed, nodes, steps: 2500 });
        expect(stats.linearizable).not.toBe(false);
      }
    }, 120_000);
  }
});
