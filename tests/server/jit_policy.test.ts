/**
 * The server starts with an eager JIT for its warm-up and serves with JSC's normal
 * policy (server/jit/options.ts): `servingJitPolicy` undoes the start's scale, and only ours.
 */
import { afterAll, afterEach, expect, spyOn, test } from "bun:test";
import { servingJitPolicy } from "../../server/jit/options.ts";

const setJITPolicy = spyOn(Bun.unsafe, "setJITPolicy").mockImplementation(() => {});
afterEach(() => setJITPolicy.mockClear());
afterAll(() => setJITPolicy.mockRestore());

test("after a start with our halved thresholds, serving doubles them back", () => {
  servingJitPolicy({ BUN_JSC_jitPolicyScale: "0.5" });
  expect(setJITPolicy).toHaveBeenCalledTimes(1);
  expect(setJITPolicy).toHaveBeenCalledWith(2);
});

test("a scale the user set, or none (bun test, bun main.ts), is left alone", () => {
  servingJitPolicy({ BUN_JSC_jitPolicyScale: "3" });
  servingJitPolicy({});
  expect(setJITPolicy).not.toHaveBeenCalled();
});
