/** The linearizable read loop: shared rounds, waiting for apply, retries and timeouts, under a manual clock. */
import { describe, expect, test } from "bun:test";
import { Errors } from "../../../api/errors.ts";
import { ReadLoop } from "../../../server/member/read_loop.ts";
import { ManualClock } from "./manual_clock.ts";

const RETRY_MS = 1000;
const TIMEOUT_MS = 5000;

function loop() {
  const clock = new ManualClock();
  const asked: Uint8Array[] = [];
  const state = { applied: 0 };
  const reads = new ReadLoop({
    memberId: 7n,
    clock,
    retryMs: RETRY_MS,
    timeoutMs: TIMEOUT_MS,
    requestIndex: (ctx) => asked.push(ctx),
    appliedIndex: () => state.applied,
  });
  reads.start();
  return { clock, asked, state, reads };
}

function track<T>(p: Promise<T>): { value: T | undefined; settled: boolean } {
  const box: { value: T | undefined; settled: boolean } = { value: undefined, settled: false };
  p.then((v) => {
    box.value = v;
    box.settled = true;
  });
  return box;
}

async function microtasks(): Promise<void> {
  for (let i = 0; i < 3; i++) await Promise.resolve();
}

describe("ReadLoop", () => {
  test("a read waits for the leader's answer, then for apply to reach its index", async () => {
    const { asked, state, reads } = loop();
    const r = track(reads.read());
    expect(asked.length).toBe(1);
    // Another member's answer (or an old round's) does not count.
    reads.onReadStates([{ index: 1, requestCtx: new Uint8Array(16) }]);
    state.applied = 3;
    reads.onReadStates([{ index: 5, requestCtx: asked[0] }]);
    await microtasks();
    expect(r.settled).toBe(false);
    state.applied = 5;
    reads.onApplied();
    await microtasks();
    expect(r.value).toBeNull();
    reads.stop();
  });

  test("reads made while a round is out share the next one, asked once the first is answered", async () => {
    const { asked, state, reads } = loop();
    const first = track(reads.read());
    const second = track(reads.read());
    const third = track(reads.read());
    expect(asked.length).toBe(1);
    state.applied = 10;
    reads.onReadStates([{ index: 10, requestCtx: asked[0] }]);
    await microtasks();
    expect(first.value).toBeNull();
    expect(second.settled || third.settled).toBe(false);
    expect(asked.length).toBe(2);
    reads.onReadStates([{ index: 10, requestCtx: asked[0] }]); // a duplicate answer: ignored
    await microtasks();
    expect(second.settled).toBe(false);
    reads.onReadStates([{ index: 11, requestCtx: asked[1] }]);
    state.applied = 11;
    reads.onApplied();
    await microtasks();
    expect([second.value, third.value]).toEqual([null, null]);
    expect(asked.length).toBe(2);
    reads.stop();
  });

  test("an unanswered round is asked again after the retry time, with a new context", async () => {
    const { clock, asked, state, reads } = loop();
    const r = track(reads.read());
    clock.advance(RETRY_MS); // at the retry time exactly: still waiting for the first answer
    expect(asked.length).toBe(1);
    clock.advance(250);
    expect(asked.length).toBe(2);
    expect(asked[1]).not.toEqual(asked[0]);
    // The first round's late answer is not the current round's.
    reads.onReadStates([{ index: 2, requestCtx: asked[0] }]);
    await microtasks();
    expect(r.settled).toBe(false);
    state.applied = 2;
    reads.onReadStates([{ index: 2, requestCtx: asked[1] }]);
    await microtasks();
    expect(r.value).toBeNull();
    reads.stop();
  });

  test("a read unanswered past the request timeout fails with Timeout", async () => {
    const { clock, asked, reads } = loop();
    const r = track(reads.read());
    clock.advance(TIMEOUT_MS);
    await microtasks();
    expect(r.settled).toBe(false);
    const retries = asked.length;
    expect(retries).toBeGreaterThan(1);
    clock.advance(RETRY_MS + 250);
    await microtasks();
    expect(r.value).toBe(Errors.Timeout);
    // Nothing else was waiting: no new round.
    clock.advance(2 * RETRY_MS);
    expect(asked.length).toBe(retries);
    reads.stop();
  });

  test("a retried round times out only the reads that are old enough", async () => {
    const { clock, asked, reads } = loop();
    const old = track(reads.read());
    clock.advance(TIMEOUT_MS - RETRY_MS);
    const young = track(reads.read()); // waits for the next round, with the old read
    clock.advance(2 * RETRY_MS + 250); // the old one's round is retried once more, then given up
    await microtasks();
    expect(old.value).toBe(Errors.Timeout);
    expect(young.settled).toBe(false);
    const ctx = asked[asked.length - 1];
    reads.onReadStates([{ index: 0, requestCtx: ctx }]);
    await microtasks();
    expect(young.value).toBeNull();
    reads.stop();
  });

  test("stop() answers every read not yet released with Stopped and leaves no timer", async () => {
    const { clock, asked, reads } = loop();
    const parked = track(reads.read()); // confirmed at index 9, apply still behind
    const unconfirmed = track(reads.read()); // in the round asked next
    reads.onReadStates([{ index: 9, requestCtx: asked[0] }]);
    const queued = track(reads.read());
    reads.stop();
    await microtasks();
    expect([parked.value, unconfirmed.value, queued.value]).toEqual([
      Errors.Stopped,
      Errors.Stopped,
      Errors.Stopped,
    ]);
    expect(clock.pendingTimers).toBe(0);
  });
});
