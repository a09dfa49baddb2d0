/**
 * Read workers (store/read_workers.ts): large ranges read and encoded on other threads
 * answer exactly what the event loop's own read answers, byte for byte on the wire; reads
 * they must not take (uncommitted rows, small ranges, sorted or filtered ones) stay on the
 * caller's thread; and whatever goes wrong on a worker leaves the read to that thread.
 */
import { Database } from "bun:sqlite";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "bun:test";
import { type EtcdError, isEtcdError } from "../../api/errors.ts";
import {
  type RangeRequest,
  RangeRequest_SortOrder as Order,
  RangeRequest_SortTarget as Target,
  type RangeResponse,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { STORED_KVS_FROM } from "../../server/apply/range.ts";
import { rangeResponseFrame } from "../../server/grpc/fast_codecs.ts";
import { MvccStore, type OpenOptions } from "../../store/mvcc.ts";
import { ReadWorkers } from "../../store/read_workers.ts";
import { encodedKvsOf } from "../../wire/etcd.ts";
import { cleanup, tempDir, waitFor } from "../harness.ts";
import { b, Driver, op, put, range, req, txn } from "./helpers.ts";

afterEach(cleanup);

const stores: MvccStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
});

/** A store on disk with read workers, committing after every batch unless told otherwise. */
function open(opts: OpenOptions = {}): { d: Driver; file: string } {
  const file = join(tempDir("etcdts-readers-"), "db");
  const store = MvccStore.open(file, { readThreads: 2, commitIntervalMs: 0, ...opts });
  stores.push(store);
  return { d: new Driver(store), file };
}

/** 600 keys k/000..k/599, values of assorted sizes, some on a lease whose ID needs all 64 bits. */
const BIG_LEASE = 0x7fff_ffff_ffff_fff0n;
function fill(d: Driver): void {
  d.ok(req({ leaseGrant: { ID: BIG_LEASE, TTL: 100n } }));
  for (let i = 0; i < 600; i++) {
    const value = "v".repeat(i % 7 === 0 ? 5000 : i % 50);
    d.put(`k/${String(i).padStart(3, "0")}`, value, i % 3 === 0 ? { lease: BIG_LEASE } : {});
  }
  for (let i = 0; i < 600; i += 5) d.put(`k/${String(i).padStart(3, "0")}`, `second ${i}`);
}

/** The gRPC frame the server writes for `r`, pieces joined. */
function frame(r: RangeResponse): Uint8Array {
  const f = rangeResponseFrame(r, 8 << 20);
  if (f === null) throw new Error("not a fast-path response");
  if (f instanceof Uint8Array) return f;
  while (!f.step(1 << 20));
  return Buffer.concat(f.pieces());
}

function ok(r: RangeResponse | EtcdError): RangeResponse {
  if (isEtcdError(r)) throw new Error(`expected a response, got ${r.message}`);
  return r;
}

/** The read as the event loop serves it, with no worker involved. */
function onLoop(d: Driver, r: RangeRequest): RangeResponse {
  return ok(d.state.range(r));
}

/** `r` read in steps, and whether a read worker answered it (of reads made one at a time). */
async function inSteps(d: Driver, r: RangeRequest): Promise<{ got: RangeResponse; byWorker: boolean }> {
  const before = d.store.rangesByWorkers;
  const got = ok(await d.state.rangeInSteps(r, () => null));
  return { got, byWorker: d.store.rangesByWorkers > before };
}

/** Reads each of `requests` in steps, answered by a worker and byte for byte as the event loop's read. */
async function expectWorkersAnswer(d: Driver, requests: RangeRequest[]): Promise<void> {
  for (const r of requests) {
    const { got, byWorker } = await inSteps(d, r);
    expect(byWorker).toBe(true);
    expect(frame(got)).toEqual(frame(onLoop(d, r)));
  }
}

