import { afterEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type LogEntry, Wal } from "../../wal/wal.ts";

const dirs: string[] = [];
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "etcdts-wal-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function entry(index: number, term = 1, text = `e${index}`): LogEntry {
  return { index: BigInt(index), term: BigInt(term), type: 0, data: new TextEncoder().encode(text) };
}

function texts(entries: readonly LogEntry[]): string[] {
  return entries.map((e) => `${e.index}:${e.term}:${new TextDecoder().decode(e.data)}`);
}

describe("wal", () => {
  test("replays saved entries, hard state and metadata after reopen", async () => {
    const dir = tempDir();
    const w = Wal.open(dir, { meta: { memberId: 7n, clusterId: 9n } });
    w.save([entry(1), entry(2), entry(3)], { term: 1n, vote: 7n, commit: 3n });
    await w.sync();
    w.close();
    const r = Wal.open(dir).replay;
    expect(r.meta).toEqual({ memberId: 7n, clusterId: 9n });
    expect(r.hardState).toEqual({ term: 1n, vote: 7n, commit: 3n });
    expect(texts(r.entries)).toEqual(["1:1:e1", "2:1:e2", "3:1:e3"]);
    expect(r.truncatedBytes).toBe(0);
  });

  test("a torn last record is cut, never applied, and the log stays appendable", async () => {
    const dir = tempDir();
    const w = Wal.open(dir);
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
    const w = Wal.open(dir);
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
    for (let i = 1; i <= 30; i++) w.save([entry(i)], { term: 1n, vote: 1n, commit: BigInt(i) });
    await w.sync();
    expect(w.segmentCount).toBeGreaterThan(3);
    w.saveSnapshot({ index: 20n, term: 1n });
    const removed = w.releaseTo(20n, 2);
    expect(removed).toBeGreaterThan(0);
    w.close();
    const r = Wal.open(dir).replay;
    expect(r.snapshot).toEqual({ index: 20n, term: 1n });
    expect(r.entries[0].index).toBe(21n);
    expect(r.entries[r.entries.length - 1].index).toBe(30n);
    expect(r.hardState.commit).toBe(30n);
  });

  test("damage before the last segment refuses to open", async () => {
    const dir = tempDir();
    const w = Wal.open(dir, { segmentBytes: 100 });
    for (let i = 1; i <= 10; i++) w.save([entry(i)]);
    await w.sync();
    w.close();
    const first = path.join(dir, fs.readdirSync(dir).sort()[0]);
    const bytes = fs.readFileSync(first);
    bytes[bytes.length - 1] ^= 0xff;
    fs.writeFileSync(first, bytes);
    expect(() => Wal.open(dir)).toThrow(/damaged/);
  });
});
