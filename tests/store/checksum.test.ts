/**
 * Stored revisions carry checksums, without servers: a byte flipped in a stored value (by
 * hand, through SQLite, while the store is closed) is reported with its key and revision by
 * every read that returns or exports it, by the whole-store pass and by a restore; a sound
 * store passes; a store from before checksums opens and gets them; a copy from an older
 * member installs.
 */
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { Code, isEtcdError } from "../../api/errors.ts";
import { ChecksumMismatch, checksumOf } from "../../store/checksum.ts";
import { exportEtcdBackend } from "../../store/etcd_export.ts";
import { exportInChild } from "../../server/export_child.ts";
import { checkStoreFile, verifyHistorySync } from "../../store/integrity.ts";
import { type KvFields, kvRowOf, storedKv } from "../../store/kv.ts";
import { MvccStore } from "../../store/mvcc.ts";
import { restoreSnapshot } from "../../store/restore.ts";
import { SCHEMA_VERSION } from "../../store/schema.ts";
import { copyStore } from "../../store/snapshot.ts";
import { cleanup, tempDir } from "../harness.ts";
import { flipValueBit, toOlderLayout } from "./history_rows.ts";
import { b, Driver, machine, op, put, range, req, txn } from "./helpers.ts";

afterAll(cleanup);

/** A store file with k0..k9 (k3 written twice): revisions 2..12. */
function storeWithKeys(dir: string): string {
  const file = path.join(dir, "db");
  const d = new Driver(MvccStore.open(file));
  for (let i = 0; i < 10; i++) d.put(`k${i}`, `value ${i}`);
  d.put("k3", "value 3 again");
  d.store.close();
  return file;
}

/** Flips one bit of `key`'s value at `revision` in the closed store at `file`, its checksum left alone. */
function flipByte(file: string, key: string, revision: bigint): void {
  flipValueBit(file, b(key), revision, 2, 0x01);
}

/** Opens the store, collecting what it reports as damaged. */
function openWatched(file: string): { store: MvccStore; damage: string[] } {
  const store = MvccStore.open(file);
  const damage: string[] = [];
  store.onDamage((m, foundBy) => damage.push(`${foundBy}: ${m.message}`));
  return { store, damage };
}

const K5 = 'key "k5" at revision 7 does not match its checksum';

describe("the checksum of a revision", () => {
  const kv = storedKv([b("key"), 3n, 7n, 2n, 0n, b("value")]);
  test("covers the revision, the sub-revision, the key and every byte of the KeyValue", () => {
    const base = checksumOf(7n, 0n, b("key"), kv);
    expect(checksumOf(7n, 0, b("key"), new Uint8Array(kv))).toBe(base);
    expect(checksumOf(8n, 0n, b("key"), kv)).not.toBe(base);
    expect(checksumOf(7n, 1n, b("key"), kv)).not.toBe(base);
    expect(checksumOf(7n, 0n, b("kez"), kv)).not.toBe(base);
    for (let i = 0; i < kv.length; i++) {
      const changed = new Uint8Array(kv);
      changed[i] ^= 0x10;
      expect(checksumOf(7n, 0n, b("key"), changed)).not.toBe(base);
    }
  });

  test("covers the fields a stored KeyValue holds, which read back as they were written", () => {
    const fields: KvFields = [b("key"), 3n, 7n, 2n, 5n, b("value")];
    const kv = storedKv(fields);
    expect(kvRowOf(kv, 7n)).toEqual([...fields, kv]);
    // A tombstone is stored as its key alone, as etcd's backend stores it.
    const tombstone: KvFields = [b("key"), 0n, 9n, 0n, 0n, new Uint8Array(0)];
    expect(storedKv(tombstone)).toEqual(new Uint8Array([0x0a, 3, ...b("key")]));
    expect(kvRowOf(storedKv(tombstone), 9n)).toEqual([...tombstone, storedKv(tombstone)]);
  });
});