describe("a range read by a worker", () => {
  test("answers byte for byte what the event loop's read answers", async () => {
    const { d } = open();
    fill(d);
    const half = d.store.currentRevision() - 60n;
    const requests = [
      range("k/", "k0"),
      range("k/", "k0", { limit: 300n }),
      range("k/", "k0", { limit: 600n }),
      range("k/", "k0", { keysOnly: true }),
      range("k/", "k0", { revision: half }),
      range("k/", "k0", { limit: 400n, revision: half, keysOnly: true }),
    ];
    for (const r of requests) {
      const { got, byWorker } = await inSteps(d, r);
      expect(byWorker).toBe(true);
      expect(encodedKvsOf(got)).toBeDefined();
      const want = onLoop(d, r);
      expect(frame(got)).toEqual(frame(want));
      // Read as a message (the JSON gateway does), the same response.
      expect(got).toEqual(want);
      expect(encodedKvsOf(got)).toBeUndefined();
    }
  });

  test("goes out in the worker's own pieces, not copied into one buffer first", async () => {
    const { d } = open();
    fill(d);
    const { got, byWorker } = await inSteps(d, range("k/", "k0"));
    expect(byWorker).toBe(true);
    const kvs = encodedKvsOf(got);
    if (kvs === undefined || !("pieces" in kvs)) throw new Error("a worker answers written pieces");
    const f = rangeResponseFrame(got, 8 << 20);
    if (f === null || f instanceof Uint8Array) throw new Error("a worker's answer is framed in pieces");
    const sent = f.pieces();
    // The head, the worker's pieces as they are (the same buffers), the tail.
    expect(sent.length).toBe(kvs.pieces.length + 2);
    kvs.pieces.forEach((p, i) => expect(sent[i + 1]).toBe(p));
  });

  test("answers the same whether its rows lie close, apart, or many to a revision", async () => {
    const { d } = open();
    const key = (i: number) => `k/${String(i).padStart(3, "0")}`;
    // Keys 0-299 written together, then much else, then 300-599: the range's revisions
    // lie in two clusters, too far apart for one scan, each close enough within a batch.
    for (let i = 0; i < 300; i++) d.put(key(i), `a${i}`);
    for (let i = 0; i < 2000; i++) d.put(`other/${i % 10}`, "x");
    for (let i = 300; i < 600; i++) d.put(key(i), `b${i}`);
    // 600 keys written by one txn: one main revision, 600 sub-revisions (t/ reads them
    // all, t/ to t/4 a third of them: too few of its rows for one scan).
    d.ok(req({ txn: txn([], Array.from({ length: 600 }, (_, i) => op.put(put(`t/${i}`, `t${i}`)))) }));
    // Every other key rewritten in reverse order: revisions against key order.
    for (let i = 598; i >= 0; i -= 2) d.put(key(i), `c${i}`);
    await expectWorkersAnswer(d, [
      range("k/", "k0"),
      range("k/", "k/3"),
      range("t/", "t0"),
      range("t/", "t/4"),
      range("k/", "k0", { keysOnly: true }),
    ]);
  });

  test("a range of thousands of keys, big values among them, comes in parts and whole", async () => {
    const { d } = open();
    for (let i = 0; i < 2500; i++) {
      d.put(`m/${String(i).padStart(4, "0")}`, i % 10 === 0 ? "B".repeat(6000 + i) : `v${i}`);
    }
    await expectWorkersAnswer(d, [
      range("m/", "m0"),
      range("m/", "m0", { limit: 2100n }),
      range("m/", "m0", { keysOnly: true }),
    ]);
  });

  test("keeps the lease's 64 bits, the count and `more`", async () => {
    const { d } = open();
    fill(d);
    const got = ok(await d.state.rangeInSteps(range("k/", "k0", { limit: 300n }), () => null));
    expect(got.more).toBe(true);
    expect(got.count).toBe(600n);
    expect(got.kvs.length).toBe(300);
    expect(got.kvs[3].lease).toBe(BIG_LEASE);
    expect(got.kvs[4].lease).toBe(0n);
  });
});

describe("a worker reading big values", () => {
  /** How many times the process maps `file` (the member's connection, and each mapping worker). */
  function mappings(file: string): number {
    return readFileSync("/proc/self/maps", "utf8").split("\n").filter((l) => l.endsWith(` ${file}`)).length;
  }

  test("maps the file while it reads them, answers the same as the file grows and shrinks, then unmaps it", async () => {
    const { d, file } = open();
    const key = (i: number) => `k/${String(i).padStart(3, "0")}`;
    const big = (i: number, tag: string) => `${tag}${i}`.padEnd(8192, "x");
    for (let i = 0; i < 600; i++) d.put(key(i), big(i, "a"));
    const all = range("k/", "k0");
    onLoop(d, all); // the member's connection maps the file as it reads
    const before = mappings(file);
    // Rows of 8 KB: the worker maps the file to read them.
    await expectWorkersAnswer(d, [all, all]);
    expect(mappings(file)).toBeGreaterThan(before);
    // The file grows under the mapping, then a compaction and a full vacuum shrink it: a
    // mapping past the file's end would kill the process (SIGBUS) at the next read.
    for (let i = 0; i < 600; i++) d.put(key(i), big(i, "b"));
    await expectWorkersAnswer(d, [all, all]);
    d.store.checkpoint(); // the WAL in the file now, not whenever the checkpointing thread gets to it
    const grown = statSync(file).size;
    for (let i = 0; i < 600; i += 2) d.del(key(i));
    d.ok(req({ compaction: { revision: d.store.currentRevision() } }));
    d.store.vacuumFull();
    expect(statSync(file).size).toBeLessThan(grown / 2);
    await expectWorkersAnswer(d, [all, all]);
    // Idle for a second: unmapped again.
    await waitFor("the worker to unmap the file", () => mappings(file) === before, { timeoutMs: 10_000 });
  });
});

