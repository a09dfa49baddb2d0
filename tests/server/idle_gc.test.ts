import { expect, test } from "bun:test";
import { IdleGc } from "../../server/idle_gc.ts";

test("collects once after a busy interval is followed by an idle one", () => {
  let collections = 0;
  const gc = new IdleGc({ idleMs: 60_000, collect: () => collections++ });
  try {
    gc.check(); // idle from the start: nothing to give back
    expect(collections).toBe(0);
    gc.touch();
    gc.check(); // busy interval
    gc.touch();
    gc.check(); // still busy
    expect(collections).toBe(0);
    gc.check(); // first idle interval
    expect(collections).toBe(1);
    gc.check(); // stays idle: no more collections
    expect(collections).toBe(1);
    gc.touch();
    gc.check();
    gc.check();
    expect(collections).toBe(2);
  } finally {
    gc.stop();
  }
});
