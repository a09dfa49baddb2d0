/**
 * Reads a bbolt database file through a file handle, a page at a time (never the whole
 * file): the meta pages, then a bucket's pages depth-first in key order.
 *
 * Nothing read is trusted: every page is checked before use (its id, type and overflow
 * against the meta's high water mark and the file's size, each element's bytes inside the
 * page, keys strictly increasing and inside their branch's bounds, no page reached twice,
 * a bounded depth), so a truncated or damaged file gives a `BboltError` naming the page and
 * the check it failed, never a crash, a hang or a silently partial read.
 */
import * as fs from "node:fs";
import { compareBytes } from "../keys.ts";
import {
  BUCKET_HEADER_BYTES,
  BUCKET_LEAF_FLAG,
  DEFAULT_PAGE_SIZE,
  ELEMENT_BYTES,
  FREELIST_COUNT_OVERFLOW,
  MAGIC,
  type Meta,
  metaChecksum,
  NO_FREELIST,
  PAGE_HEADER_BYTES,
  PageFlag,
  readBranchElement,
  readBucketHeader,
  readLeafElement,
  readMeta,
  readPageHeader,
  VERSION,
} from "./layout.ts";

/** What is wrong with a bbolt file: which page and which check. */
export class BboltError extends Error {
  override name = "BboltError";
}

/** A bucket to read: its root page, or its inline page (root 0). */
export interface BucketRef {
  /** For messages: the bucket's name, nested names joined by "/". */
  readonly name: string;
  readonly root: bigint;
  readonly inline: Uint8Array | null;
}

/** One key of a bucket; `bucket` marks a nested bucket (its value is the bucket's header). */
export interface Entry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  readonly bucket: boolean;
}

/** bbolt trees are a handful of levels deep; deeper is a loop or garbage. */
const MAX_DEPTH = 64;

/** An open bbolt file. */
export class BboltReader {
  readonly path: string;
  readonly meta: Meta;
  readonly pageSize: number;
  readonly fileSize: number;
  readonly #fd: number;
  /** The high water mark as a number (checked to fit). */
  readonly #pages: number;

  private constructor(path: string, fd: number, meta: Meta, fileSize: number) {
    this.path = path;
    this.#fd = fd;
    this.meta = meta;
    this.pageSize = meta.pageSize;
    this.fileSize = fileSize;
    this.#pages = Number(meta.pgid);
  }

  /**
   * Opens `path` and picks its meta as bbolt does (the valid one with the higher txid);
   * reads only the first `limit` bytes when given (a snapshot's database part).
   */
  static open(path: string, opts: { limit?: number } = {}): BboltReader | BboltError {
    let fd: number;
    try {
      fd = fs.openSync(path, "r");
    } catch (e) {
      return new BboltError(`open ${path}: ${(e as Error).message}`);
    }
    try {
      const fileSize = Math.min(fs.fstatSync(fd).size, opts.limit ?? Infinity);
      const meta = chooseMeta(fd, fileSize);
      const reader = new BboltReader(path, fd, meta, fileSize);
      reader.#checkFreelist();
      return reader;
    } catch (e) {
      fs.closeSync(fd);
      if (e instanceof BboltError) return e;
      throw e;
    }
  }

