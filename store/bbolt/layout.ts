/**
 * bbolt's on-disk format (go.etcd.io/bbolt 1.3: page.go, db.go, bucket.go), the one place
 * that knows its byte offsets; the reader and the writer both speak through it.
 *
 * A file is a sequence of fixed-size pages. Every page starts with a 16-byte header
 * (id u64, flags u16, count u16, overflow u32, little-endian: the layout of Go's struct on
 * the amd64/arm64 machines etcd runs on). Pages 0 and 1 are the two meta pages; a node
 * larger than one page takes `overflow` more contiguous pages. Leaf and branch pages hold
 * `count` 16-byte elements after the header, each pointing (`pos`, relative to the
 * element itself) at its key and value bytes further on in the page.
 */

/** The meta's magic number. */
export const MAGIC = 0xed0cdaed;
/** The data file format version. */
export const VERSION = 2;
/** Bytes of the page header. */
export const PAGE_HEADER_BYTES = 16;
/** Bytes of a leaf or branch element (both are 16). */
export const ELEMENT_BYTES = 16;
/** Bytes of a bucket's header (root pgid u64, sequence u64) at the start of its value. */
export const BUCKET_HEADER_BYTES = 16;
/** Bytes of the meta struct after the page header. */
export const META_BYTES = 64;
/** The meta's checksum covers its bytes up to the checksum field. */
const META_CHECKSUM_OFFSET = 56;
/** etcd and bbolt default to the OS page size: 4096 on the platforms etcd ships for. */
export const DEFAULT_PAGE_SIZE = 4096;
/** The meta's freelist pgid when no freelist is stored (bbolt's NoFreelistSync). */
export const NO_FREELIST = 0xffff_ffff_ffff_ffffn;
/** A bucket whose serialized size is at most pageSize / this is stored inline in its parent. */
export const INLINE_PAGE_RATIO = 4;

/** Page type flags. */
export const PageFlag = { branch: 0x01, leaf: 0x02, meta: 0x04, freelist: 0x10 } as const;
/** A leaf element's flag marking its value as a nested bucket. */
export const BUCKET_LEAF_FLAG = 0x01;

/** A page header. */
export interface PageHeader {
  readonly id: bigint;
  readonly flags: number;
  readonly count: number;
  readonly overflow: number;
}

