/**
 * The bbolt writer and reader: what the writer writes reads back the same (inline, empty,
 * nested, multi-level and overflowing buckets, other page sizes), the real etcdctl's bbolt
 * (with its tx.Check) accepts it and computes the same status, and damaged files give a
 * BboltError naming the page and the check, never another exception, a hang or a read that
 * silently differs in more than the one entry a flipped byte can change.
 */
import { afterAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { SeededRandom } from "../../raft/rand.ts";
import { BboltError, BboltReader } from "../../store/bbolt/reader.ts";
import { BboltWriter, type BucketValue, type NodeRef } from "../../store/bbolt/writer.ts";
import { PageSpace } from "../../store/bbolt/page_space.ts";
import { PAGE_HEADER_BYTES, readPageHeader } from "../../store/bbolt/layout.ts";
import { etcdBackendStatus } from "../../store/etcd_status.ts";
import { cleanup, ETCDCTL_BIN, haveRealEtcd, run, tempDir } from "../harness.ts";
import { dumpBbolt } from "./dump.ts";

afterAll(cleanup);

const enc = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** A bucket's content as the test describes it: values, or nested buckets. */
interface Content {
  [key: string]: Uint8Array | Content;
}

/** Writes `buckets` (keys are text) with the writer; nested objects are nested buckets. */
function write(file: string, buckets: Record<string, Content>, pageSize?: number): void {
  const w = BboltWriter.create(file, { pageSize });
  const build = (c: Content): BucketValue => {
    const b = w.bucket();
    for (const k of Object.keys(c).sort((x, y) => Buffer.compare(enc(x), enc(y)))) {
      const v = c[k];
      if (v instanceof Uint8Array) b.put(enc(k), v);
      else b.putBucket(enc(k), build(v));
    }
    return b.end();
  };
  w.finish(Object.entries(buckets).map(([name, c]) => [enc(name), build(c)]));
}

/** What `write` was given, in the order `dumpBbolt` lists it. */
function expected(buckets: Record<string, Content>): [string, string][] {
  const out: [string, string][] = [];
  const walk = (c: Content, prefix: string[]) => {
    for (const k of Object.keys(c).sort((x, y) => Buffer.compare(enc(x), enc(y)))) {
      const v = c[k];
      const p = [...prefix, hex(enc(k))];
      out.push([p.join("/"), v instanceof Uint8Array ? hex(v) : "bucket"]);
      if (!(v instanceof Uint8Array)) walk(v, p);
    }
  };
  walk(buckets as Content, []);
  return out;
}

/** Seeded content: inline, empty, deep (long keys: several branch levels), overflowing and nested buckets. */
function sample(rng: SeededRandom, scale = 1): Record<string, Content> {
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => rng.int(256));
  const deep: Content = {};
  for (let i = 0; i < 120 * scale; i++) {
    deep[`k${String(i).padStart(4, "0")}${"x".repeat(500)}`] = bytes(rng.int(40));
  }
  const big: Content = {};
  for (let i = 0; i < 50 * scale; i++) big[`v${i}`] = bytes(rng.int(300));
  big.huge = bytes(6000);
  if (scale > 1) big.giant = bytes(3 << 20); // larger than the writer's 1 MiB chunk
  return {
    small: { a: enc("1"), b: enc("") },
    empty: {},
    deep,
    big,
    nested: { inner: { x: enc("y") }, more: { ...big }, plain: enc("p") },
  };
}

