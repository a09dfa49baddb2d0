import { afterEach, describe, expect, spyOn, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type Entry, Wal, WalCorruption } from "../../wal/wal.ts";
import { decodeRecords } from "../../wal/record.ts";

const dirs: string[] = [];
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "etcdts-wal-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/**
 * The log as it appends when zeros cannot be written ahead (a full disk): the torn tails
 * these tests make are cut at the file's end. The same damage over zeros has its own tests
 * ("segments written over zeros").
 */
const APPENDED = { zeroAheadBytes: 0 };

function entry(index: number, term = 1, text = `e${index}`): Entry {
  return { index, term, type: 0, data: new TextEncoder().encode(text) };
}

function texts(entries: readonly Entry[]): string[] {
  return entries.map((e) => `${e.index}:${e.term}:${new TextDecoder().decode(e.data)}`);
}

describe("wal", () => {
  test("replays saved entries, hard state and metadata after reopen", async () => {
    const dir = tempDir();
    const w = Wal.open(dir, { meta: { memberId: 7n, clusterId: 9n } });
    w.save([entry(1), entry(2), entry(3)], { term: 1, vote: 7n, commit: 3 });
    await w.sync();
    w.close();
    const r = Wal.open(dir).replay;
    expect(r.meta).toEqual({ memberId: 7n, clusterId: 9n });
    expect(r.hardState).toEqual({ term: 1, vote: 7n, commit: 3 });
    expect(texts(r.entries)).toEqual(["1:1:e1", "2:1:e2", "3:1:e3"]);
    expect(r.truncatedBytes).toBe(0);
  });

  test("a torn last record is cut, never applied, and the log stays appendable", async () => {
    const dir = tempDir();
    const w = Wal.open(dir, APPENDED);
    w.save([entry(1), entry(2)]);
    await w.sync();
    w.close();
    const file = path.join(dir, fs.readdirSync(dir)[0]);
    const size = fs.statSync(file).size;
    fs.truncateSync(file, size - 3);
    const w2 = Wal.open(dir);
    expect(texts(w2.replay.entries)).toEqual(["1:1:e1"]);
    expect(w2.replay.truncatedBytes).toBeGreaterThan(0);
    w2.save([entry(2, 1, "again")]);
    await w2.sync();
    w2.close();
    expect(texts(Wal.open(dir).replay.entries)).toEqual(["1:1:e1", "2:1:again"]);
  });

  test("a flipped bit in the last record is detected by the checksum", async () => {
    const dir = tempDir();
    const w = Wal.open(dir, APPENDED);
    w.save([entry(1), entry(2, 1, "payload")]);
    await w.sync();
    w.close();
    const file = path.join(dir, fs.readdirSync(dir)[0]);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 2] ^= 0xff;
    fs.writeFileSync(file, bytes);
    expect(texts(Wal.open(dir).replay.entries)).toEqual(["1:1:e1"]);
  });

  test("a rewritten index replaces the old suffix", async () => {
    const dir = tempDir();
    const w = Wal.open(dir);
    w.save([entry(1), entry(2), entry(3)]);
    w.save([entry(2, 2, "new2")]);
    await w.sync();
    w.close();
    expect(texts(Wal.open(dir).replay.entries)).toEqual(["1:1:e1", "2:2:new2"]);
  });

  test("segments roll over, and released segments leave a log that starts after the snapshot", async () => {
    const dir = tempDir();
    const w = Wal.open(dir, { segmentBytes: 200 });
    for (let i = 1; i <= 30; i++) w.save([entry(i)], { term: 1, vote: 1n, commit: i });
    await w.sync();
    expect(w.segmentCount).toBeGreaterThan(3);
    w.saveSnapshot({ index: 20, term: 1 });
    const removed = w.releaseTo(20, 2);
    expect(removed).toBeGreaterThan(0);
    w.close();
    const r = Wal.open(dir).replay;
    expect(r.snapshot).toEqual({ index: 20, term: 1 });
    expect(r.entries[0].index).toBe(21);
    expect(r.entries[r.entries.length - 1].index).toBe(30);
    expect(r.hardState.commit).toBe(30);
  });

  test("damage before the last segment refuses to open, naming the file, offset and index", async () => {
    const dir = tempDir();
    const first = (await segmentedLog(dir))[0];
    const bytes = fs.readFileSync(first);
    bytes[bytes.length - 1] ^= 0xff;
    fs.writeFileSync(first, bytes);
    const err = openError(dir);
    expect(err.message).toMatch(/^walpb: crc mismatch: .* is corrupt at offset \d+, after entry index \d+; /);
    expect(err.file).toBe(first);
  });

  test("segments wholly below the snapshot the last segment opens with are not read (as etcd reads from its snapshot)", async () => {
    const dir = tempDir();
    const w = Wal.open(dir, { segmentBytes: 200 });
    for (let i = 1; i <= 20; i++) w.save([entry(i)], { term: 1, vote: 1n, commit: i });
    w.saveSnapshot({ index: 15, term: 1 });
    for (let i = 21; i <= 40; i++) w.save([entry(i)], { term: 1, vote: 1n, commit: i });
    await w.sync();
    w.close();
    const files = fs.readdirSync(dir).sort().map((f) => path.join(dir, f));
    expect(files.length).toBeGreaterThan(4);
    // Damage in the first segment (entries far below the snapshot): not read, so not refused.
    const bytes = fs.readFileSync(files[0]);
    bytes[bytes.length - 1] ^= 0xff;
    fs.writeFileSync(files[0], bytes);
    const r = Wal.open(dir).replay;
    expect(r.snapshot).toEqual({ index: 15, term: 1 });
    expect(r.entries.map((e) => e.index)).toEqual(Array.from({ length: 25 }, (_, i) => 16 + i));
    expect(r.hardState.commit).toBe(40);
    // Damage in a segment holding entries after the snapshot is still refused.
    const needed = files.at(-2)!;
    const b2 = fs.readFileSync(needed);
    b2[b2.length - 1] ^= 0xff;
    fs.writeFileSync(needed, b2);
    expect(openError(dir).file).toBe(needed);
  });

  test("a torn tail of the last segment is cut even when that segment follows others", async () => {
    const dir = tempDir();
    const last = (await segmentedLog(dir)).at(-1)!;
    fs.appendFileSync(last, HALF_RECORD);
    const r = Wal.open(dir).replay;
    expect(r.entries.map((e) => Number(e.index))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(r.truncatedBytes).toBe(HALF_RECORD.length);
  });
});