describe("reads the workers do not take", () => {
  test("rows not yet committed stay on the event loop until a commit", async () => {
    const { d } = open({ commitIntervalMs: 60_000 });
    fill(d);
    const { got, byWorker } = await inSteps(d, range("k/", "k0"));
    expect(byWorker).toBe(false);
    expect(got).toEqual(onLoop(d, range("k/", "k0")));
    d.store.flush();
    expect((await inSteps(d, range("k/", "k0"))).byWorker).toBe(true);
  });

  test("small ranges, sorted and filtered reads stay on the event loop", async () => {
    const { d } = open();
    fill(d);
    const requests = [
      range("k/", "k/1"),
      range("k/", "k0", { sortOrder: Order.DESCEND }),
      // etcd sorts by a target other than the key even without an order: ascending.
      range("k/", "k0", { sortTarget: Target.VALUE }),
      range("k/", "k0", { sortOrder: Order.ASCEND, sortTarget: Target.MOD, limit: 300n }),
      range("k/", "k0", { minModRevision: 3n }),
      range("k/", "k0", { maxCreateRevision: 400n }),
    ];
    for (const r of requests) {
      const { got, byWorker } = await inSteps(d, r);
      expect(byWorker).toBe(false);
      expect(got).toEqual(onLoop(d, r));
    }
  });

  test("a read that would wait behind others on every worker is read by the caller", async () => {
    const { d } = open({ readThreads: 1 });
    fill(d);
    // One worker takes up to 16384 rows of reads: 27 of 600, not a 28th.
    const before = d.store.rangesByWorkers;
    const reads = Array.from({ length: 29 }, () => d.state.rangeInSteps(range("k/", "k0"), () => null));
    const got = (await Promise.all(reads)).map(ok);
    expect(d.store.rangesByWorkers - before).toBe(27);
    for (const r of got) expect(frame(r)).toEqual(frame(onLoop(d, range("k/", "k0"))));
    // A read bigger than the bound still queues behind small ones.
    for (let i = 0; i < 17_000; i++) d.put(`z/${String(i).padStart(5, "0")}`, "z");
    d.store.flush();
    const queued = d.store.rangesByWorkers;
    const [, big] = await Promise.all([
      d.state.rangeInSteps(range("k/", "k0"), () => null),
      d.state.rangeInSteps(range("z/", "z0", { keysOnly: true }), () => null),
    ]);
    expect(d.store.rangesByWorkers - queued).toBe(2);
    expect(ok(big).kvs.length).toBe(17_000);
    // Answered, the worker takes reads again.
    expect((await inSteps(d, range("k/", "k0"))).byWorker).toBe(true);
  });
});

describe("a range the event loop reads", () => {
  test("of STORED_KVS_FROM rows or more answers the rows' stored KeyValues, byte for byte the encoded answer", async () => {
    const { d } = open({ readThreads: 0 });
    fill(d);
    const half = d.store.currentRevision() - 60n;
    const stored = [
      range("k/", "k/1"),
      range("k/", "k0", { limit: BigInt(STORED_KVS_FROM) }),
      range("k/05", "k/1", { revision: half }),
      range("k/", "k/01"),
    ];
    const encoded = [
      range("k/", "k/001"),
      range("k/", "k/1", { keysOnly: true }),
      range("k/", "k0", { limit: BigInt(STORED_KVS_FROM - 1) }),
    ];
    for (const r of [...stored, ...encoded]) {
      const got = ok(await d.state.rangeInSteps(r, () => null));
      expect(encodedKvsOf(got) !== undefined).toBe(stored.includes(r));
      const want = onLoop(d, r);
      expect(frame(got)).toEqual(frame(want));
      expect(got).toEqual(want);
    }
  });
});

