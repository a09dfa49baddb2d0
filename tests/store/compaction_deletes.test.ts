/**
 * A large compaction's rows leave `history` over later turns (store/compaction_deletes.ts):
 * the compaction applies at once and the store keeps serving; whatever reads `history`
 * directly, and every restart, sees it as done.
 */
import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Errors } from "../../api/errors.ts";
import { RevisionBuffer } from "../../store/revision_buffer.ts";
import { MvccStore, type OpenOptions } from "../../store/mvcc.ts";
import { b, Driver, put, range, req } from "./helpers.ts";
import type { Event } from "../../proto/gen/mvccpb/kv_pb.ts";

interface Setup {
  readonly dir: string;
  readonly path: string;
  /** Slices of deletes waiting to run: they run only when the test says. */
  readonly slices: (() => void)[];
  /** Closes the store and opens it again (a restart), with what `between` did to the file meanwhile. */
  restart(between: () => void): Driver;
}

/**
 * A store in a fresh directory with 40 keys written twice (80 revisions, 2..81): a
 * compaction at the head drops their 40 first versions.
 */
function withStore(run: (s: Setup, d: Driver) => Promise<void> | void, extra: OpenOptions = {}) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "etcdts-compaction-deletes-"));
    const slices: (() => void)[] = [];
    const opts: OpenOptions = {
      commitIntervalMs: 0,
      compactionRowsInApply: 3,
      compactionSoon: (fn) => slices.push(fn),
      compactionSliceMs: 0, // one step per slice, whatever the machine's speed
      ...extra,
    };
    const path = join(dir, "db");
    let d = new Driver(MvccStore.open(path, opts));
    const setup: Setup = {
      dir,
      path,
      slices,
      restart: (between) => {
        d.store.close();
        between();
        return d = new Driver(MvccStore.open(path, opts));
      },
    };
    try {
      writeHistory(d);
      await run(setup, d);
    } finally {
      d.store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

function writeHistory(d: Driver): void {
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 40; i++) d.put(`k${String(i).padStart(2, "0")}`, `v${round}`);
  }
}

/** Rows and the meta row as another connection sees them: what is committed. */
function committed(path: string): { rows: number; appliedIndex: bigint; compactRev: bigint } {
  const db = new Database(path, { readonly: true, safeIntegers: true });
  try {
    const [rows] = db.query("SELECT count(*) FROM history").values()[0] as bigint[];
    const [appliedIndex, compactRev] = db.query("SELECT applied_index, compact_rev FROM meta")
      .values()[0] as bigint[];
    return { rows: Number(rows), appliedIndex, compactRev };
  } finally {
    db.close();
  }
}

function runSlices(slices: (() => void)[]): number {
  let n = 0;
  for (; slices.length > 0; n++) slices.shift()!();
  return n;
}

const value = (d: Driver, key: string) => new TextDecoder().decode(d.get(key).kvs[0].value);

test(
  "a compaction applies at once; its rows go in later turns, and Compact with physical waits for them",
  withStore(async ({ path, slices }, d) => {
    d.ok(req({ compaction: { revision: 81n } }));
    // In effect at once: older revisions are refused, the head answers.
    expect(d.state.range(range("k00", "", { revision: 41n }))).toBe(Errors.Compacted);
    expect(value(d, "k00")).toBe("v1");
    expect(d.store.compactRevision()).toBe(81n);
    // The apply deleted none of the 40 rows (more than 3); its batch committed.
    expect(committed(path)).toEqual({ rows: 80, appliedIndex: 81n, compactRev: 81n });
    let physical = false;
    const deleted = d.store.compactionDeleted().then(() => (physical = true));
    d.put("k00", "v2"); // writes go on meanwhile
    await Promise.resolve();
    expect(physical).toBe(false);
    expect(runSlices(slices)).toBeGreaterThanOrEqual(1);
    await deleted;
    d.put("k01", "v2"); // the next commit carries the deletes
    expect(committed(path)).toEqual({ rows: 42, appliedIndex: 83n, compactRev: 81n });
  }),
);