  close(): void {
    fs.closeSync(this.#fd);
  }

  /** Bytes of the database as bbolt counts them (tx.Size: high water mark × page size). */
  get size(): number {
    return this.#pages * this.pageSize;
  }

  /** The root bucket, whose keys are the top-level buckets. */
  root(): BucketRef {
    return { name: "", root: this.meta.root, inline: null };
  }

  /** The nested bucket an entry holds. */
  child(parent: BucketRef, e: Entry): BucketRef | BboltError {
    const name = `${parent.name === "" ? "" : parent.name + "/"}${printable(e.key)}`;
    if (!e.bucket) return new BboltError(`bucket ${JSON.stringify(name)}: key is not a bucket`);
    if (e.value.length < BUCKET_HEADER_BYTES) {
      return new BboltError(
        `bucket ${JSON.stringify(name)}: value of ${e.value.length} bytes is no bucket header`,
      );
    }
    const h = readBucketHeader(e.value);
    if (h.root !== 0n) return { name, root: h.root, inline: null };
    const inline = e.value.subarray(BUCKET_HEADER_BYTES);
    if (inline.length < PAGE_HEADER_BYTES) {
      return new BboltError(
        `bucket ${JSON.stringify(name)}: inline page of ${inline.length} bytes has no header`,
      );
    }
    return { name, root: 0n, inline };
  }

  /** The top-level bucket `name`, null if there is none. */
  bucket(name: string | Uint8Array): BucketRef | null | BboltError {
    const want = typeof name === "string" ? new TextEncoder().encode(name) : name;
    let found: Entry | null = null;
    const err = this.forEach(this.root(), (e) => {
      if (compareBytes(e.key, want) === 0) found = e;
    });
    if (err !== null) return err;
    return found === null ? null : this.child(this.root(), found);
  }

  /** Visits every entry of top-level bucket `name` (none if it is absent); an error value if unreadable. */
  forEachIn(name: Uint8Array, visit: (e: Entry) => void): BboltError | null {
    const b = this.bucket(name);
    if (b === null || b instanceof BboltError) return b;
    return this.forEach(b, visit);
  }

  /**
   * Visits a bucket's entries in key order. The answer is null when the walk completed,
   * else what is wrong (the entries visited so far are then to be discarded).
   */
  forEach(bucket: BucketRef, visit: (e: Entry) => void): BboltError | null {
    return this.#walk(bucket, (_, e) => visit(e), false);
  }

  /**
   * Visits every entry of `bucket` and, depth-first, of the buckets nested in it, each with
   * the names of the buckets it lies in (a nested bucket's own entry comes before its
   * content). No page is read twice, so a damaged bucket reference cannot loop.
   */
  walk(bucket: BucketRef, visit: (path: readonly Uint8Array[], e: Entry) => void): BboltError | null {
    return this.#walk(bucket, visit, true);
  }

  #walk(
    bucket: BucketRef,
    visit: (path: readonly Uint8Array[], e: Entry) => void,
    nested: boolean,
  ): BboltError | null {
    try {
      new Walk(this, visit, nested).bucket(bucket, [], 0);
      return null;
    } catch (e) {
      if (e instanceof BboltError) return e;
      throw e;
    }
  }

  /**
   * Reads page `id` with its overflow pages, checked against the file and the meta; throws
   * BboltError (for the walks, which turn it into their answer, and for tests).
   */
  page(id: bigint, bucket: string): Uint8Array {
    const where = `page ${id}${bucket === "" ? "" : ` (bucket ${JSON.stringify(bucket)})`}`;
    if (id < 2n || id >= this.meta.pgid) {
      throw new BboltError(`${where}: id outside the data pages 2..${this.meta.pgid - 1n}`);
    }
    const at = Number(id) * this.pageSize;
    const first = this.#read(at, this.pageSize, where);
    const h = readPageHeader(first);
    if (h.id !== id) throw new BboltError(`${where}: header says page ${h.id}`);
    if (h.overflow === 0) return first;
    if (Number(id) + h.overflow + 1 > this.#pages) {
      throw new BboltError(
        `${where}: ${h.overflow} overflow pages run past the high water mark ${this.#pages}`,
      );
    }
    return this.#read(at, (h.overflow + 1) * this.pageSize, where);
  }

  #read(at: number, n: number, where: string): Uint8Array {
    if (at + n > this.fileSize) {
      throw new BboltError(
        `${where}: bytes ${at}..${at + n} are past the end of the file (${this.fileSize} bytes): truncated`,
      );
    }
    const buf = new Uint8Array(n);
    const got = fs.readSync(this.#fd, buf, 0, n, at);
    if (got !== n) throw new BboltError(`${where}: short read (${got} of ${n} bytes)`);
    return buf;
  }

  /** The freelist page must be one, and list only data pages. */
  #checkFreelist(): void {
    const id = this.meta.freelist;
    if (id === NO_FREELIST) return;
    const p = this.page(id, "");
    const h = readPageHeader(p);
    if ((h.flags & PageFlag.freelist) === 0) {
      throw new BboltError(`page ${id}: the meta's freelist page has type flags 0x${h.flags.toString(16)}`);
    }
    const v = new DataView(p.buffer);
    let first = PAGE_HEADER_BYTES;
    let count = h.count;
    if (count === FREELIST_COUNT_OVERFLOW) {
      count = Number(v.getBigUint64(first, true));
      first += 8;
    }
    if (first + count * 8 > p.length) {
      throw new BboltError(`page ${id}: freelist of ${count} ids runs past its ${p.length} bytes`);
    }
    for (let i = 0; i < count; i++) {
      const free = v.getBigUint64(first + i * 8, true);
      if (free < 2n || free >= this.meta.pgid) {
        throw new BboltError(`page ${id}: freelist names page ${free}, outside the data pages`);
      }
    }
  }
}