/** Entries 1..10 over several segments; returns the segment files in order. */
async function segmentedLog(dir: string): Promise<string[]> {
  const w = Wal.open(dir, { segmentBytes: 100, ...APPENDED });
  for (let i = 1; i <= 10; i++) w.save([entry(i)]);
  await w.sync();
  w.close();
  return fs.readdirSync(dir).sort().map((f) => path.join(dir, f));
}

/** Entries 1..n with 20-byte payloads: each record is 8 + 1 + 17 + 20 bytes. */
async function fixedLog(dir: string, n: number): Promise<string> {
  const w = Wal.open(dir, APPENDED);
  for (let i = 1; i <= n; i++) w.save([entry(i, 1, "x".repeat(20))]);
  await w.sync();
  w.close();
  return path.join(dir, fs.readdirSync(dir)[0]);
}
/** Where entry `i` of `fixedLog` starts: after the initial snapshot mark (8 + 1 + 16 bytes). */
const recordAt = (i: number) => 25 + (i - 1) * 46;

/** The start of a record a crash tore: a header promising more bytes than follow. */
const HALF_RECORD = Uint8Array.of(46, 0, 0, 0, 1, 2, 3, 4, 1, 9, 9);

function openError(dir: string): WalCorruption {
  try {
    Wal.open(dir);
  } catch (e) {
    if (e instanceof WalCorruption) return e;
    throw e;
  }
  throw new Error("the log opened");
}

function flip(file: string, at: number, n = 4): void {
  const bytes = fs.readFileSync(file);
  for (let i = at; i < at + n; i++) bytes[i] ^= 0xa5;
  fs.writeFileSync(file, bytes);
}