describe("a damaged value", () => {
  test("a sound store passes the whole-store check", () => {
    const file = storeWithKeys(tempDir("etcdts-cksum-"));
    const found = checkStoreFile(file);
    expect(found).toEqual({ revisions: 11, unverified: 0, damaged: [], damagedCount: 0 });
  });

  test("is named by the whole-store check, with its key and revision", () => {
    const file = storeWithKeys(tempDir("etcdts-cksum-"));
    flipByte(file, "k5", 7n);
    const found = checkStoreFile(file);
    if (typeof found === "string") throw new Error(found);
    expect(found.damagedCount).toBe(1);
    expect(found.damaged.map((m) => m.message)).toEqual([K5]);
    expect(found.damaged[0].revision).toBe(7n);
  });

  test("a damaged key is refused to the reads that find the revision under it", () => {
    const file = storeWithKeys(tempDir("etcdts-cksum-"));
    const db = new Database(file);
    db.run("UPDATE history SET key = CAST('k5x' AS BLOB) WHERE key = CAST('k5' AS BLOB)");
    db.close();
    const { store, damage } = openWatched(file);
    try {
      const r = machine(store).range(range("k5x"));
      const k5x = 'key "k5x" at revision 7 does not match its checksum';
      expect(isEtcdError(r) && r.message).toBe(`etcdserver: corrupt store: ${k5x}`);
      expect(damage).toEqual([`range: ${k5x}`]);
    } finally {
      store.close();
    }
  });

  test("a column that disagrees with the stored KeyValue is named by the whole-store check", () => {
    const file = storeWithKeys(tempDir("etcdts-cksum-"));
    const db = new Database(file);
    db.run("UPDATE history SET version = 3 WHERE key = CAST('k5' AS BLOB)");
    db.close();
    const found = checkStoreFile(file);
    expect(typeof found !== "string" && found.damaged.map((m) => m.message)).toEqual([K5]);
  });

  test("is refused to a range, a read-only txn, HashKV and Hash; other keys still read", () => {
    const file = storeWithKeys(tempDir("etcdts-cksum-"));
    flipByte(file, "k5", 7n);
    const { store, damage } = openWatched(file);
    const d = new Driver(store);
    try {
      for (
        const r of [
          machine(store).range(range("k5")),
          machine(store).range(range("k", "l")),
          machine(store).readTxn(txn([], [op.range(range("k5"))])),
          store.hashKV(0n),
          store.hash(),
        ]
      ) {
        expect(isEtcdError(r) && { code: r.code, message: r.message }).toEqual({
          code: Code.DataLoss,
          message: `etcdserver: corrupt store: ${K5}`,
        });
      }
      expect(damage).toEqual([`range: ${K5}`, `range: ${K5}`, `txn: ${K5}`, `hashkv: ${K5}`, `hash: ${K5}`]);
      expect(d.get("k6").kvs.map((kv) => new TextDecoder().decode(kv.value))).toEqual(["value 6"]);
      // Keys-only reads do not read the value the checksum covers.
      expect(d.keys("k5", "", { keysOnly: true })).toEqual(["k5"]);
    } finally {
      store.close();
    }
  });

  test("read by the apply loop: the write applies, its caller is answered DataLoss, events lose the damaged prevKv", () => {
    const file = storeWithKeys(tempDir("etcdts-cksum-"));
    flipByte(file, "k5", 7n);
    const { store, damage } = openWatched(file);
    const d = new Driver(store);
    try {
      const [o] = d.apply(req({ put: put("k5", "fresh", { prevKv: true }) }));
      expect(o.ok).toBe(false);
      if (o.ok) return;
      expect([o.error.code, o.error.message]).toEqual([Code.DataLoss, `etcdserver: corrupt store: ${K5}`]);
      expect(o.events?.map((e) => [new TextDecoder().decode(e.kv!.value), e.prevKv])).toEqual([[
        "fresh",
        undefined,
      ]]);
      expect(damage).toEqual([`apply: ${K5}`]);
      // Every member makes the same write: the store moved on as theirs did.
      expect(d.get("k5").kvs.map((kv) => new TextDecoder().decode(kv.value))).toEqual(["fresh"]);
      expect(d.put("k6", "x").ok).toBe(true);
    } finally {
      store.close();
    }
  });

  test("read by a watch catch-up is refused, with the key and revision", () => {
    const file = storeWithKeys(tempDir("etcdts-cksum-"));
    flipByte(file, "k5", 7n);
    const { store, damage } = openWatched(file);
    try {
      const q = { key: b("k"), rangeEnd: b("l"), fromRev: 1n, toRev: store.currentRevision(), prevKv: false };
      const r = store.eventsSince(q);
      expect(isEtcdError(r) && [r.code, r.message]).toEqual([
        Code.DataLoss,
        `etcdserver: corrupt store: ${K5}`,
      ]);
      expect(damage).toEqual([`watch: ${K5}`]);
      // Past the damaged revision, a catch-up without previous values reads sound rows only.
      expect(isEtcdError(store.eventsSince({ ...q, fromRev: 8n }))).toBe(false);
    } finally {
      store.close();
    }
  });

  test("stops an export to an etcd backend", async () => {
    const dir = tempDir("etcdts-cksum-");
    const file = storeWithKeys(dir);
    flipByte(file, "k5", 7n);
    const err = await exportEtcdBackend(file, path.join(dir, "bolt")).catch((e) => e);
    expect(err).toBeInstanceOf(ChecksumMismatch);
    expect((err as Error).message).toBe(K5);
    // In parts on two threads, whichever finds it (this one is paced to leave the worker some).
    const pause = () => Bun.sleep(1);
    const inParts = await exportEtcdBackend(file, path.join(dir, "parts"), {
      parallelFrom: 1,
      partRevisions: 1,
      pause,
    })
      .catch((e) => e);
    expect(inParts).toMatchObject({ message: K5, key: b("k5"), revision: 7n, sub: 0n });
    expect(inParts).toBeInstanceOf(ChecksumMismatch);
    // The server runs it in a child process (server/export_child.ts): the same error comes back.
    const fromChild = await exportInChild(file, path.join(dir, "bolt2"), new AbortController().signal)
      .catch((e) => e);
    expect(fromChild).toBeInstanceOf(ChecksumMismatch);
    expect(fromChild).toMatchObject({ message: K5, key: b("k5"), revision: 7n, sub: 0n });
  });

  test("an export in a child process writes what the export in process writes", async () => {
    const dir = tempDir("etcdts-cksum-");
    const file = storeWithKeys(dir);
    await exportEtcdBackend(file, path.join(dir, "here"));
    await exportInChild(file, path.join(dir, "there"), new AbortController().signal);
    expect(fs.readFileSync(path.join(dir, "there")).equals(fs.readFileSync(path.join(dir, "here")))).toBe(
      true,
    );
    const aborted = new AbortController();
    aborted.abort();
    expect(await exportInChild(file, path.join(dir, "none"), aborted.signal).catch((e) => e.message))
      .toBe("snapshot: canceled");
  });

  test("is found by the store's own pass, which reports it", async () => {
    const file = storeWithKeys(tempDir("etcdts-cksum-"));
    flipByte(file, "k5", 7n);
    const { store, damage } = openWatched(file);
    try {
      let pauses = 0;
      const report = await store.verify("scrub", { between: () => (pauses++, null) });
      expect(report.damagedCount).toBe(1);
      expect(pauses).toBeGreaterThan(0);
      expect(damage).toEqual([`scrub: ${K5}`]);
    } finally {
      store.close();
    }
  });

  test("fails a restore of a store copy holding it", async () => {
    const dir = tempDir("etcdts-cksum-");
    const copy = path.join(dir, "copy");
    await copyStore(storeWithKeys(dir), copy);
    flipByte(copy, "k5", 7n);
    const restored = await restoreSnapshot({
      snapshotPath: copy,
      dataDir: path.join(dir, "restored"),
      skipHashCheck: true,
    });
    expect(restored).toBeInstanceOf(Error);
    expect((restored as Error).message).toContain(`checksum check failed: ${K5}`);
    expect(fs.existsSync(path.join(dir, "restored"))).toBe(false);
  });
});

