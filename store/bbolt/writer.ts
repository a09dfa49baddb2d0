/**
 * Writes a bbolt database file from sorted key/value streams, one bucket at a time, page by
 * page: a bucket's leaves go to the file as they fill, so memory holds one leaf per open
 * bucket plus the first key of each written page (the branch levels, built when the bucket
 * ends). Pages are allocated in file order with nothing freed, so the file is exactly the
 * pages in use, the freelist is empty, and bbolt's `tx.Check()` finds every page reachable.
 *
 * Usage: `bucket()` gives a builder; `put` (and `putBucket` for a nested one) in strictly
 * increasing key order; `end()` gives the bucket's value for its parent; `finish` writes
 * the root bucket holding the top-level buckets, the freelist and the two meta pages.
 */
import * as fs from "node:fs";
import { compareBytes } from "../keys.ts";
import {
  BUCKET_HEADER_BYTES,
  BUCKET_LEAF_FLAG,
  DEFAULT_PAGE_SIZE,
  ELEMENT_BYTES,
  INLINE_PAGE_RATIO,
  MAGIC,
  PAGE_HEADER_BYTES,
  PageFlag,
  VERSION,
  writeBranchElement,
  writeBucketHeader,
  writeLeafElement,
  writeMeta,
  writePageHeader,
} from "./layout.ts";

/** A finished bucket as its parent stores it: the bytes of its value (header, maybe an inline page). */
export interface BucketValue {
  readonly bytes: Uint8Array;
}

/** What `finish` wrote. */
export interface WrittenDatabase {
  /** Pages in the file (bbolt's high water mark). */
  readonly pages: number;
  /** The file's size: pages × page size. */
  readonly bytes: number;
}

interface BranchItem {
  readonly key: Uint8Array;
  readonly pgid: number;
}

/** Writes go out in chunks of this many bytes (whole pages), not a syscall per page. */
const CHUNK_BYTES = 1 << 20;
/** A page's element count is a u16. */
const MAX_ELEMENTS = 0xffff;

/** A bbolt file being written. */
export class BboltWriter {
  readonly pageSize: number;
  readonly #fd: number;
  /** The next page to allocate; pages 0 and 1 are the metas, written last. */
  #nextPage = 2;
  readonly #chunk: Uint8Array;
  #chunkFirstPage = 2;
  #chunkUsed = 0;
  #finished = false;
  readonly #fsync: boolean;

  private constructor(fd: number, pageSize: number, fsync: boolean) {
    this.#fd = fd;
    this.pageSize = pageSize;
    this.#fsync = fsync;
    this.#chunk = new Uint8Array(Math.max(CHUNK_BYTES - CHUNK_BYTES % pageSize, pageSize));
  }