describe("bbolt round trip", () => {
  const dir = tempDir("etcdts-bbolt-");

  test("what the writer writes, the reader reads back", () => {
    const buckets = sample(new SeededRandom(7), 2);
    const file = path.join(dir, "rt.db");
    write(file, buckets);
    expect(dumpBbolt(file)).toEqual(expected(buckets));
    // Several branch levels under `deep`: its root is a branch over branches.
    const r = BboltReader.open(file) as BboltReader;
    const deep = r.bucket("deep");
    expect(deep).not.toBeNull();
    const root = r.page((deep as { root: bigint }).root, "deep");
    expect(readPageHeader(root).flags).toBe(1);
    const firstChild = new DataView(root.buffer).getBigUint64(PAGE_HEADER_BYTES + 8, true);
    expect(readPageHeader(r.page(firstChild, "deep")).flags).toBe(1);
    // Small buckets are inline, as bbolt stores them.
    expect((r.bucket("small") as { inline: Uint8Array | null }).inline).not.toBeNull();
    expect(r.size).toBe(fs.statSync(file).size);
    r.close();
  });

  test("putWritten writes what put writes; keys out of order are refused, within a leaf and across", () => {
    const rng = new SeededRandom(11);
    const entries: [Uint8Array, Uint8Array][] = [];
    for (let i = 0; i < 400; i++) {
      entries.push([
        enc(`k${String(i).padStart(5, "0")}`),
        Uint8Array.from({ length: rng.int(900) }, () => rng.int(256)),
      ]);
    }
    entries.push([enc("z-huge"), new Uint8Array(9000).fill(7)]); // a leaf on overflow pages
    const files = ["put", "written"].map((how) => {
      const file = path.join(dir, `${how}.db`);
      const w = BboltWriter.create(file);
      const b = w.bucket();
      for (const [k, v] of entries) {
        if (how === "put") b.put(k, v);
        else {
          b.putWritten(k.length, v.length, (buf, at) => {
            buf.set(k, at);
            buf.set(v, at + k.length);
          });
        }
      }
      w.finish([[enc("b"), b.end()]]);
      return fs.readFileSync(file);
    });
    expect(files[1].equals(files[0])).toBe(true);

    const w = BboltWriter.create(path.join(dir, "order.db"));
    const b = w.bucket();
    b.put(enc("b"), enc("1"));
    expect(() => b.put(enc("a"), enc("1"))).toThrow("strictly increasing");
    const c = w.bucket();
    c.put(enc("m"), new Uint8Array(4000)); // fills a leaf: the next key starts another
    expect(() => c.put(enc("m"), new Uint8Array(4000))).toThrow("strictly increasing");
    w.close();
  });

  test("a bucket written in parts by two writers of one file: their pages interleave, unused ones are free", async () => {
    const rng = new SeededRandom(12);
    const file = path.join(dir, "parts.db");
    const w = BboltWriter.create(file);
    const joined = BboltWriter.join(file, new PageSpace(w.space.buffer), w.pageSize);
    const entries: [Uint8Array, Uint8Array][] = [];
    const leaves: NodeRef[][] = [];
    // 40 parts, taken by the two writers in turn; each takes a 1 MiB run at a time, so a
    // run left partly used below the other's is kept as free pages. Values over 1 MiB
    // (nodes on pages of their own) do not end a writer's run.
    for (let part = 0; part < 40; part++) {
      const b = (part % 3 === 0 ? joined : w).bucket();
      for (let i = 0; i < 1 + rng.int(300); i++) {
        const e: [Uint8Array, Uint8Array] = [
          enc(`p${String(part).padStart(2, "0")}-${String(i).padStart(4, "0")}`),
          Uint8Array.from({ length: rng.int(part % 5 === 2 && i === 0 ? 2 << 20 : 700) }, () => rng.int(256)),
        ];
        b.put(...e);
        entries.push(e);
      }
      leaves.push(b.endLeaves());
    }
    w.freePages(joined.endJoined());
    expect(() => w.bucketOfLeaves([...leaves[1], ...leaves[0]])).toThrow("strictly increasing");
    w.finish([[enc("parts"), w.bucketOfLeaves(leaves.flat())], [enc("small"), w.bucket().end()]]);
    expect(dumpBbolt(file)).toEqual([
      ["7061727473", "bucket"],
      ...entries.map(([k, v]): [string, string] => [`7061727473/${hex(k)}`, hex(v)]),
      ["736d616c6c", "bucket"],
    ]);
    const r = BboltReader.open(file) as BboltReader;
    // Free: the unused end of one writer's last run at most (a run is 256 pages of 4 KiB),
    // since the writer that finishes last gives its own back.
    expect(readPageHeader(r.page(r.meta.freelist, "freelist")).count).toBeWithin(1, 256);
    expect(r.size).toBe(fs.statSync(file).size);
    const ours = etcdBackendStatus(r);
    r.close();
    expect(ours).toMatchObject({ totalKey: entries.length });
    if (!haveRealEtcd()) return;
    const status = await run([ETCDCTL_BIN, "snapshot", "status", file, "-w", "json"], {
      env: { ETCDCTL_API: "3" },
    });
    expect(status.stderr).toBe("");
    expect(JSON.parse(status.stdout)).toEqual({ ...ours, revision: 0 } as never);
  });

  test("other page sizes", () => {
    const buckets = sample(new SeededRandom(8));
    for (const pageSize of [1024, 16384, 65536]) {
      const file = path.join(dir, `ps${pageSize}.db`);
      write(file, buckets, pageSize);
      expect(dumpBbolt(file)).toEqual(expected(buckets));
    }
  });

  test.skipIf(!haveRealEtcd())(
    "the real etcdctl's bbolt accepts the file and computes the same status",
    async () => {
      const file = path.join(dir, "etcdctl.db");
      write(file, sample(new SeededRandom(9)));
      const r = await run([ETCDCTL_BIN, "snapshot", "status", file, "-w", "json"], {
        env: { ETCDCTL_API: "3" },
      });
      expect(r.stderr).toBe("");
      const reader = BboltReader.open(file) as BboltReader;
      const ours = etcdBackendStatus(reader);
      reader.close();
      expect(JSON.parse(r.stdout)).toEqual({ ...ours, revision: 0 } as never);
    },
  );
});

