/**
 * etcd's initial election tick advance, on a clock the test moves: when it forwards the
 * election clock, by how much, and when it gives up or does nothing.
 */
import { expect, test } from "bun:test";
import {
  GIVE_UP_MS,
  POLL_MS,
  startTickAdvance,
  type TickAdvanceOptions,
} from "../../../server/member/tick_advance.ts";
import { ManualClock } from "./manual_clock.ts";

function setup(over: Partial<TickAdvanceOptions> & { peers?: () => number } = {}) {
  const clock = new ManualClock();
  const advanced: number[] = [];
  let polls = 0;
  const timer = startTickAdvance({
    memberId: 0x8e9e05c52164694dn,
    enabled: true,
    clock,
    heartbeatMs: 100,
    electionTicks: 10,
    remoteMembers: 2,
    activePeers: () => {
      polls++;
      return over.peers?.() ?? 2;
    },
    advance: (ticks) => advanced.push(ticks),
    ...over,
  });
  return { clock, advanced, timer, polls: () => polls };
}

test("forwards all ticks but two once more than one peer is reachable, and only once", () => {
  let reachable = 0;
  const t = setup({ peers: () => reachable });
  t.clock.advance(POLL_MS * 10);
  expect(t.advanced).toEqual([]);
  reachable = 1; // one peer is not enough, as in etcd
  t.clock.advance(POLL_MS * 10);
  expect(t.advanced).toEqual([]);
  reachable = 2;
  t.clock.advance(POLL_MS);
  expect(t.advanced).toEqual([8]);
  t.clock.advance(GIVE_UP_MS);
  expect(t.advanced).toEqual([8]);
  expect(t.clock.pendingTimers).toBe(0);
});

test("gives up after five seconds without peers", () => {
  const t = setup({ peers: () => 1 });
  t.clock.advance(GIVE_UP_MS);
  expect(t.polls()).toBe(GIVE_UP_MS / POLL_MS);
  expect(t.clock.pendingTimers).toBe(0);
  t.clock.advance(GIVE_UP_MS);
  expect(t.polls()).toBe(GIVE_UP_MS / POLL_MS);
  expect(t.advanced).toEqual([]);
});

test("does nothing when turned off, for a member without peers, or once cancelled", () => {
  for (const over of [{ enabled: false }, { remoteMembers: 0 }]) {
    const t = setup(over);
    expect(t.clock.pendingTimers).toBe(0);
    t.clock.advance(GIVE_UP_MS);
    expect({ over, polls: t.polls(), advanced: t.advanced }).toEqual({ over, polls: 0, advanced: [] });
  }
  const t = setup({ peers: () => 0 });
  t.clock.advance(POLL_MS);
  t.timer.cancel();
  expect(t.clock.pendingTimers).toBe(0);
  t.clock.advance(GIVE_UP_MS);
  expect(t.polls()).toBe(1);
});