/** One depth-first walk: the pages seen so far, shared by the nested buckets it enters. */
class Walk {
  readonly #r: BboltReader;
  readonly #visit: (path: readonly Uint8Array[], e: Entry) => void;
  readonly #nested: boolean;
  readonly #seen = new Set<bigint>();

  constructor(r: BboltReader, visit: (path: readonly Uint8Array[], e: Entry) => void, nested: boolean) {
    this.#r = r;
    this.#visit = visit;
    this.#nested = nested;
  }

  /** Visits one bucket at nesting `depth` (levels of pages and buckets together). */
  bucket(ref: BucketRef, path: readonly Uint8Array[], depth: number): void {
    const b = new BucketWalk(ref, path);
    if (ref.inline !== null) this.#leaf(b, ref.inline, "inline page", depth, null, null);
    else this.#node(b, ref.root, depth, null, null);
  }

  /** Visits the subtree at page `id`; its keys must lie in [low, high). */
  #node(b: BucketWalk, id: bigint, depth: number, low: Uint8Array | null, high: Uint8Array | null): void {
    const where = `page ${id}`;
    if (depth > MAX_DEPTH) b.fail(where, `nested deeper than ${MAX_DEPTH} levels`);
    if (this.#seen.has(id)) b.fail(where, "reached twice (multiple references)");
    this.#seen.add(id);
    const p = this.#r.page(id, b.ref.name);
    const h = readPageHeader(p);
    if (h.flags === PageFlag.leaf) return this.#leaf(b, p, where, depth, low, high);
    if (h.flags !== PageFlag.branch) {
      b.fail(where, `type flags 0x${h.flags.toString(16)} where a branch or leaf page belongs`);
    }
    if (h.count === 0) b.fail(where, "branch page without elements");
    elementsFit(b, p, h.count, where);
    const keys: Uint8Array[] = [];
    const children: bigint[] = [];
    let next = PAGE_HEADER_BYTES + h.count * ELEMENT_BYTES;
    for (let i = 0; i < h.count; i++) {
      const e = readBranchElement(p, 0, i);
      keys.push(elementBytes(b, p, next, e.keyAt, e.keyBytes, where, `branch element ${i} key`));
      next += e.keyBytes;
      children.push(e.child);
      if (i > 0 && compareBytes(keys[i - 1], keys[i]) >= 0) {
        b.fail(where, `branch element ${i} key is not above the one before`);
      }
    }
    if (low !== null && compareBytes(keys[0], low) < 0) {
      b.fail(where, "first branch key is below its parent's key for it");
    }
    for (let i = 0; i < h.count; i++) {
      this.#node(b, children[i], depth + 1, keys[i], i + 1 < h.count ? keys[i + 1] : high);
    }
  }

  /** Visits a leaf page (of a bucket's tree, or an inline bucket's page). */
  #leaf(
    b: BucketWalk,
    p: Uint8Array,
    where: string,
    depth: number,
    low: Uint8Array | null,
    high: Uint8Array | null,
  ): void {
    const h = readPageHeader(p);
    if (h.flags !== PageFlag.leaf) b.fail(where, `type flags 0x${h.flags.toString(16)} on a leaf page`);
    elementsFit(b, p, h.count, where);
    let next = PAGE_HEADER_BYTES + h.count * ELEMENT_BYTES;
    for (let i = 0; i < h.count; i++) {
      const e = readLeafElement(p, 0, i);
      if ((e.flags & ~BUCKET_LEAF_FLAG) !== 0) {
        b.fail(where, `leaf element ${i} has unknown flags ${e.flags}`);
      }
      const key = elementBytes(b, p, next, e.keyAt, e.keyBytes + e.valueBytes, where, `leaf element ${i}`)
        .subarray(0, e.keyBytes);
      next += e.keyBytes + e.valueBytes;
      if (key.length === 0) b.fail(where, `leaf element ${i} has an empty key`);
      if (b.last !== null && compareBytes(b.last, key) >= 0) {
        b.fail(where, `leaf element ${i} key is not above the key before it`);
      }
      if ((low !== null && compareBytes(key, low) < 0) || (high !== null && compareBytes(key, high) >= 0)) {
        b.fail(where, `leaf element ${i} key lies outside its branch's key range`);
      }
      b.last = key;
      const entry = {
        key,
        value: p.subarray(e.keyAt + e.keyBytes, e.keyAt + e.keyBytes + e.valueBytes),
        bucket: (e.flags & BUCKET_LEAF_FLAG) !== 0,
      };
      this.#visit(b.path, entry);
      if (!this.#nested || !entry.bucket) continue;
      const child = this.#r.child(b.ref, entry);
      if (child instanceof BboltError) throw child;
      this.bucket(child, [...b.path, key], depth + 1);
    }
  }
}