describe("bbolt damage", () => {
  const dir = tempDir("etcdts-bbolt-bad-");
  const buckets = sample(new SeededRandom(11));
  const good = path.join(dir, "good.db");
  write(good, buckets);
  const original = fs.readFileSync(good);
  const want = expected(buckets);
  const PAGE = 4096;

  function damaged(name: string, edit: (b: Buffer) => Buffer): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, edit(Buffer.from(original)));
    return file;
  }

  test("a truncated file names the page past the end", () => {
    for (const size of [0, 100, PAGE + 10, original.length - PAGE, original.length - 1]) {
      const got = dumpBbolt(damaged("cut.db", (b) => b.subarray(0, size)));
      expect(got).toBeInstanceOf(BboltError);
      expect((got as Error).message).toMatch(/truncated|has only \d+ bytes/);
    }
  });

  test("one damaged meta falls back to the other; both damaged is an invalid database", () => {
    expect(dumpBbolt(damaged("meta1.db", (b) => (b[PAGE + 40] ^= 1, b)))).toEqual(want);
    expect(dumpBbolt(damaged("meta0.db", (b) => (b[40] ^= 1, b)))).toEqual(want);
    const both = dumpBbolt(damaged("metas.db", (b) => (b[16] ^= 1, b[PAGE + 60] ^= 1, b)));
    expect((both as Error).message).toBe(
      "invalid database: meta page 0: magic 0xed0cdaec is not bbolt's 0xed0cdaed; meta page 1: checksum mismatch",
    );
  });

  test("a loop of pages is caught", () => {
    // Point the first child of the `deep` bucket's root branch back at the root itself.
    const r = BboltReader.open(good) as BboltReader;
    const root = (r.bucket("deep") as { root: bigint }).root;
    r.close();
    const at = Number(root) * PAGE + PAGE_HEADER_BYTES + 8;
    const got = dumpBbolt(damaged("loop.db", (b) => (b.writeBigUInt64LE(root, at), b)));
    expect((got as Error).message).toBe(`page ${root} (bucket "deep"): reached twice (multiple references)`);
  });

  test("seeded random flips and truncations: an error naming the page, or a read off by at most the flipped entry", () => {
    const rng = new SeededRandom(20261205);
    let errors = 0;
    for (let i = 0; i < 600; i++) {
      const truncate = rng.int(5) === 0;
      const pos = rng.int(original.length);
      const file = damaged("fuzz.db", (b) => {
        if (truncate) return b.subarray(0, pos);
        b[pos] ^= 1 + rng.int(255);
        return b;
      });
      const got = dumpBbolt(file);
      if (got instanceof BboltError) {
        errors++;
        expect(got.message).toMatch(/^(invalid database: meta page|page \d+|bucket ")/);
        continue;
      }
      expect(truncate).toBe(false);
      expect(got.length).toBe(want.length);
      const differ = got.filter(([k, v], j) => k !== want[j][0] || v !== want[j][1]).length;
      if (differ > 1) throw new Error(`flip at byte ${pos} changed ${differ} entries without an error`);
    }
    // Most flips land in keys and values; the structure's share still gives errors.
    expect(errors).toBeGreaterThan(100);
  });
});