/** The meta struct. */
export interface Meta {
  readonly magic: number;
  readonly version: number;
  readonly pageSize: number;
  readonly flags: number;
  /** The root bucket's root page. */
  readonly root: bigint;
  readonly sequence: bigint;
  readonly freelist: bigint;
  /** The high water mark: pages in use, so the database is `pgid * pageSize` bytes. */
  readonly pgid: bigint;
  readonly txid: bigint;
  readonly checksum: bigint;
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

export function readPageHeader(b: Uint8Array, at = 0): PageHeader {
  const v = view(b);
  return {
    id: v.getBigUint64(at, true),
    flags: v.getUint16(at + 8, true),
    count: v.getUint16(at + 10, true),
    overflow: v.getUint32(at + 12, true),
  };
}

export function writePageHeader(b: Uint8Array, h: PageHeader, at = 0): void {
  const v = view(b);
  v.setBigUint64(at, h.id, true);
  v.setUint16(at + 8, h.flags, true);
  v.setUint16(at + 10, h.count, true);
  v.setUint32(at + 12, h.overflow, true);
}

/** A leaf element: its flags and where its key and value are, as offsets into the page. */
export interface LeafElement {
  readonly flags: number;
  readonly keyAt: number;
  readonly keyBytes: number;
  readonly valueBytes: number;
}

/** The `i`th leaf element of the page starting at `page` in `b`. */
export function readLeafElement(b: Uint8Array, page: number, i: number): LeafElement {
  const at = page + PAGE_HEADER_BYTES + i * ELEMENT_BYTES;
  const v = view(b);
  return {
    flags: v.getUint32(at, true),
    keyAt: at + v.getUint32(at + 4, true),
    keyBytes: v.getUint32(at + 8, true),
    valueBytes: v.getUint32(at + 12, true),
  };
}

/** Writes leaf element `i` of the page at offset `page` of `b`, its key at page offset `keyAt`. */
export function writeLeafElement(b: Uint8Array, i: number, e: LeafElement, page = 0): void {
  // Byte by byte rather than through a DataView: this runs once per key of a snapshot, and
  // a view over a fresh array makes JSC materialize its ArrayBuffer (measured: a third of
  // an export's time went to that).
  const at = page + PAGE_HEADER_BYTES + i * ELEMENT_BYTES;
  setUint32LE(b, at, e.flags);
  setUint32LE(b, at + 4, page + e.keyAt - at);
  setUint32LE(b, at + 8, e.keyBytes);
  setUint32LE(b, at + 12, e.valueBytes);
}

function setUint32LE(b: Uint8Array, at: number, v: number): void {
  b[at] = v;
  b[at + 1] = v >>> 8;
  b[at + 2] = v >>> 16;
  b[at + 3] = v >>> 24;
}

/** A branch element: where its key is (an offset into the page) and the child page. */
export interface BranchElement {
  readonly keyAt: number;
  readonly keyBytes: number;
  readonly child: bigint;
}

export function readBranchElement(b: Uint8Array, page: number, i: number): BranchElement {
  const at = page + PAGE_HEADER_BYTES + i * ELEMENT_BYTES;
  const v = view(b);
  return {
    keyAt: at + v.getUint32(at, true),
    keyBytes: v.getUint32(at + 4, true),
    child: v.getBigUint64(at + 8, true),
  };
}

export function writeBranchElement(b: Uint8Array, i: number, e: BranchElement): void {
  const at = PAGE_HEADER_BYTES + i * ELEMENT_BYTES;
  const v = view(b);
  v.setUint32(at, e.keyAt - at, true);
  v.setUint32(at + 4, e.keyBytes, true);
  v.setBigUint64(at + 8, e.child, true);
}

/** A bucket's header: its root page (0 for an inline bucket) and its sequence. */
export interface BucketHeader {
  readonly root: bigint;
  readonly sequence: bigint;
}

export function readBucketHeader(b: Uint8Array): BucketHeader {
  const v = view(b);
  return { root: v.getBigUint64(0, true), sequence: v.getBigUint64(8, true) };
}

export function writeBucketHeader(b: Uint8Array, h: BucketHeader): void {
  const v = view(b);
  v.setBigUint64(0, h.root, true);
  v.setBigUint64(8, h.sequence, true);
}

/** Reads the meta struct that follows the page header at offset 0 of `b`. */
export function readMeta(b: Uint8Array): Meta {
  const v = view(b);
  const at = PAGE_HEADER_BYTES;
  return {
    magic: v.getUint32(at, true),
    version: v.getUint32(at + 4, true),
    pageSize: v.getUint32(at + 8, true),
    flags: v.getUint32(at + 12, true),
    root: v.getBigUint64(at + 16, true),
    sequence: v.getBigUint64(at + 24, true),
    freelist: v.getBigUint64(at + 32, true),
    pgid: v.getBigUint64(at + 40, true),
    txid: v.getBigUint64(at + 48, true),
    checksum: v.getBigUint64(at + META_CHECKSUM_OFFSET, true),
  };
}

/** Writes `m` (its checksum computed here) after the page header at offset 0 of `b`. */
export function writeMeta(b: Uint8Array, m: Omit<Meta, "checksum">): void {
  const v = view(b);
  const at = PAGE_HEADER_BYTES;
  v.setUint32(at, m.magic, true);
  v.setUint32(at + 4, m.version, true);
  v.setUint32(at + 8, m.pageSize, true);
  v.setUint32(at + 12, m.flags, true);
  v.setBigUint64(at + 16, m.root, true);
  v.setBigUint64(at + 24, m.sequence, true);
  v.setBigUint64(at + 32, m.freelist, true);
  v.setBigUint64(at + 40, m.pgid, true);
  v.setBigUint64(at + 48, m.txid, true);
  v.setBigUint64(at + META_CHECKSUM_OFFSET, metaChecksum(b), true);
}

/** The meta checksum as bbolt computes it: FNV-64a over the meta's bytes before the checksum. */
export function metaChecksum(page: Uint8Array): bigint {
  return fnv64a(page.subarray(PAGE_HEADER_BYTES, PAGE_HEADER_BYTES + META_CHECKSUM_OFFSET));
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;

/** FNV-1a, 64-bit (Go's hash/fnv New64a). */
export function fnv64a(data: Uint8Array): bigint {
  let h = FNV_OFFSET;
  for (const byte of data) h = BigInt.asUintN(64, (h ^ BigInt(byte)) * FNV_PRIME);
  return h;
}

/** A freelist page's ids: `count` holds them unless it is 0xFFFF, then the first u64 does. */
export const FREELIST_COUNT_OVERFLOW = 0xffff;
