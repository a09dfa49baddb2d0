/** grpc-timeout deadlines sharing timers (server/grpc/deadlines.ts). */
import { expect, test } from "bun:test";
import { Deadlines } from "../../server/grpc/deadlines.ts";
import { waitFor } from "../harness.ts";

test("deadlines fire once each, cancelled ones never", async () => {
  const d = new Deadlines();
  const fired: string[] = [];
  d.add(5, () => fired.push("a"));
  d.add(5, () => fired.push("b")); // same bucket as a
  const c = d.add(10, () => fired.push("cancelled"));
  d.add(60, () => fired.push("late"));
  d.cancel(c);
  await waitFor("the latest deadline", () => fired.includes("late"));
  // Buckets fire in deadline order, so the cancelled one's turn has passed too.
  expect(fired.sort()).toEqual(["a", "b", "late"]);
});

test("a timeout longer than a timer can hold is no deadline", () => {
  const d = new Deadlines();
  expect(d.add(2 ** 31, () => {})).toBeNull();
  expect(d.add(Number.NaN, () => {})).toBeNull();
  d.cancel(null);
});