test(
  "HashKV deletes the rest first and commits; a plain flush does not delete them",
  withStore(({ path, slices }, d) => {
    const fresh = MvccStore.open(":memory:");
    const whole = new Driver(fresh);
    writeHistory(whole);
    whole.ok(req({ compaction: { revision: 81n } })); // 40 rows: all deleted in its apply (default threshold)
    try {
      d.ok(req({ compaction: { revision: 81n } }));
      d.store.flush();
      expect(committed(path)).toEqual({ rows: 80, appliedIndex: 81n, compactRev: 81n });
      expect(d.store.hashKV(0n)).toEqual(whole.store.hashKV(0n));
      expect(committed(path).rows).toBe(40);
      expect(runSlices(slices)).toBe(1); // scheduled before, finds nothing left
    } finally {
      fresh.close();
    }
  }),
);

test(
  "while the snapshot export holds compactions, they delete in their apply; pending rows go first",
  withStore(({ path, slices }, d) => {
    d.ok(req({ compaction: { revision: 61n } })); // 20 rows pending
    const release = d.store.holdCompactions();
    expect(committed(path)).toEqual({ rows: 60, appliedIndex: 81n, compactRev: 61n });
    d.ok(req({ compaction: { revision: 81n } })); // 20 more, more than 3: in the apply all the same
    expect(committed(path)).toEqual({ rows: 40, appliedIndex: 82n, compactRev: 81n });
    expect(runSlices(slices)).toBe(1); // the one scheduled before the hold: nothing left
    release();
    release(); // once only
    for (let i = 0; i < 40; i++) d.put(`k${String(i).padStart(2, "0")}`, "v2"); // revs 82..121
    d.ok(req({ compaction: { revision: 121n } })); // after the release: slices again
    expect(committed(path).rows).toBe(80);
    expect(runSlices(slices)).toBe(1);
    d.store.flush();
    expect(committed(path).rows).toBe(40);
  }),
);

test(
  "a second compaction while the first one's rows are pending joins them",
  withStore(async ({ path, slices }, d) => {
    d.ok(req({ compaction: { revision: 61n } })); // drops k00..k19's first versions (2..21)
    d.put("k00", "v2"); // rev 82
    d.ok(req({ compaction: { revision: 82n } })); // k20..k39's first versions and k00's second
    const deleted = d.store.compactionDeleted();
    runSlices(slices);
    await deleted;
    d.store.flush();
    expect(committed(path)).toEqual({ rows: 40, appliedIndex: 83n, compactRev: 82n });
  }),
);

test(
  "a batch that rolls back forgets the rows its compaction queued",
  withStore(({ path, slices }, d) => {
    const index = d.store.appliedIndex();
    // The second entry repeats the first's index: the whole batch rolls back.
    expect(() =>
      d.state.applyBatch([
        { index: index + 1n, term: 1n, request: req({ compaction: { revision: 81n } }) },
        { index: index + 1n, term: 1n, request: req({ put: put("x", "y") }) },
      ])
    ).toThrow();
    expect(d.store.compactRevision()).toBe(-1n);
    expect(slices.length).toBe(0);
    d.store.flush();
    expect(committed(path)).toEqual({ rows: 80, appliedIndex: 80n, compactRev: -1n });
    expect(d.get("k00", "", { revision: 2n }).kvs.length).toBe(1);
  }),
);

test(
  "rows a restart finds left over are dropped again and deleted",
  withStore((setup, d) => {
    d.ok(req({ compaction: { revision: 81n } }));
    const expected = d.store.hashKV(81n); // deletes the rest now: what a finished compaction hashes to
    // The dropped rows back in the file, as a crash before their deletes were committed leaves them.
    const reopened = setup.restart(() => writeAgain(setup.path));
    expect(reopened.store.keyCount()).toBe(40);
    expect(reopened.state.range(range("k00", "", { revision: 41n }))).toBe(Errors.Compacted);
    expect(value(reopened, "k00")).toBe("v1");
    expect(committed(setup.path).rows).toBe(80);
    runSlices(setup.slices);
    reopened.store.flush();
    expect(committed(setup.path).rows).toBe(40);
    expect(reopened.store.hashKV(81n)).toEqual(expected);
  }),
);