describe("wal: torn tail or corruption", () => {
  test("4 bytes flipped mid-segment refuse to open: records after them would be lost", async () => {
    const dir = tempDir();
    const file = await fixedLog(dir, 300);
    flip(file, recordAt(150) + 30);
    const before = fs.readFileSync(file);
    const err = openError(dir);
    expect(err.damage).toBe("checksum");
    expect(err.offset).toBe(recordAt(150));
    expect(err.afterIndex).toBe(149);
    expect(err.message).toContain(`walpb: crc mismatch: ${file} is corrupt at offset ${recordAt(150)}`);
    expect(err.message).toContain("etcdctl snapshot restore");
    // Nothing was cut: the operator's evidence is intact.
    expect(fs.readFileSync(file)).toEqual(before);
  });

  test("a flipped length field mid-segment is corruption, not a torn tail", async () => {
    const dir = tempDir();
    const file = await fixedLog(dir, 50);
    flip(file, recordAt(20) + 2, 1); // the length now runs past the end of the file
    const err = openError(dir);
    expect(err.damage).toBe("torn");
    expect(err.offset).toBe(recordAt(20));
    expect(err.afterIndex).toBe(19);
    expect(err.message).toMatch(/^wal: record length out of range: /);
  });

  test("a sector of zeros mid-segment in an appended log is corruption, not a torn write", async () => {
    const dir = tempDir();
    const file = await fixedLog(dir, 200);
    const bytes = fs.readFileSync(file);
    const sector = Math.ceil(recordAt(100) / 512) * 512;
    bytes.fill(0, sector, sector + 512);
    fs.writeFileSync(file, bytes);
    expect(openError(dir).afterIndex).toBeLessThan(100);
  });

  test("a flipped last record at the end of the last segment is a torn tail, cut", async () => {
    const dir = tempDir();
    const file = await fixedLog(dir, 50);
    flip(file, recordAt(50) + 30);
    const r = Wal.open(dir).replay;
    expect(r.entries.at(-1)!.index).toBe(49);
    expect(r.truncatedBytes).toBe(46);
    expect(fs.statSync(file).size).toBe(recordAt(50));
  });

  test("a half-written record after the last whole one is cut and every whole record kept", async () => {
    const dir = tempDir();
    const file = await fixedLog(dir, 50);
    fs.appendFileSync(file, HALF_RECORD);
    const r = Wal.open(dir).replay;
    expect(r.entries.length).toBe(50);
    expect(r.truncatedBytes).toBe(HALF_RECORD.length);
  });

  describe("segments written over zeros", () => {
    const SEGMENT = 256 * 1024;
    const STEP = 16 * 1024;
    const opts = { segmentBytes: SEGMENT, zeroAheadBytes: STEP };
    const big = (i: number) => entry(i, 1, `e${i}-${"x".repeat(200)}`);
    const segmentFiles = (dir: string) => fs.readdirSync(dir).filter((n) => n.endsWith(".wal")).sort();
    /** Where the records of `file` end: the zeros after them are unused space. */
    const dataEnd = (file: string) => decodeRecords(fs.readFileSync(file)).goodBytes;
    /** Entries 1..n over zeros, synced, the log closed (fixedLog's twin): its one segment file. */
    const zeroedLog = async (dir: string, n: number) => {
      const w = Wal.open(dir, opts);
      for (let i = 1; i <= n; i++) w.save([big(i)]);
      await w.sync();
      w.close();
      return path.join(dir, segmentFiles(dir)[0]);
    };
    /** Saves entries 1, 2, … one synced write each, until the log has `n` segments; the last index. */
    const saveUntilSegments = async (w: Wal, n: number) => {
      let i = 0;
      while (w.segmentCount < n) {
        w.save([big(++i)]);
        await w.sync();
      }
      return i;
    };

    test("zeros are kept written ahead of the last record, a step at a time; the log replays the same", async () => {
      const dir = tempDir();
      const w = Wal.open(dir, opts);
      const file = path.join(dir, segmentFiles(dir)[0]);
      // A brand-new log is its opening records only; its first write brings a step of zeros.
      expect(fs.statSync(file).size).toBe(dataEnd(file));
      const sizes: number[] = [];
      for (let i = 1; i <= 200; i++) {
        w.save([big(i)]);
        await w.sync();
        const ahead = fs.statSync(file).size - dataEnd(file);
        expect(ahead).toBeGreaterThanOrEqual(STEP / 4);
        expect(ahead).toBeLessThanOrEqual(STEP + STEP / 4);
        sizes.push(fs.statSync(file).size);
      }
      // Steps of STEP bytes, not a zero-filled segment: ~200 records of ~230 bytes.
      expect(new Set(sizes).size).toBeGreaterThan(2);
      expect(sizes.at(-1)!).toBeLessThan(SEGMENT);
      w.close();
      const size = fs.statSync(file).size;
      const r = Wal.open(dir, opts);
      expect(r.replay.entries.map((e) => e.index)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(r.replay.truncatedBytes).toBe(0);
      expect(fs.statSync(file).size).toBe(size);
      // Written on after a reopen, at the last record, not after the zeros.
      r.save([big(201)]);
      await r.sync();
      r.close();
      expect(Wal.open(dir).replay.entries.at(-1)!.index).toBe(201);
    });

    test("with zeroAheadBytes 0 the log appends: its file ends at its last record", async () => {
      const dir = tempDir();
      const w = Wal.open(dir, { ...opts, zeroAheadBytes: 0 });
      for (let i = 1; i <= 50; i++) w.save([big(i)]);
      await w.sync();
      w.close();
      const file = path.join(dir, segmentFiles(dir)[0]);
      expect(fs.statSync(file).size).toBe(dataEnd(file));
    });

    test("a batch larger than the zeros left is written over zeros laid and synced first", async () => {
      const dir = tempDir();
      const w = Wal.open(dir, opts);
      const file = path.join(dir, segmentFiles(dir)[0]);
      // The file operations of each save, in order: without the zeros first, a crash could
      // leave a file ending at a record with a lost page before it, which replay refuses.
      const ops: string[] = [];
      const writeSync = fs.writeSync;
      const fdatasyncSync = fs.fdatasyncSync;
      const writes = spyOn(fs, "writeSync").mockImplementation(
        ((...a: Parameters<typeof fs.writeSync>) => {
          const [, buf, off, len, at] = a as unknown as [number, Uint8Array, number, number, number];
          ops.push(
            `${buf.subarray(off, off + len).every((b) => b === 0) ? "zeros" : "records"} ${at}+${len}`,
          );
          return (writeSync as (...x: unknown[]) => number)(...a);
        }) as typeof fs.writeSync,
      );
      const syncs = spyOn(fs, "fdatasyncSync").mockImplementation((fd) => {
        ops.push("sync");
        fdatasyncSync(fd);
      });
      try {
        // The first write of a new log, then one of ~45 KiB against 16 KiB steps.
        for (const batch of [[big(1)], Array.from({ length: 200 }, (_, i) => big(i + 2))]) {
          const at = dataEnd(file);
          const size = fs.statSync(file).size;
          ops.length = 0;
          w.save(batch);
          const records = ops.findIndex((o) => o.startsWith("records"));
          const [len] = ops[records].split("+").slice(1).map(Number);
          expect(ops[records]).toBe(`records ${at}+${len}`);
          expect(ops.slice(0, records)).toEqual([expect.stringMatching(/^zeros /), "sync"]);
          const [from, n] = ops[0].slice("zeros ".length).split("+").map(Number);
          expect(from).toBe(size); // after the zeros already there, on the disk since the last sync
          expect(from + n).toBeGreaterThanOrEqual(at + len + 4096);
          await w.sync();
        }
      } finally {
        writes.mockRestore();
        syncs.mockRestore();
      }
      w.close();
      expect(Wal.open(dir).replay.entries.length).toBe(201);
    });

    test("a sector of zeros mid-segment over zeros is taken for a torn write and cut, as etcd's isTornEntry does", async () => {
      // The rule the appended layout does not get ("a sector of zeros mid-segment in an
      // appended log is corruption"): over zeros, a page of an unsynced write that never
      // reached the disk reads as zeros, and nothing tells it from a lost sector.
      const dir = tempDir();
      const file = await zeroedLog(dir, 200);
      const bytes = fs.readFileSync(file);
      const sector = Math.ceil(dataEnd(file) / 2 / 512) * 512;
      bytes.fill(0, sector, sector + 512);
      fs.writeFileSync(file, bytes);
      const r = Wal.open(dir).replay;
      expect(r.entries.length).toBeGreaterThan(50);
      expect(r.entries.length).toBeLessThan(200);
      expect(r.truncatedBytes).toBeGreaterThan(0);
    });

    test("a record torn over the zeros is cut; the zeros alone are not a torn tail", async () => {
      const dir = tempDir();
      const file = await zeroedLog(dir, 31);
      // A record header naming 100 bytes, its body never written, in the zeros after the
      // last record (its last byte may be a zero: 64 bytes further is clear of it).
      const at = fs.readFileSync(file).findLastIndex((b) => b !== 0) + 64;
      const fd = fs.openSync(file, "r+");
      fs.writeSync(fd, new Uint8Array([100, 0, 0, 0, 1, 2, 3, 4, 1]), 0, 9, at);
      fs.closeSync(fd);
      const r = Wal.open(dir).replay;
      expect(r.entries.at(-1)!.index).toBe(31);
      // What is cut is the torn write (up to its last byte), not the zeros after it.
      expect(r.truncatedBytes).toBe(at + 9 - fs.statSync(file).size);
      expect(fs.statSync(file).size).toBeLessThan(at);
    });

    test("a full segment over zeros is cut at its last record and the next one is over zeros too", async () => {
      const dir = tempDir();
      const w = Wal.open(dir, opts);
      // Three segments, the first two cut when full.
      const i = await saveUntilSegments(w, 3);
      w.close();
      const files = segmentFiles(dir).map((f) => path.join(dir, f));
      for (const full of files.slice(0, 2)) {
        const bytes = fs.readFileSync(full);
        expect(bytes.length).toBeGreaterThanOrEqual(SEGMENT);
        expect(bytes.at(-1)).not.toBe(0); // ends at its last record
      }
      expect(fs.statSync(files[2]).size).toBeGreaterThanOrEqual(dataEnd(files[2]) + STEP / 4);
      expect(Wal.open(dir).replay.entries.length).toBe(i);
    });

    test("a write over zeros whose later page reached the disk and an earlier one not is a torn tail", async () => {
      const dir = tempDir();
      const w = Wal.open(dir, opts);
      let i = await saveUntilSegments(w, 2);
      const acknowledged = i;
      const file = path.join(dir, segmentFiles(dir)[1]);
      const synced = fs.readFileSync(file);
      const end = synced.findLastIndex((b) => b !== 0) + 1;
      // A batch of 40 records (~9 KiB), written, never synced: a crash keeps its later
      // pages and loses the one it starts on (that page reads as it was: zeros after `end`).
      w.save(Array.from({ length: 40 }, () => big(++i)));
      const crashed = fs.readFileSync(file);
      w.close();
      const firstPageEnd = (Math.floor(end / 4096) + 1) * 4096;
      crashed.set(synced.subarray(end, firstPageEnd), end);
      fs.writeFileSync(file, crashed);
      const r = Wal.open(dir).replay;
      expect(r.entries.at(-1)!.index).toBeGreaterThanOrEqual(acknowledged);
      expect(r.entries.at(-1)!.index).toBeLessThan(i);
      expect(r.truncatedBytes).toBeGreaterThan(0);
    });

    test("zeros at the end of a segment the log left are corruption: entries were there", async () => {
      const dir = tempDir();
      const w = Wal.open(dir, opts);
      await saveUntilSegments(w, 2); // the first segment is left, cut at its last record
      w.close();
      const first = path.join(dir, segmentFiles(dir)[0]);
      const bytes = fs.readFileSync(first);
      // Its last records lost to zeros from a record's start: the segment reads as records,
      // then zeros to its end.
      const { goodBytes } = decodeRecords(bytes.subarray(0, bytes.length - 300));
      bytes.fill(0, goodBytes);
      fs.writeFileSync(first, bytes);
      expect(() => Wal.open(dir)).toThrow(WalCorruption);
    });

    test("spares an earlier version left are removed at open, no other file", async () => {
      const dir = tempDir();
      Wal.open(dir, opts).close();
      for (const n of ["spare-abc123.tmp", "0.tmp", "notes.tmp"]) fs.writeFileSync(path.join(dir, n), "x");
      Wal.open(dir, opts).close();
      expect(fs.readdirSync(dir).filter((n) => n.endsWith(".tmp")).sort()).toEqual(["0.tmp", "notes.tmp"]);
    });
  });
});
