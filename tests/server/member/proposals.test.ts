/** The proposal registry's deadlines and held proposals, under a manual clock. */
import { describe, expect, test } from "bun:test";
import { create } from "@bufbuild/protobuf";
import { Errors } from "../../../api/errors.ts";
import { PutRequestSchema } from "../../../proto/gen/etcdserverpb/rpc_pb.ts";
import { putProposal } from "../../../server/proposal_codec.ts";
import { ProposalRegistry } from "../../../server/member/proposals.ts";
import { ManualClock } from "./manual_clock.ts";

const request = putProposal(create(PutRequestSchema, { key: new TextEncoder().encode("k") }));
const TIMEOUT_MS = 1000;

function registry(leader: { known: boolean }) {
  const clock = new ManualClock();
  const proposals = new ProposalRegistry({
    memberId: 0xabcdn,
    clock,
    timeoutMs: TIMEOUT_MS,
    leaderKnown: () => leader.known,
  });
  proposals.start();
  return { clock, proposals };
}

/** Records what a promise settles with, as soon as microtasks have run. */
function track<T>(p: Promise<T>): { value: T | undefined } {
  const box: { value: T | undefined } = { value: undefined };
  p.then((v) => (box.value = v));
  return box;
}

async function microtasks(): Promise<void> {
  for (let i = 0; i < 3; i++) await Promise.resolve();
}

describe("ProposalRegistry", () => {
  test("request IDs carry the member ID in their top 16 bits and never repeat", () => {
    const { proposals } = registry({ known: true });
    const a = proposals.nextId();
    const b = proposals.nextId();
    expect(a >> 48n).toBe(0xabcdn);
    expect(b).toBe(a + 1n);
    proposals.stop();
  });

  test("a caller waits until the deadline, then gets Timeout and counts as failed", async () => {
    const { clock, proposals } = registry({ known: true });
    const answer = track(proposals.wait(proposals.nextId(), request));
    clock.advance(TIMEOUT_MS);
    await microtasks();
    expect(answer.value).toBeUndefined(); // exactly at the deadline: still waiting
    expect(proposals.pending).toBe(1);
    clock.advance(250); // the next sweep
    await microtasks();
    expect(answer.value).toBe(Errors.Timeout);
    expect(proposals.pending).toBe(0);
    expect(proposals.failed).toBe(1);
    proposals.stop();
  });

  test("without a leader the timeout says the leader failed; a held proposal hits its deadline", async () => {
    const leader = { known: false };
    const { clock, proposals } = registry(leader);
    const plain = track(proposals.wait(proposals.nextId(), request));
    const heldId = proposals.nextId();
    const held = track(proposals.wait(heldId, request));
    proposals.hold(heldId, new Uint8Array([1]));
    expect(proposals.holding).toBe(true);
    clock.advance(TIMEOUT_MS + 250);
    await microtasks();
    expect(plain.value).toBe(Errors.TimeoutDueToLeaderFail);
    expect(held.value).toBe(Errors.ProposalDeadline);
    expect(proposals.holding).toBe(false);
    expect(proposals.failed).toBe(2);
    proposals.stop();
  });

  test("held proposals go to a new leader in order; one it refuses is answered LeaderChanged", async () => {
    const { proposals } = registry({ known: false });
    const ids = [proposals.nextId(), proposals.nextId()];
    const answers = ids.map((id, i) => {
      const a = track(proposals.wait(id, request));
      proposals.hold(id, new Uint8Array([i]));
      return a;
    });
    const offered: number[] = [];
    proposals.releaseHeld((data) => {
      offered.push(data[0]);
      return data[0] === 0; // takes the first, refuses the second
    });
    await microtasks();
    expect(offered).toEqual([0, 1]);
    expect(answers[1].value).toBe(Errors.LeaderChanged);
    expect(proposals.take(ids[0])?.request).toBe(request); // apply answers the first
    expect(proposals.pending).toBe(0);
    expect(proposals.failed).toBe(1);
    proposals.stop();
  });

  test("a held proposal whose caller gave up is dropped and never offered to the leader", async () => {
    const { proposals } = registry({ known: false });
    const gone = proposals.nextId();
    const kept = proposals.nextId();
    const answers = [gone, kept].map((id, i) => {
      const a = track(proposals.wait(id, request));
      proposals.hold(id, new Uint8Array([i]));
      return a;
    });
    proposals.dropHeld(gone, Errors.ProposalDeadline);
    proposals.dropHeld(kept + 100n, Errors.ProposalDeadline); // not held: nothing happens
    await microtasks();
    expect(answers[0].value).toBe(Errors.ProposalDeadline);
    const offered: number[] = [];
    proposals.releaseHeld((data) => (offered.push(data[0]), true));
    expect(offered).toEqual([1]);
    expect(answers[1].value).toBeUndefined();
    expect(proposals.take(kept)?.request).toBe(request);
    // Once offered, a proposal is in the log: dropping it is no longer possible.
    proposals.dropHeld(kept, Errors.ProposalDeadline);
    expect(proposals.failed).toBe(1);
    proposals.stop();
  });

  test("membership changes time out too, without counting as failed proposals", async () => {
    const { clock, proposals } = registry({ known: true });
    const done = track(proposals.waitConf(proposals.nextId()));
    const late = track(proposals.waitConf(proposals.nextId()));
    clock.advance(TIMEOUT_MS / 2);
    const fresh = proposals.nextId();
    const answered = track(proposals.waitConf(fresh));
    clock.advance(TIMEOUT_MS / 2 + 250);
    proposals.confApplied([fresh], []);
    await microtasks();
    expect(done.value).toBe(Errors.Timeout);
    expect(late.value).toBe(Errors.Timeout);
    expect(answered.value).toEqual([]);
    expect(proposals.failed).toBe(0);
    proposals.stop();
  });

  test("stop() answers everyone with Stopped and leaves no timer behind", async () => {
    const { clock, proposals } = registry({ known: true });
    const a = track(proposals.wait(proposals.nextId(), request));
    const c = track(proposals.waitConf(proposals.nextId()));
    expect(clock.pendingTimers).toBe(1);
    proposals.stop();
    await microtasks();
    expect(a.value).toBe(Errors.Stopped);
    expect(c.value).toBe(Errors.Stopped);
    expect(clock.pendingTimers).toBe(0);
  });
});