describe("stores of older layouts", () => {
  for (const version of [4, 5] as const) {
    test(`a version ${version} store is checked as it is, opens converted and reads as before`, () => {
      const file = storeWithKeys(tempDir("etcdts-cksum-"));
      toOlderLayout(file, version);
      const unverified = version === 4 ? 11 : 0;
      expect(checkStoreFile(file)).toEqual({ revisions: 11, unverified, damaged: [], damagedCount: 0 });
      const d = new Driver(MvccStore.open(file));
      expect(d.get("k3").kvs.map((kv) => new TextDecoder().decode(kv.value))).toEqual(["value 3 again"]);
      expect(d.get("k3").kvs[0]).toMatchObject({ createRevision: 5n, modRevision: 12n, version: 2n });
      d.store.close();
      expect(checkStoreFile(file)).toEqual({ revisions: 11, unverified: 0, damaged: [], damagedCount: 0 });
      const db = new Database(file);
      expect(db.query("SELECT schema_version FROM meta").values()).toEqual([[SCHEMA_VERSION]]);
      // The old layout's pages were given back: the file holds no free pages.
      expect(db.query("PRAGMA freelist_count").values()).toEqual([[0]]);
      db.close();
    });
  }

  test("a value damaged in a version 5 store stays known as damaged when it is converted", () => {
    const file = storeWithKeys(tempDir("etcdts-cksum-"));
    toOlderLayout(file, 5);
    const db = new Database(file);
    db.run("UPDATE history SET value = CAST('Value 5' AS BLOB) WHERE key = CAST('k5' AS BLOB)");
    db.close();
    const found = checkStoreFile(file);
    expect(typeof found !== "string" && found.damaged.map((m) => m.message)).toEqual([K5]);
    const { store, damage } = openWatched(file);
    try {
      const r = machine(store).range(range("k5"));
      expect(isEtcdError(r) && r.message).toBe(`etcdserver: corrupt store: ${K5}`);
      expect(damage).toEqual([`range: ${K5}`]);
    } finally {
      store.close();
    }
  });

  for (const version of [4, 5] as const) {
    test(`a copy from a member of version ${version} installs, with checksums`, () => {
      const dir = tempDir("etcdts-cksum-");
      const old = storeWithKeys(dir);
      toOlderLayout(old, version);
      const d = new Driver(MvccStore.open(path.join(dir, "member")));
      d.put("mine", "x");
      d.store.installCopy(old);
      expect(d.keys("k", "l")).toHaveLength(10);
      d.put("k10", "v");
      expect(d.get("k3").kvs.map((kv) => new TextDecoder().decode(kv.value))).toEqual(["value 3 again"]);
      d.store.close();
      const db = new Database(path.join(dir, "member"), { safeIntegers: true, strict: true });
      try {
        const report = verifyHistorySync(db);
        expect({ ...report, damaged: [] }).toEqual({
          revisions: 12,
          unverified: 0,
          damaged: [],
          damagedCount: 0,
        });
      } finally {
        db.close();
      }
    });
  }
});
