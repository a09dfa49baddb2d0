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
 *
 * Several threads may write one bucket's leaves (an export's key bucket, in parts of its
 * key range): each part's writer `join`s the file and takes its pages from the same
 * `PageSpace`, a part's builder gives its leaves with `endLeaves`, and the first writer
 * makes one bucket of them all (`bucketOfLeaves`). Pages are still handed out in order, a
 * run of a write chunk at a time; a run's unused tail goes back to the space unless another
 * writer took pages after it, and is then listed in the freelist (bbolt's free pages).
 */
import * as fs from "node:fs";
import { compareBytes } from "../keys.ts";
import { PageSpace } from "./page_space.ts";
import {
  BUCKET_HEADER_BYTES,
  BUCKET_LEAF_FLAG,
  DEFAULT_PAGE_SIZE,
  ELEMENT_BYTES,
  FREELIST_COUNT_OVERFLOW,
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

/** A written node, as its parent's branch element names it: its first key and its page. */
export interface NodeRef {
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
  readonly space: PageSpace;
  readonly #fd: number;
  /** Null for a writer that joined another's file: the other writes the metas. */
  readonly #fsync: boolean | null;
  /** Pages are written a chunk at a time, from a run of as many taken from the space. */
  readonly #chunk: Uint8Array;
  /** The run the chunk fills: its first page, and how many (0: none taken yet). */
  #runFirst = 0;
  #runPages = 0;
  #chunkUsed = 0;
  /** Pages taken and left unused (another writer took pages after them): free pages. */
  readonly #holes: number[] = [];
  #finished = false;

  private constructor(fd: number, pageSize: number, space: PageSpace, fsync: boolean | null) {
    this.#fd = fd;
    this.pageSize = pageSize;
    this.space = space;
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
    return new BboltWriter(fs.openSync(path, "w", 0o600), pageSize, new PageSpace(), opts.fsync ?? true);
  }

  /**
   * A second writer of the file `create` made at `path` (in another thread), taking its
   * pages from that writer's `space`: it writes leaves (`bucket`, `endLeaves`) and `end`s.
   */
  static join(path: string, space: PageSpace, pageSize: number): BboltWriter {
    return new BboltWriter(fs.openSync(path, "r+"), pageSize, space, null);
  }

  /** Ends a joined writer: writes what it holds, closes; the pages it left unused, for `freePages`. */
  endJoined(): number[] {
    if (this.#fsync !== null) throw new Error("bbolt: end is for a joined writer; the first one finishes");
    this.#flush();
    this.close();
    return this.#holes;
  }

  /** Lists `pages`, left unused by a joined writer that has ended, in the freelist. */
  freePages(pages: readonly number[]): void {
    for (const p of pages) this.#holes.push(p);
  }

  /**
   * A bucket of the leaves written by the builders of several parts of its key range
   * (`endLeaves`), given in key order; its branch levels are written here.
   */
  bucketOfLeaves(leaves: readonly NodeRef[]): BucketValue {
    for (let i = 1; i < leaves.length; i++) {
      if (compareBytes(leaves[i - 1].key, leaves[i].key) >= 0) {
        throw new Error("bbolt: the parts' leaves must be given in strictly increasing key order");
      }
    }
    const bytes = new Uint8Array(BUCKET_HEADER_BYTES);
    const root = leaves.length === 0 ? this.writeLeaf(new PendingLeaf(0)) : this.writeBranches(leaves);
    writeBucketHeader(bytes, { root: BigInt(root), sequence: 0n });
    return { bytes };
  }

  /** A builder for a new bucket's content. */
  bucket(): BucketBuilder {
    return new BucketBuilder(this);
  }

  /**
   * Writes the root bucket holding `buckets` (any order), the freelist and both meta
   * pages, fsyncs (unless created without) and closes the file.
   */
  finish(buckets: Iterable<readonly [Uint8Array, BucketValue]>): WrittenDatabase {
    if (this.#fsync === null) throw new Error("bbolt: a joined writer ends; the first one finishes");
    const root = this.bucket();
    for (const [name, value] of [...buckets].sort((a, b) => compareBytes(a[0], b[0]))) {
      root.putBucket(name, value);
    }
    const rootPage = root.endRoot();
    this.#flush();
    const freelist = this.#writeFreelist();
    const pages = this.space.taken();
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
      this.#write(page, page.length, txid);
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
    const pages = Math.ceil(body.length / this.pageSize);
    const bytes = pages * this.pageSize;
    // Larger than a chunk: pages of its own; the chunk's run goes on (ending it here would
    // leave the rest of the run free whenever another writer had taken pages since).
    if (bytes > this.#chunk.length) return this.#writeApart(flags, count, body);
    const id = this.#claim(pages);
    writePageHeader(body, { id: BigInt(id), flags, count, overflow: pages - 1 });
    this.#chunk.set(body, this.#chunkUsed);
    this.#chunk.fill(0, this.#chunkUsed + body.length, this.#chunkUsed + bytes);
    this.#chunkUsed += bytes;
    return id;
  }

  /**
   * The first page of room for a node of `pages` (at most a chunk's) in the chunk, at
   * `#chunkUsed`: in the current run, or in a new one after the chunk is written.
   */
  #claim(pages: number): number {
    const used = this.#chunkUsed / this.pageSize;
    if (used + pages <= this.#runPages) return this.#runFirst + used;
    this.#flush();
    this.#runPages = this.#chunk.length / this.pageSize;
    this.#runFirst = this.space.take(this.#runPages);
    return this.#runFirst;
  }

  /** Writes the chunk's pages; gives back the rest of their run, or keeps it as free pages. */
  #flush(): void {
    if (this.#runPages === 0) return;
    const used = this.#chunkUsed / this.pageSize;
    if (used > 0) this.#write(this.#chunk, this.#chunkUsed, this.#runFirst);
    const rest = this.#runFirst + used;
    if (!this.space.giveBack(rest, this.#runPages - used)) {
      for (let p = rest; p < this.#runFirst + this.#runPages; p++) this.#holes.push(p);
    }
    this.#chunkUsed = 0;
    this.#runPages = 0;
  }

  /**
   * Writes the freelist (after the last flush): the free pages, sorted, on pages of their
   * own at the end of the file. A count of 0xFFFF or more goes in the first id's place.
   */
  #writeFreelist(): number {
    const ids = this.#holes.sort((a, b) => a - b);
    const counted = ids.length >= FREELIST_COUNT_OVERFLOW ? 1 : 0;
    const body = new Uint8Array(PAGE_HEADER_BYTES + (counted + ids.length) * 8);
    const v = new DataView(body.buffer);
    if (counted) v.setBigUint64(PAGE_HEADER_BYTES, BigInt(ids.length), true);
    ids.forEach((id, i) => v.setBigUint64(PAGE_HEADER_BYTES + (counted + i) * 8, BigInt(id), true));
    return this.#writeApart(PageFlag.freelist, counted ? FREELIST_COUNT_OVERFLOW : ids.length, body);
  }

  /**
   * Writes a node (as `#writeNode`) on pages of its own, taken from the space now and
   * written at once, outside the chunk and its run; returns its first page.
   */
  #writeApart(flags: number, count: number, body: Uint8Array): number {
    const pages = Math.ceil(body.length / this.pageSize);
    const id = this.space.take(pages);
    writePageHeader(body, { id: BigInt(id), flags, count, overflow: pages - 1 });
    const whole = new Uint8Array(pages * this.pageSize);
    whole.set(body);
    this.#write(whole, whole.length, id);
    return id;
  }

  /** Writes the first `bytes` of `b` at page `page`: every write of the file goes here. */
  #write(b: Uint8Array, bytes: number, page: number): void {
    if (this.#finished) throw new Error("bbolt: writer already finished");
    fs.writeSync(this.#fd, b, 0, bytes, page * this.pageSize);
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
    const id = this.#claim(bytes / this.pageSize);
    const at = this.#chunkUsed;
    layoutLeaf(this.#chunk, at, leaf);
    this.#chunk.fill(0, at + size, at + bytes);
    writePageHeader(this.#chunk, {
      id: BigInt(id),
      flags: PageFlag.leaf,
      count: leaf.count,
      overflow: bytes / this.pageSize - 1,
    }, at);
    this.#chunkUsed += bytes;
    return id;
  }

  /** Writes the branch levels over `leaves` (at least one), bottom up; the root's page. */
  writeBranches(leaves: readonly NodeRef[]): number {
    let level = leaves;
    while (level.length > 1) {
      const up: NodeRef[] = [];
      let page: NodeRef[] = [];
      let bytes = PAGE_HEADER_BYTES;
      const flush = () => {
        up.push({ key: page[0].key, pgid: this.writeBranch(page) });
        page = [];
        bytes = PAGE_HEADER_BYTES;
      };
      for (const c of level) {
        const size = ELEMENT_BYTES + c.key.length;
        if (page.length >= 2 && (bytes + size > this.pageSize || page.length === MAX_ELEMENTS)) flush();
        page.push(c);
        bytes += size;
      }
      flush();
      level = up;
    }
    return level[0].pgid;
  }

  /** Writes a branch node; returns its page (for BucketBuilder). */
  writeBranch(items: readonly NodeRef[]): number {
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
  readonly #leaves: NodeRef[] = [];
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
    return this.#w.writeBranches(this.#leaves);
  }

  /**
   * Ends a part of a bucket (see BboltWriter.bucketOfLeaves): writes its last leaf, if it
   * has one, and gives its leaves; none if nothing was put.
   */
  endLeaves(): NodeRef[] {
    if (this.#ended) throw new Error("bbolt: bucket ended twice");
    this.#ended = true;
    if (this.#leaf.count > 0) this.#flushLeaf();
    return this.#leaves;
  }
}
