import { describe, expect, test } from "bun:test";
import { Inflights } from "../../raft/inflights.ts";
import { RaftLog } from "../../raft/log.ts";
import { Progress, ProgressState } from "../../raft/progress.ts";
import { SeededRandom } from "../../raft/rand.ts";
import { entry, storageWithLog } from "./helpers.ts";

describe("RaftLog", () => {
  test("findConflict finds the first new or conflicting entry", () => {
    const log = new RaftLog(storageWithLog([1n], [1, 2, 3]));
    expect(log.findConflict([])).toBe(0);
    expect(log.findConflict([entry(1, 1), entry(2, 2)])).toBe(0);
    expect(log.findConflict([entry(2, 2), entry(3, 3), entry(4, 4)])).toBe(4);
    expect(log.findConflict([entry(2, 2), entry(3, 4)])).toBe(3);
  });

  test("findConflictByTerm returns the last index at or below a term", () => {
    const log = new RaftLog(storageWithLog([1n], [1, 1, 3, 3, 5, 5]));
    expect(log.findConflictByTerm(6, 4)).toEqual({ index: 4, term: 3 });
    expect(log.findConflictByTerm(6, 2)).toEqual({ index: 2, term: 1 });
    expect(log.findConflictByTerm(6, 0)).toEqual({ index: 0, term: 0 });
    expect(log.findConflictByTerm(3, 5)).toEqual({ index: 3, term: 3 });
  });

  test("maybeAppend appends after a matching entry and truncates conflicts", () => {
    const log = new RaftLog(storageWithLog([1n], [1, 2, 3]));
    expect(log.maybeAppend(3, 2, 3, [entry(4, 4)])).toBe(-1);
    expect(log.maybeAppend(2, 2, 3, [entry(3, 4), entry(4, 4)])).toBe(4);
    expect([1, 2, 3, 4].map((i) => log.term(i))).toEqual([1, 2, 4, 4]);
    expect(log.committed).toBe(3);
  });

  test("isUpToDate compares last term, then length", () => {
    const log = new RaftLog(storageWithLog([1n], [1, 2, 2]));
    expect(log.isUpToDate(3, 2)).toBe(true);
    expect(log.isUpToDate(2, 2)).toBe(false);
    expect(log.isUpToDate(1, 3)).toBe(true);
    expect(log.isUpToDate(10, 1)).toBe(false);
  });

  test("maybeCommit only commits entries of the given term", () => {
    const log = new RaftLog(storageWithLog([1n], [1, 1, 2]));
    expect(log.maybeCommit(2, 2)).toBe(false);
    expect(log.maybeCommit(3, 2)).toBe(true);
    expect(log.committed).toBe(3);
  });

  test("unstable entries become stable once persisted, unless overwritten meanwhile", () => {
    const log = new RaftLog(storageWithLog([1n], [1]));
    log.append([entry(2, 1), entry(3, 1)]);
    expect(log.unstableEntries().map((e) => e.index)).toEqual([2, 3]);
    log.append([entry(3, 2)]);
    log.stableTo(3, 1); // stale: index 3 now has term 2
    expect(log.unstableEntries().map((e) => e.index)).toEqual([2, 3]);
    log.stableTo(3, 2);
    expect(log.unstableEntries()).toEqual([]);
  });
});

describe("Progress and Inflights", () => {
  test("inflights are freed up to an acknowledged index, wrapping around", () => {
    const ins = new Inflights(3);
    ins.add(1);
    ins.add(2);
    ins.add(3);
    expect(ins.full()).toBe(true);
    ins.freeLE(2);
    expect(ins.size()).toBe(1);
    ins.add(4);
    ins.add(5);
    expect(ins.full()).toBe(true);
    ins.freeFirstOne();
    expect(ins.size()).toBe(2);
    ins.freeLE(100);
    expect(ins.size()).toBe(0);
  });

  test("maybeDecrTo ignores stale rejections and uses the hint in probe state", () => {
    const pr = new Progress(5, { next: 10, maxInflight: 4, learner: false });
    expect(pr.maybeDecrTo(3, 3)).toBe(false); // not the last probe
    expect(pr.maybeDecrTo(9, 7)).toBe(true);
    expect(pr.next).toBe(8);
    pr.becomeReplicate();
    expect(pr.maybeDecrTo(4, 4)).toBe(false); // below match
    pr.next = 20;
    expect(pr.maybeDecrTo(15, 12)).toBe(true);
    expect(pr.next).toBe(pr.match + 1);
  });

  test("pause rules per state", () => {
    const pr = new Progress(0, { next: 1, maxInflight: 2, learner: false });
    expect(pr.isPaused()).toBe(false);
    pr.probeSent = true;
    expect(pr.isPaused()).toBe(true);
    pr.becomeReplicate();
    pr.inflights.add(1);
    pr.inflights.add(2);
    expect(pr.isPaused()).toBe(true);
    pr.becomeSnapshot(10);
    expect(pr.state).toBe(ProgressState.Snapshot);
    expect(pr.isPaused()).toBe(true);
    pr.becomeProbe();
    expect(pr.next).toBe(11);
  });
});

describe("SeededRandom", () => {
  test("is reproducible from its seed", () => {
    const a = new SeededRandom(42);
    const b = new SeededRandom(42);
    for (let i = 0; i < 100; i++) expect(a.next()).toBe(b.next());
    expect(new SeededRandom(1).next()).not.toBe(new SeededRandom(2).next());
  });
});
