/**
 * The one teardown: parts stop newest first, after the stopping signal; one failing part
 * does not keep the others running; stopping twice stops once.
 */
import { expect, test } from "bun:test";
import { Lifecycle } from "../../server/lifecycle.ts";

test("parts stop in reverse order, after the stopping signal, each once", async () => {
  const parts = new Lifecycle();
  const order: string[] = [];
  parts.stopping.addEventListener("abort", () => order.push("signal"));
  const store = parts.add("store", { name: "store" }, (s) => void order.push(s.name));
  expect(store.name).toBe("store");
  parts.add("member", "member", async (m) => {
    await Bun.sleep(1);
    order.push(m);
  });
  parts.add("broken", null, () => {
    throw new Error("boom");
  });
  parts.add("listener", "listener", (l) => void order.push(l));
  await Promise.all([parts.stop(), parts.stop()]);
  await parts.stop();
  expect(order).toEqual(["signal", "listener", "member", "store"]);
  expect(parts.stopping.aborted).toBe(true);
  expect(() => parts.add("late", 1, () => {})).toThrow("late started after the server began to stop");
});