  /**
   * Creates (truncating) the file at `path`. `fsync: false` for a file read once and
   * removed (a snapshot being sent): `finish` then leaves it to the page cache.
   */
  static create(path: string, opts: { pageSize?: number; fsync?: boolean } = {}): BboltWriter {
    const pageSize = opts.pageSize ?? DEFAULT_PAGE_SIZE;
    if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) {
      throw new Error(`bbolt: page size ${pageSize} is not a power of two of at least 512`);
    }
    return new BboltWriter(fs.openSync(path, "w", 0o600), pageSize, opts.fsync ?? true);
  }

  /** A builder for a new bucket's content. */
  bucket(): BucketBuilder {
    return new BucketBuilder(this);
  }

  /**
   * Writes the root bucket holding `buckets` (any order), an empty freelist and both meta
   * pages, fsyncs (unless created without) and closes the file.
   */
  finish(buckets: Iterable<readonly [Uint8Array, BucketValue]>): WrittenDatabase {
    const root = this.bucket();
    for (const [name, value] of [...buckets].sort((a, b) => compareBytes(a[0], b[0]))) {
      root.putBucket(name, value);
    }
    const rootPage = root.endRoot();
    const freelist = this.#writeNode(PageFlag.freelist, 0, new Uint8Array(PAGE_HEADER_BYTES));
    this.#flush();
    const pages = this.#nextPage;
    // Two metas as a fresh bbolt file has them (txids 0 and 1): readers take the newer.
    for (const txid of [0, 1]) {
      const page = new Uint8Array(this.pageSize);
      writePageHeader(page, { id: BigInt(txid), flags: PageFlag.meta, count: 0, overflow: 0 });
      writeMeta(page, {
        magic: MAGIC,
        version: VERSION,
        pageSize: this.pageSize,
        flags: 0,
        root: BigInt(rootPage),
        sequence: 0n,
        freelist: BigInt(freelist),
        pgid: BigInt(pages),
        txid: BigInt(txid),
      });
      fs.writeSync(this.#fd, page, 0, page.length, txid * this.pageSize);
    }
    if (this.#fsync) fs.fsyncSync(this.#fd);
    this.close();
    return { pages, bytes: pages * this.pageSize };
  }

  /** Closes the file (after `finish`, or to give up; the caller removes a partial file). */
  close(): void {
    if (this.#finished) return;
    this.#finished = true;
    fs.closeSync(this.#fd);
  }

  /**
   * Writes one node of `flags` with `count` elements, laid out in `body` from offset 0 (its
   * header is filled in here), on as many pages as it needs; returns its first page.
   */
  #writeNode(flags: number, count: number, body: Uint8Array): number {
    if (this.#finished) throw new Error("bbolt: writer already finished");
    const pages = Math.ceil(body.length / this.pageSize);
    const bytes = pages * this.pageSize;
    if (this.#chunkUsed + bytes > this.#chunk.length) this.#flush();
    const id = this.#nextPage;
    writePageHeader(body, { id: BigInt(id), flags, count, overflow: pages - 1 });
    this.#nextPage += pages;
    if (bytes > this.#chunk.length) {
      const whole = new Uint8Array(bytes);
      whole.set(body);
      fs.writeSync(this.#fd, whole, 0, bytes, id * this.pageSize);
      this.#chunkFirstPage = this.#nextPage;
      return id;
    }
    this.#chunk.set(body, this.#chunkUsed);
    this.#chunk.fill(0, this.#chunkUsed + body.length, this.#chunkUsed + bytes);
    this.#chunkUsed += bytes;
    return id;
  }

  #flush(): void {
    if (this.#chunkUsed > 0) {
      fs.writeSync(this.#fd, this.#chunk, 0, this.#chunkUsed, this.#chunkFirstPage * this.pageSize);
    }
    this.#chunkUsed = 0;
    this.#chunkFirstPage = this.#nextPage;
  }

  /**
   * Writes a leaf node; returns its page (for BucketBuilder). Laid out in place in the
   * write chunk when it fits: a fresh array per page, filled and then copied into the chunk,
   * was most of an export's page building (300k keys: 0.34-0.59 s, in place 0.12-0.16 s).
   */
  writeLeaf(leaf: PendingLeaf): number {
    const size = leaf.size();
    const bytes = Math.ceil(size / this.pageSize) * this.pageSize;
    if (bytes > this.#chunk.length) return this.#writeNode(PageFlag.leaf, leaf.count, leafBody(leaf));
    if (this.#chunkUsed + bytes > this.#chunk.length) this.#flush();
    const at = this.#chunkUsed;
    layoutLeaf(this.#chunk, at, leaf);
    this.#chunk.fill(0, at + size, at + bytes);
    const id = this.#nextPage;
    writePageHeader(this.#chunk, {
      id: BigInt(id),
      flags: PageFlag.leaf,
      count: leaf.count,
      overflow: bytes / this.pageSize - 1,
    }, at);
    this.#nextPage += bytes / this.pageSize;
    this.#chunkUsed += bytes;
    return id;
  }

  /** Writes a branch node; returns its page (for BucketBuilder). */
  writeBranch(items: readonly BranchItem[]): number {
    let size = PAGE_HEADER_BYTES + items.length * ELEMENT_BYTES;
    for (const it of items) size += it.key.length;
    const body = new Uint8Array(size);
    let at = PAGE_HEADER_BYTES + items.length * ELEMENT_BYTES;
    items.forEach((it, i) => {
      writeBranchElement(body, i, { keyAt: at, keyBytes: it.key.length, child: BigInt(it.pgid) });
      body.set(it.key, at);
      at += it.key.length;
    });
    return this.#writeNode(PageFlag.branch, items.length, body);
  }
}

/**
 * The leaf a bucket is filling: its elements' keys and values one after the other in
 * `data`, as a leaf page holds them after its element headers, and each element's flags
 * and sizes. Bytes are copied in as they are put, or written in place (`putWritten`), so
 * laying the leaf out is one copy and a caller makes no array per element.
 */
class PendingLeaf {
  data: Uint8Array;
  /** Bytes of `data` in use. */
  used = 0;
  count = 0;
  readonly flags: number[] = [];
  readonly keyBytes: number[] = [];
  readonly valueBytes: number[] = [];
  /** Where each element's key starts in `data`. */
  readonly starts: number[] = [];

  constructor(capacity: number) {
    this.data = new Uint8Array(capacity);
  }

  /** Adds an element of these sizes; where its key goes in `data` (its value follows). */
  add(flags: number, keyBytes: number, valueBytes: number): number {
    const at = this.used;
    const need = at + keyBytes + valueBytes;
    if (need > this.data.length) {
      const bigger = new Uint8Array(Math.max(need, this.data.length * 2));
      bigger.set(this.data.subarray(0, at));
      this.data = bigger;
    }
    const i = this.count++;
    this.flags[i] = flags;
    this.keyBytes[i] = keyBytes;
    this.valueBytes[i] = valueBytes;
    this.starts[i] = at;
    this.used = need;
    return at;
  }

  /** Element `i`'s key, copied. */
  key(i: number): Uint8Array {
    return this.data.slice(this.starts[i], this.starts[i] + this.keyBytes[i]);
  }

  /** The node's size in bytes, its header included. */
  size(): number {
    return PAGE_HEADER_BYTES + this.count * ELEMENT_BYTES + this.used;
  }

  clear(): void {
    this.count = 0;
    this.used = 0;
  }
}

/** A leaf node's bytes in an array of their own (header left for the caller). */
function leafBody(leaf: PendingLeaf): Uint8Array {
  const body = new Uint8Array(leaf.size());
  layoutLeaf(body, 0, leaf);
  return body;
}

/** Lays out a leaf node's elements, then its keys and values, at `base` of `b` (header left). */
function layoutLeaf(b: Uint8Array, base: number, leaf: PendingLeaf): void {
  const dataAt = base + PAGE_HEADER_BYTES + leaf.count * ELEMENT_BYTES;
  for (let i = 0; i < leaf.count; i++) {
    writeLeafElement(b, i, {
      flags: leaf.flags[i],
      keyAt: dataAt + leaf.starts[i] - base,
      keyBytes: leaf.keyBytes[i],
      valueBytes: leaf.valueBytes[i],
    }, base);
  }
  b.set(leaf.data.subarray(0, leaf.used), dataAt);
}

/** Compares `a[aAt, aAt + aLen)` with `b[bAt, bAt + bLen)` as bytes, in place. */
function compareRanges(
  a: Uint8Array,
  aAt: number,
  aLen: number,
  b: Uint8Array,
  bAt: number,
  bLen: number,
): number {
  const n = Math.min(aLen, bLen);
  for (let i = 0; i < n; i++) {
    const d = a[aAt + i] - b[bAt + i];
    if (d !== 0) return d;
  }
  return aLen - bLen;
}

/** One bucket's content being written; keys must strictly increase. */
export class BucketBuilder {
  readonly #w: BboltWriter;
  readonly #leaf: PendingLeaf;
  /** The written leaves: each one's first key and page. */
  readonly #leaves: BranchItem[] = [];
  /** The last key of the written leaves (the order check of the next leaf's first). */
  #lastWritten: Uint8Array | null = null;
  #hasBuckets = false;
  #ended = false;

  constructor(w: BboltWriter) {
    this.#w = w;
    this.#leaf = new PendingLeaf(2 * w.pageSize);
  }

  /** Adds a key and its value (both copied). */
  put(key: Uint8Array, value: Uint8Array): void {
    const at = this.#add(0, key.length, value.length);
    const data = this.#leaf.data;
    data.set(key, at);
    data.set(value, at + key.length);
    this.#checkOrder();
  }

  /**
   * Adds a key of `keyBytes` and a value of `valueBytes` that `write` writes in place:
   * into `buf` from `at`, the key then the value. For a caller that encodes them anyway
   * (an export's revisions), without an array of their own.
   */
  putWritten(keyBytes: number, valueBytes: number, write: (buf: Uint8Array, at: number) => void): void {
    const at = this.#add(0, keyBytes, valueBytes);
    write(this.#leaf.data, at);
    this.#checkOrder();
  }

  /** Adds a nested bucket under `key`. */
  putBucket(key: Uint8Array, bucket: BucketValue): void {
    this.#hasBuckets = true;
    const at = this.#add(BUCKET_LEAF_FLAG, key.length, bucket.bytes.length);
    const data = this.#leaf.data;
    data.set(key, at);
    data.set(bucket.bytes, at + key.length);
    this.#checkOrder();
  }

  #add(flags: number, keyBytes: number, valueBytes: number): number {
    if (this.#ended) throw new Error("bbolt: put after the bucket ended");
    if (keyBytes === 0) throw new Error("bbolt: empty key");
    const leaf = this.#leaf;
    const size = ELEMENT_BYTES + keyBytes + valueBytes;
    if (leaf.count > 0 && (leaf.size() + size > this.#w.pageSize || leaf.count === MAX_ELEMENTS)) {
      this.#flushLeaf();
    }
    return leaf.add(flags, keyBytes, valueBytes);
  }

  /** Checks the key just added comes after the one before it. */
  #checkOrder(): void {
    const leaf = this.#leaf;
    const i = leaf.count - 1;
    const last = this.#lastWritten;
    const order = i > 0
      ? compareRanges(
        leaf.data,
        leaf.starts[i - 1],
        leaf.keyBytes[i - 1],
        leaf.data,
        leaf.starts[i],
        leaf.keyBytes[i],
      )
      : last === null
      ? -1
      : compareRanges(last, 0, last.length, leaf.data, leaf.starts[i], leaf.keyBytes[i]);
    if (order >= 0) throw new Error("bbolt: keys must be put in strictly increasing order");
  }

  #flushLeaf(): void {
    const leaf = this.#leaf;
    const key = leaf.count > 0 ? leaf.key(0) : new Uint8Array(0);
    if (leaf.count > 0) this.#lastWritten = leaf.key(leaf.count - 1);
    this.#leaves.push({ key, pgid: this.#w.writeLeaf(leaf) });
    leaf.clear();
  }

  /**
   * Ends the bucket: small enough, it is stored inline in its parent's value, as bbolt
   * stores small buckets; otherwise its branch levels are written and its value names the
   * root page.
   */
  end(): BucketValue {
    const leaf = this.#leaf;
    if (
      !this.#ended && this.#leaves.length === 0 && !this.#hasBuckets &&
      leaf.size() <= this.#w.pageSize / INLINE_PAGE_RATIO
    ) {
      this.#ended = true;
      const bytes = new Uint8Array(BUCKET_HEADER_BYTES + leaf.size());
      writeBucketHeader(bytes, { root: 0n, sequence: 0n });
      const page = leafBody(leaf);
      writePageHeader(page, { id: 0n, flags: PageFlag.leaf, count: leaf.count, overflow: 0 });
      bytes.set(page, BUCKET_HEADER_BYTES);
      return { bytes };
    }
    const bytes = new Uint8Array(BUCKET_HEADER_BYTES);
    writeBucketHeader(bytes, { root: BigInt(this.endRoot()), sequence: 0n });
    return { bytes };
  }

  /** Ends the bucket on pages of its own (never inline, as the root bucket must be); its root page. */
  endRoot(): number {
    if (this.#ended) throw new Error("bbolt: bucket ended twice");
    this.#ended = true;
    if (this.#leaf.count > 0 || this.#leaves.length === 0) this.#flushLeaf();
    let level = this.#leaves;
    while (level.length > 1) level = this.#branchLevel(level);
    return level[0].pgid;
  }

  /** Writes the branch pages over `children`; returns the level above. */
  #branchLevel(children: readonly BranchItem[]): BranchItem[] {
    const up: BranchItem[] = [];
    let page: BranchItem[] = [];
    let bytes = PAGE_HEADER_BYTES;
    const flush = () => {
      up.push({ key: page[0].key, pgid: this.#w.writeBranch(page) });
      page = [];
      bytes = PAGE_HEADER_BYTES;
    };
    for (const c of children) {
      const size = ELEMENT_BYTES + c.key.length;
      if (page.length >= 2 && (bytes + size > this.#w.pageSize || page.length === MAX_ELEMENTS)) flush();
      page.push(c);
      bytes += size;
    }
    flush();
    return up;
  }
}