describe("when a worker cannot answer", () => {
  test("a damaged row is found and reported by the event loop's read, as without workers", async () => {
    const { d: filled, file } = open();
    fill(filled);
    filled.store.close();
    stores.length = 0;
    const db = new Database(file, { safeIntegers: true });
    db.query(
      "UPDATE history SET crc = crc + 1 WHERE key = ?1 AND mod_rev = (SELECT max(mod_rev) FROM history WHERE key = ?1)",
    ).run(b("k/123"));
    db.close();
    const store = MvccStore.open(file, { readThreads: 2 });
    stores.push(store);
    const d = new Driver(store);
    const damage: string[] = [];
    d.store.onDamage((m, foundBy) => damage.push(`${foundBy}: ${m.message}`));
    const got = await d.state.rangeInSteps(range("k/", "k0"), () => null);
    expect(isEtcdError(got) && got.message).toContain('corrupt store: key "k/123"');
    expect(damage).toHaveLength(1);
    expect(damage[0]).toStartWith('range: key "k/123"');
  });

  test("revisions history no longer holds are answered as changed", async () => {
    const { d, file } = open();
    fill(d);
    const workers = new ReadWorkers(file, { threads: 1 });
    try {
      const revs = Array.from({ length: 300 }, (_, i): [number, number] => [1_000_000 + i, 0]);
      expect(await workers.encode(revs, true)).toBe("changed");
    } finally {
      workers.stop();
    }
  });

  test("a worker that fails stops the pool, says so once, and its reads fall back", async () => {
    const failures: string[] = [];
    const workers = new ReadWorkers(join(tempDir("etcdts-readers-"), "missing", "db"), {
      threads: 2,
      onFailure: (m) => failures.push(m),
    });
    try {
      const revs = Array.from({ length: 300 }, (_, i): [number, number] => [i + 2, 0]);
      expect(await workers.encode(revs, true)).toBeNull();
      expect(await workers.encode(revs, true)).toBeNull();
      expect(failures).toHaveLength(1);
    } finally {
      workers.stop();
    }
  });
});

describe("random stores", () => {
  // Seeded, so a failure repeats: txns of many sub-revisions, keys over 4 KiB, values
  // around 4 KiB and empty ones, updates and deletes, a row cache partly warm, reads at
  // the head and at past revisions, keys-only, with limits. Each read is served in steps
  // (by a worker where one takes it) and whole on the event loop, byte for byte alike.
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const N = 1500;
  const name = (i: number) => `k/${String(i).padStart(4, "0")}${i % 97 === 0 ? "K".repeat(4100) : ""}`;
  const value = () => {
    const r = rnd(20);
    return r === 0 ? "B".repeat(4090 + rnd(20)) : r === 1 ? "" : "v".repeat(rnd(300));
  };

  for (const threads of [0, 2]) {
    test(`with ${threads} read threads, every read answers what the whole read does`, async () => {
      const { d } = open({ readThreads: threads });
      const revisions = [0n];
      for (let i = 0; i < N; i += 10) {
        const ops = [];
        for (let j = i; j < Math.min(N, i + 10); j++) ops.push(op.put(put(name(j), value())));
        d.ok(req({ txn: txn([], ops) }));
      }
      revisions.push(d.store.currentRevision());
      for (let round = 0; round < 3; round++) {
        for (let k = 0; k < 400; k++) d.put(name(rnd(N)), value());
        for (let k = 0; k < 30; k++) d.del(name(rnd(N)));
        revisions.push(d.store.currentRevision());
      }
      for (let k = 0; k < 300; k++) {
        const from = rnd(N);
        d.state.range(range(name(from), name(Math.min(N - 1, from + rnd(100)))));
      }
      let byWorkers = 0;
      for (const revision of revisions) {
        for (const keysOnly of [false, true]) {
          const from = rnd(N - 300);
          const requests = [
            range("k/", "k0", { revision, keysOnly }),
            range(name(rnd(N)), "k0", { revision, keysOnly, limit: BigInt(1 + rnd(700)) }),
            range(name(from), name(from + 100 + rnd(200)), { revision, keysOnly }),
            range(name(from), name(from + 256), { revision, keysOnly }),
          ];
          for (const r of requests) {
            const want = onLoop(d, r);
            for (let pass = 0; pass < 2; pass++) {
              const { got, byWorker } = await inSteps(d, r);
              if (byWorker) byWorkers++;
              expect(frame(got)).toEqual(frame(want));
            }
          }
        }
      }
      if (threads === 0) expect(byWorkers).toBe(0);
      else expect(byWorkers).toBeGreaterThan(20);
    }, 30_000);
  }
});
