/**
 * The store as an etcd backend and back, without servers: an export imported into a new
 * store reads and hashes the same at every retained revision; the import finishes a
 * compaction the file scheduled but did not finish, as etcd does on start; a key bucket
 * that is not etcd's is an error value naming what is wrong; a key bucket written in parts
 * by two threads holds what one thread writes, and the real etcdctl restores it; the
 * hand-written KeyValue decoder reads what the encoder writes.
 */
import { afterAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { BboltReader } from "../../store/bbolt/reader.ts";
import { BboltWriter } from "../../store/bbolt/writer.ts";
import { decodeKeyValue, encodeKeyValue, type Fields, keyValueSize } from "../../wire/etcd.ts";
import type { KeyValue } from "../../proto/gen/mvccpb/kv_pb.ts";
import { revisionKey } from "../../store/encoding.ts";
import { exportEtcdBackend } from "../../store/etcd_export.ts";
import { importEtcdBackend } from "../../store/etcd_import.ts";
import { Bucket, compactMark, MetaKey } from "../../store/etcd_layout.ts";
import { MvccStore } from "../../store/mvcc.ts";
import { openDatabase } from "../../store/schema.ts";
import { cleanup, ETCDCTL_BIN, haveRealEtcd, run, tempDir } from "../harness.ts";
import { b, Driver, op, put, req, txn } from "./helpers.ts";
import { backendStatusBesidesSize, dumpBbolt } from "../bbolt/dump.ts";

afterAll(cleanup);

/**
 * Imports the bbolt file at `file` into a new store file, its key bucket read here or on a
 * worker thread; the import's answer.
 */
async function importInto(file: string, dbPath: string, onWorker = false): Promise<Error | null> {
  const r = BboltReader.open(file);
  if (r instanceof Error) throw r;
  const db = openDatabase(dbPath);
  try {
    return await importEtcdBackend(r, db, onWorker ? { path: file, limit: fs.statSync(file).size } : null);
  } finally {
    db.close();
    r.close();
  }
}

/** Every entry of the bbolt file at `file` (dumpBbolt's), and its status but for its size. */
function entries(file: string): { out: [string, string][]; status: object } {
  const out = dumpBbolt(file);
  if (out instanceof Error) throw out;
  return { out, status: backendStatusBesidesSize(file) };
}

/** A bbolt file with the given key bucket entries and meta entries. */
function etcdFile(file: string, keys: [Uint8Array, Uint8Array][], meta: [Uint8Array, Uint8Array][]): void {
  const w = BboltWriter.create(file);
  const k = w.bucket();
  for (const [key, value] of keys) k.put(key, value);
  const kb = k.end();
  const m = w.bucket();
  for (const [key, value] of meta) m.put(key, value);
  w.finish([[Bucket.key, kb], [Bucket.meta, m.end()]]);
}

const kv = (key: string, value: string, rev: bigint, createRev: bigint, version: bigint): Uint8Array =>
  encodeKeyValue({
    key: b(key),
    value: b(value),
    modRevision: rev,
    createRevision: createRev,
    version,
    lease: 0n,
  });

describe("etcd backend export and import", () => {
  const dir = tempDir("etcdts-backend-");

  test("an exported store imports into one that reads and hashes the same", async () => {
    const src = path.join(dir, "src.db");
    const store = MvccStore.open(src);
    const d = new Driver(store);
    d.ok(req({ leaseGrant: { ID: 7n, TTL: 100n } }));
    d.put("a", "1");
    d.put("b", "1", { lease: 7n });
    d.put("a", "2");
    d.del("b");
    d.put(String.fromCharCode(0xff), "x");
    d.ok(req({ compaction: { revision: 5n } }));
    d.put("big", "b".repeat(3 << 20)); // a row larger than a batch of rows (2 MiB)
    d.put("a", "3");
    d.del("a");
    store.flush();
    const bolt = path.join(dir, "export.bolt");
    await exportEtcdBackend(src, bolt);
    // The key bucket read here, and on a worker thread as a restore of a large file does.
    for (const onWorker of [false, true]) {
      const dest = path.join(dir, `dest-${onWorker}.db`);
      expect(await importInto(bolt, dest, onWorker)).toBeNull();
      const copy = MvccStore.open(dest);
      const e = new Driver(copy);
      expect(copy.currentRevision()).toBe(store.currentRevision());
      expect(copy.compactRevision()).toBe(5n);
      for (let rev = 5n; rev <= store.currentRevision(); rev++) {
        expect(e.get("", "\0", { revision: rev }).kvs).toEqual(d.get("", "\0", { revision: rev }).kvs);
        expect(copy.hashKV(rev)).toEqual(store.hashKV(rev));
      }
      expect(copy.leases()).toEqual(store.leases());
      copy.close();
    }
    store.close();
  });

  test("two threads write the key bucket as one does; the real etcdctl reads and restores it", async () => {
    const src = path.join(dir, "parts.db");
    const store = MvccStore.open(src);
    const d = new Driver(store);
    for (let i = 0; i < 1500; i++) {
      // Overwrites, deletes, transactions (sub revisions) and values past a leaf, one past
      // the writer's 1 MiB chunk (a node written on its own).
      if (i % 7 === 3) d.del(`k${i % 50}`);
      else if (i % 11 === 5) {
        d.ok(req({ txn: txn([], [op.put(put(`t${i}`, "a")), op.put(put(`u${i}`, "b"))]) }));
      } else d.put(`k${i % 50}`, "v".repeat(i === 700 ? 3 << 19 : i % 13 === 0 ? 9000 : i % 40));
      if (i === 1000) d.ok(req({ compaction: { revision: store.currentRevision() - 300n } }));
    }
    store.flush();
    store.close();
    const one = path.join(dir, "one.bolt");
    const two = path.join(dir, "two.bolt");
    await exportEtcdBackend(src, one, { parallelFrom: Infinity });
    // Parts of 3 revisions: ~500 of them, claimed by both threads as they come; this
    // thread takes a millisecond over each, so the worker, once started, takes most.
    await exportEtcdBackend(src, two, { parallelFrom: 1, partRevisions: 3, pause: () => Bun.sleep(1) });
    expect(entries(two)).toEqual(entries(one));
    if (!haveRealEtcd()) return;
    const status = async (file: string) => {
      const r = await run([ETCDCTL_BIN, "snapshot", "status", file, "-w", "json"], {
        env: { ETCDCTL_API: "3" },
      });
      expect(r.stderr).toBe("");
      return { ...JSON.parse(r.stdout), totalSize: 0 };
    };
    expect(await status(two)).toEqual(await status(one));
    // Its restore opens the file with bbolt and writes to it: the free pages must be sound.
    const restored = path.join(dir, "restored");
    const r = await run([
      ETCDCTL_BIN,
      "snapshot",
      "restore",
      two,
      "--skip-hash-check",
      "--data-dir",
      restored,
    ], {
      env: { ETCDCTL_API: "3" },
    });
    expect([r.code, r.stderr.split("\n").filter((l) => !l.startsWith("{"))]).toEqual([0, [""]]);
    const after = await status(path.join(restored, "member", "snap", "db"));
    expect([after.revision, after.totalKey]).toEqual([Number(store.currentRevision()), expect.any(Number)]);
  }, 60_000);

  // The worker's read transaction begins later than the export's: it must write only rows of
  // the state the export began at, or leave every part to the export's thread.
  for (const compactEarly of [false, true]) {
    test(
      `an export in parts holds the state it began at while writes${
        compactEarly ? " and a compaction" : ""
      } go on`,
      async () => {
        const src = path.join(dir, `moving-${compactEarly}.db`);
        const store = MvccStore.open(src);
        const d = new Driver(store);
        for (let i = 0; i < 400; i++) d.put(`k${i % 60}`, `v${i}`);
        store.flush();
        const atStart = path.join(dir, `moving-${compactEarly}-copy.db`);
        await store.copyTo(atStart);
        let selects = 0;
        // Between this thread's selects: more puts, committed (the worker's state, begun
        // tens of ms later, has them), and in one run a compaction before the worker begins.
        const pause = async () => {
          selects++;
          d.put(`k${selects % 60}`, `w${selects}`);
          if (compactEarly && selects === 2) {
            d.ok(req({ compaction: { revision: store.currentRevision() - 50n } }));
          }
          store.flush();
          await Bun.sleep(1);
        };
        const moving = path.join(dir, `moving-${compactEarly}.bolt`);
        await exportEtcdBackend(src, moving, { parallelFrom: 1, partRevisions: 3, pause });
        expect(selects).toBeGreaterThan(5);
        const still = path.join(dir, `moving-${compactEarly}-still.bolt`);
        await exportEtcdBackend(atStart, still, { parallelFrom: Infinity });
        expect(entries(moving)).toEqual(entries(still));
        store.close();
      },
      60_000,
    );
  }

  test("a compaction scheduled but not finished is finished by the import", async () => {
    const file = path.join(dir, "scheduled.bolt");
    etcdFile(file, [
      [revisionKey(2n, 0n, false), kv("a", "1", 2n, 2n, 1n)],
      [revisionKey(3n, 0n, false), kv("a", "2", 3n, 2n, 2n)],
      [revisionKey(4n, 0n, false), kv("b", "1", 4n, 4n, 1n)],
      [revisionKey(5n, 0n, true), encodeKeyValue({ ...kv0, key: b("a") })],
    ], [[MetaKey.scheduledCompact, compactMark(4n)]]);
    const dest = path.join(dir, "scheduled.db");
    expect(await importInto(file, dest)).toBeNull();
    const store = MvccStore.open(dest);
    expect(store.compactRevision()).toBe(4n);
    expect(store.currentRevision()).toBe(5n);
    const d = new Driver(store);
    expect(d.get("a", "", { revision: 4n }).kvs.map((x) => x.modRevision)).toEqual([3n]);
    expect(d.keys("", "\0")).toEqual(["b"]);
    store.close();
  });

  test("a key bucket that is not etcd's is an error value, read here or on a worker", async () => {
    const cases: [string, [Uint8Array, Uint8Array][], string][] = [
      [
        "notrev",
        [[b("plain"), kv("a", "1", 2n, 2n, 1n)]],
        `bucket "key": key 0x${Buffer.from("plain").toString("hex")} is not a revision`,
      ],
      [
        "garbage",
        [[revisionKey(2n, 0n, false), new Uint8Array([0x0a, 0x05, 1])]],
        `bucket "key": protobuf: truncated bytes`,
      ],
      [
        // A put and a tombstone at one revision: the second row is refused by SQLite.
        "twice",
        [
          [revisionKey(2n, 0n, false), kv("a", "1", 2n, 2n, 1n)],
          [revisionKey(2n, 0n, true), encodeKeyValue({ ...kv0, key: b("a") })],
        ],
        `bucket "key": UNIQUE constraint failed: history.mod_rev, history.sub`,
      ],
    ];
    for (const [name, keys, message] of cases) {
      const file = path.join(dir, `${name}.bolt`);
      etcdFile(file, keys, []);
      expect((await importInto(file, path.join(dir, `${name}.db`)))?.message).toBe(message);
      expect((await importInto(file, path.join(dir, `${name}-w.db`), true))?.message).toBe(message);
    }
  });
});

/** Every field zero: what the empty message decodes to. */
const kv0: Fields<KeyValue> = decodeKeyValue(new Uint8Array(0));

test("decodeKeyValue reads what encodeKeyValue writes", () => {
  const cases: Fields<KeyValue>[] = [
    kv0,
    {
      ...kv0,
      key: b("k"),
      value: new Uint8Array(100_000).fill(3),
      createRevision: 1n << 60n,
      modRevision: (1n << 63n) - 1n,
      version: 300n,
      lease: -5n,
    },
    {
      ...kv0,
      key: new Uint8Array([0, 0xff]),
      modRevision: 127n,
      createRevision: 128n,
      version: 16383n,
      lease: 16384n,
    },
  ];
  for (const c of cases) {
    expect(decodeKeyValue(encodeKeyValue(c))).toEqual({ $typeName: "mvccpb.KeyValue", ...c });
  }
});

test("keyValueSize is the length encodeKeyValue writes", () => {
  const numbers = [
    0n,
    1n,
    127n,
    128n,
    16383n,
    16384n,
    1n << 35n,
    (1n << 53n) - 1n,
    1n << 56n,
    (1n << 63n) - 1n,
  ];
  for (const n of numbers) {
    for (const lease of [0n, 300n, (1n << 56n) - 1n, (1n << 63n) - 1n, -1n]) {
      const kv: Fields<KeyValue> = {
        key: new Uint8Array(1 + Number(n % 300n)),
        value: new Uint8Array(Number(n % 20_000n)),
        createRevision: n,
        modRevision: n + 1n,
        version: n % 1000n,
        lease,
      };
      expect(keyValueSize(kv)).toBe(encodeKeyValue(kv).length);
    }
  }
});
