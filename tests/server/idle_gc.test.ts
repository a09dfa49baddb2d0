import { expect, test } from "bun:test";
import { IdleGc } from "../../server/idle_gc.ts";

const MiB = 1024 * 1024;

interface Collector {
  readonly gc: IdleGc;
  /** RSS as the collector will read it, and how many collections it made. */
  readonly state: { rss: number; collections: number };
  /** A busy interval, then an idle one. */
  burst(): void;
}

/**
 * Runs `body` with a collector whose RSS the test sets (a collection brings it back to
 * `rssAtStart`), and stops it after.
 */
function withCollector(rssAtStart: number, body: (c: Collector) => void): void {
  const state = { rss: rssAtStart, collections: 0 };
  const gc = new IdleGc({
    idleMs: 60_000,
    collect: () => {
      state.collections++;
      state.rss = rssAtStart;
    },
    rss: () => state.rss,
  });
  const burst = () => {
    gc.touch();
    gc.check();
    gc.check();
  };
  try {
    body({ gc, state, burst });
  } finally {
    gc.stop();
  }
}

test("collects once after a busy interval is followed by an idle one", () => {
  withCollector(100 * MiB, ({ gc, state }) => {
    gc.check(); // idle from the start: nothing to give back
    expect(state.collections).toBe(0);
    gc.touch();
    gc.check(); // busy interval
    gc.touch();
    gc.check(); // still busy
    expect(state.collections).toBe(0);
    gc.check(); // first idle interval: the first collection
    expect(state.collections).toBe(1);
    gc.check(); // stays idle: no more collections
    expect(state.collections).toBe(1);
  });
});

test("work that grew RSS is followed by a collection; sparse work that did not, by none", () => {
  withCollector(700 * MiB, ({ state, burst }) => {
    burst();
    expect(state.collections).toBe(1);
    // A request now and then, each interval busy then idle: RSS grows by less than the
    // threshold (2% of 700 MiB, 14 MiB), so none of these pauses the process.
    for (let i = 0; i < 10; i++) {
      state.rss += MiB;
      burst();
    }
    expect(state.collections).toBe(1);
    // Past the threshold, the next idle interval collects.
    state.rss += 5 * MiB;
    burst();
    expect(state.collections).toBe(2);
    state.rss += 100 * MiB;
    burst();
    expect(state.collections).toBe(3);
  });
});

test("growth is measured from the lowest RSS seen since the last collection", () => {
  withCollector(200 * MiB, ({ state, burst }) => {
    burst();
    expect(state.collections).toBe(1);
    // Memory returned meanwhile by the runtime's own collections.
    state.rss = 150 * MiB;
    burst();
    expect(state.collections).toBe(1);
    // 10 MiB above 150 is growth (above 8 MiB), though still below the 200 MiB of the last collection.
    state.rss = 160 * MiB;
    burst();
    expect(state.collections).toBe(2);
  });
});
