/**
 * The warm-up drives both of its throwaway members, in turn (server/jit/warmup.ts):
 * code JSC optimized having seen one member only is thrown away at the real one.
 */
import { afterAll, expect, test } from "bun:test";
import { startServer } from "../../server/serve.ts";
import { warmUp } from "../../server/jit/warmup.ts";
import { cleanup } from "../harness.ts";

afterAll(cleanup);

test("each scratch member gets half the rounds' puts", async () => {
  const applied: bigint[] = [];
  const report = await warmUp(async (config) => {
    const s = await startServer(config);
    return {
      listening: s.listening,
      async stop() {
        applied.push(s.member.appliedIndex);
        await s.stop();
      },
    };
  }, { rounds: 40, budgetMs: 30_000 });
  expect(report).toMatchObject({ rounds: 40 });
  // 20 rounds each of 1, 2, 3, 4 puts in turn: 50 puts, one raft entry each.
  expect(applied.length).toBe(2);
  for (const index of applied) expect(index).toBeGreaterThanOrEqual(50n);
});