/** Writes the first versions of the 40 keys back into `history`, with their checksums, from a fresh store's copy. */
function writeAgain(path: string): void {
  const dir = mkdtempSync(join(tmpdir(), "etcdts-compaction-deletes-src-"));
  try {
    const src = new Driver(MvccStore.open(join(dir, "db"), { commitIntervalMs: 0 }));
    writeHistory(src);
    src.store.close();
    const db = new Database(path, { safeIntegers: true });
    try {
      db.run(`ATTACH '${join(dir, "db")}' AS src`);
      db.run("INSERT INTO history SELECT * FROM src.history WHERE mod_rev <= 41");
    } finally {
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test(
  "a compaction of few rows deletes them in its apply",
  withStore(({ path, slices }, d) => {
    d.ok(req({ compaction: { revision: 44n } })); // k00..k02's first versions (2, 3, 4): 3 rows
    expect(slices.length).toBe(0);
    expect(committed(path)).toEqual({ rows: 77, appliedIndex: 81n, compactRev: 44n });
  }),
);

test(
  "a slice deletes at most --experimental-compaction-batch-limit rows, and commits them",
  withStore(({ path, slices }, d) => {
    d.ok(req({ compaction: { revision: 81n } }));
    const left = [];
    while (slices.length > 0) {
      slices.shift()!();
      left.push(committed(path).rows);
    }
    expect(left).toEqual([65, 50, 40]);
  }, { compactionBatchLimit: 15 }),
);

/** Makes the same requests of `d` and of the store beside it (see `walkingBeside`). */
type Both = (f: (x: Driver) => void) => void;

/**
 * A test on a store whose compactions walk 8 keys a step (40 keys: the apply, then 4
 * slices), beside a fresh in-memory store, `whole`, written the same way, whose compactions
 * are done whole in their applies (the default thresholds).
 */
function walkingBeside(run: (s: Setup, d: Driver, both: Both, whole: Driver) => Promise<void> | void) {
  return withStore(async (setup, d) => {
    const whole = new Driver(MvccStore.open(":memory:"));
    try {
      writeHistory(whole);
      await run(setup, d, (f) => {
        f(d);
        f(whole);
      }, whole);
    } finally {
      whole.store.close();
    }
  }, { compactionKeysPerStep: 8 });
}

test(
  "a compaction of more keys than its apply walks goes on walking in slices; reads and writes meanwhile answer as after it",
  walkingBeside(async ({ path, slices }, d, both, whole) => {
    both((x) => x.ok(req({ compaction: { revision: 81n } })));
    // The apply walked 8 keys (k00..k07) and deleted nothing: the slices will.
    expect(committed(path)).toEqual({ rows: 80, appliedIndex: 81n, compactRev: 81n });
    expect(slices.length).toBe(1);
    expect(d.state.range(range("k39", "", { revision: 41n }))).toBe(Errors.Compacted);
    expect(d.get("k", "l", { revision: 81n })).toEqual(whole.get("k", "l", { revision: 81n }));
    both((x) => x.put("k39", "v2")); // ahead of the walk
    slices.shift()!(); // one step of 8 keys: k08..k15
    both((x) => x.put("k10", "v2")); // behind it
    both((x) => x.del("k20")); // a tombstone above the compaction stays
    both((x) => x.put("j", "v2")); // a new key before the walk's next key
    expect(d.get("", "\0")).toEqual(whole.get("", "\0"));
    expect(d.get("k", "l", { revision: 81n })).toEqual(whole.get("k", "l", { revision: 81n }));
    // k39's put at 81 has no prevKv: its version at 41 is compacted, walked or not.
    const catchUp = (x: Driver) =>
      x.store.eventsSince({ key: b("k"), rangeEnd: b("l"), fromRev: 81n, toRev: 90n, prevKv: true });
    expect(catchUp(d)).toEqual(catchUp(whole));
    expect((catchUp(d) as Event[])[0].prevKv).toBeUndefined();
    const deleted = d.store.compactionDeleted();
    let physical = false;
    void deleted.then(() => (physical = true));
    expect(runSlices(slices)).toBeGreaterThanOrEqual(4); // the walk's steps, then the deletes
    await deleted;
    expect(physical).toBe(true);
    d.store.flush();
    expect(committed(path).rows).toBe(44); // 40 kept, 4 written after
    expect(d.store.hashKV(0n)).toEqual(whole.store.hashKV(0n));
  }),
);

test(
  "a batch that rolls back between the walk's steps undoes its own changes only",
  walkingBeside(({ path, slices }, d, both, whole) => {
    both((x) => x.ok(req({ compaction: { revision: 81n } })));
    slices.shift()!(); // the walk's second step, k08..k15, outside any batch
    const index = d.store.appliedIndex();
    expect(() =>
      d.state.applyBatch([
        { index: index + 1n, term: 1n, request: req({ put: put("k09", "lost") }) },
        { index: index + 1n, term: 1n, request: req({ put: put("x", "y") }) },
      ])
    ).toThrow();
    expect(d.get("", "\0")).toEqual(whole.get("", "\0"));
    both((x) => x.put("k09", "v2"));
    runSlices(slices);
    d.store.flush();
    expect(committed(path).rows).toBe(41);
    expect(d.store.hashKV(0n)).toEqual(whole.store.hashKV(0n));
  }),
);

test(
  "a second compaction during the walk takes it over; HashKV finishes the walk at once",
  walkingBeside(({ path, slices }, d, both, whole) => {
    both((x) => x.ok(req({ compaction: { revision: 61n } }))); // k00..k19's first versions
    slices.shift()!();
    both((x) => x.put("k00", "v2")); // rev 82
    both((x) => x.ok(req({ compaction: { revision: 82n } }))); // the rest, and k00's second
    expect(d.store.hashKV(0n)).toEqual(whole.store.hashKV(0n));
    expect(committed(path)).toEqual({ rows: 40, appliedIndex: 83n, compactRev: 82n });
    runSlices(slices); // finds nothing left
    expect(committed(path).rows).toBe(40);
  }),
);

test(
  "a compaction that drops nothing, taking over a restart's walk, answers whoever waits",
  withStore(async (setup, d) => {
    d.ok(req({ compaction: { revision: 81n } }));
    runSlices(setup.slices);
    const reopened = setup.restart(() => {}); // walks its index again, in a slice
    expect(setup.slices.length).toBe(1);
    let physical = false;
    void reopened.store.compactionDeleted().then(() => (physical = true));
    reopened.put("x", "y"); // 82
    reopened.ok(req({ compaction: { revision: 82n } })); // takes the walk over; 41 keys: walked whole
    await Promise.resolve();
    expect(physical).toBe(true);
  }),
);

test("revisions come out of the buffer in (main, sub) order, packed or past 2^53 by comparison", () => {
  const inOrder = (buffer: RevisionBuffer, step = Infinity) => {
    const merge = buffer.drain();
    expect(buffer.size).toBe(0);
    const out: number[] = [];
    while (merge.left > 0) merge.take(step, (main, sub) => out.push(main, sub));
    return out;
  };
  const of = (pairs: number[]) => {
    const buffer = new RevisionBuffer();
    for (let i = 0; i < pairs.length; i += 2) buffer.push(pairs[i], pairs[i + 1]);
    expect(buffer.size).toBe(pairs.length / 2);
    return buffer;
  };
  expect(inOrder(of([]))).toEqual([]);
  expect(inOrder(of([5, 2, 3, 7, 5, 0, 3, 1, 9, 0]))).toEqual([3, 1, 3, 7, 5, 0, 5, 2, 9, 0]);
  const big = 2 ** 50;
  // big × 64 is past 2^53: compared, not packed.
  expect(inOrder(of([big + 1, 40, big, 3, big, 2, 1, 9]))).toEqual([1, 9, big, 2, big, 3, big + 1, 40]);
  // 10,000 revisions, descending, over three chunks sorted apart, with another buffer's taken over.
  const many = new RevisionBuffer();
  for (let main = 10_000; main > 0; main--) many.push(main, main % 3);
  const other = of([0, 5, 4_500, 9]);
  many.absorb(other);
  expect(other.size).toBe(0);
  expect(many.size).toBe(10_002);
  const expected = [0, 5];
  for (let main = 1; main <= 10_000; main++) {
    expected.push(main, main % 3);
    if (main === 4_500) expected.push(4_500, 9);
  }
  expect(inOrder(many, 7)).toEqual(expected);
  // A failed delete leaves its revision the next one.
  const merge = of([1, 0, 2, 0, 3, 0]).drain();
  expect(() =>
    merge.take(Infinity, (main) => {
      if (main === 2) throw new Error("disk full");
    })
  ).toThrow("disk full");
  expect(merge.left).toBe(2);
  const rest: number[] = [];
  expect(merge.take(Infinity, (main) => rest.push(main))).toBe(2);
  expect(rest).toEqual([2, 3]);
  expect(merge.left).toBe(0);
});