/** The state of walking one bucket: its keys must strictly increase. */
class BucketWalk {
  last: Uint8Array | null = null;
  constructor(readonly ref: BucketRef, readonly path: readonly Uint8Array[]) {}

  fail(where: string, what: string): never {
    const b = this.ref.name === "" ? "" : ` (bucket ${JSON.stringify(this.ref.name)})`;
    throw new BboltError(`${where}${b}: ${what}`);
  }
}

function elementsFit(b: BucketWalk, p: Uint8Array, count: number, where: string): void {
  if (PAGE_HEADER_BYTES + count * ELEMENT_BYTES > p.length) {
    b.fail(where, `${count} elements do not fit in ${p.length} bytes`);
  }
}

/**
 * An element's key (and value) bytes. bbolt lays them out back to back after the elements,
 * in element order, so each must start at `expected`: a damaged count, offset or size
 * shows here instead of shifting what later elements read.
 */
function elementBytes(
  b: BucketWalk,
  p: Uint8Array,
  expected: number,
  at: number,
  n: number,
  where: string,
  what: string,
): Uint8Array {
  if (at !== expected) b.fail(where, `${what} starts at byte ${at}, not at ${expected} after the one before`);
  if (at + n > p.length) b.fail(where, `${what} at ${at}..${at + n} runs past the page's ${p.length} bytes`);
  return p.subarray(at, at + n);
}

/** Reads both metas and picks one as bbolt's Open does; throws BboltError if neither is valid. */
function chooseMeta(fd: number, fileSize: number): Meta {
  const problems: string[] = [];
  const read = (at: number): Uint8Array | null => {
    if (at + PAGE_HEADER_BYTES + 64 > fileSize) return null;
    const b = new Uint8Array(PAGE_HEADER_BYTES + 64);
    return fs.readSync(fd, b, 0, b.length, at) === b.length ? b : null;
  };
  const m0 = read(0);
  const first = m0 === null ? null : validMeta(m0, 0, fileSize, problems);
  // As bbolt: the page size comes from meta 0, or is assumed when meta 0 is unreadable.
  const pageSize = first?.pageSize ?? DEFAULT_PAGE_SIZE;
  if (m0 === null) problems.push(`meta page 0: the file has only ${fileSize} bytes`);
  const m1 = read(pageSize);
  const second = m1 === null ? null : validMeta(m1, 1, fileSize, problems);
  if (m1 === null) problems.push(`meta page 1: the file has only ${fileSize} bytes`);
  const metas = [first, second].filter((m): m is Meta => m !== null && m.pageSize === pageSize);
  if (metas.length === 0) throw new BboltError(`invalid database: ${problems.join("; ")}`);
  return metas.reduce((a, b) => (b.txid > a.txid ? b : a));
}

function validMeta(b: Uint8Array, n: number, fileSize: number, problems: string[]): Meta | null {
  const m = readMeta(b);
  const bad = (what: string) => {
    problems.push(`meta page ${n}: ${what}`);
    return null;
  };
  if (m.magic !== MAGIC) return bad(`magic 0x${m.magic.toString(16)} is not bbolt's 0x${MAGIC.toString(16)}`);
  if (m.version !== VERSION) return bad(`version ${m.version}, not ${VERSION}`);
  if (m.checksum !== 0n && m.checksum !== metaChecksum(b)) return bad("checksum mismatch");
  if (m.pageSize < 512 || m.pageSize > 1 << 16 || (m.pageSize & (m.pageSize - 1)) !== 0) {
    return bad(`page size ${m.pageSize} is not a power of two in 512..65536`);
  }
  if (m.pgid < 3n || m.pgid * BigInt(m.pageSize) > BigInt(fileSize)) {
    return bad(
      `high water mark ${m.pgid} pages of ${m.pageSize} bytes does not fit the file's ${fileSize} bytes: truncated`,
    );
  }
  if (m.root < 2n || m.root >= m.pgid) return bad(`root page ${m.root} outside the data pages`);
  if (m.freelist !== NO_FREELIST && (m.freelist < 2n || m.freelist >= m.pgid)) {
    return bad(`freelist page ${m.freelist} outside the data pages`);
  }
  return m;
}

/** A key for a message: text when it is printable ASCII, else hex. */
function printable(key: Uint8Array): string {
  return key.every((c) => c >= 0x20 && c < 0x7f)
    ? new TextDecoder().decode(key)
    : `0x${Buffer.from(key).toString("hex")}`;
}
