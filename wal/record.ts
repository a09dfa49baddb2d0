/**
 * The WAL's record format: `[u32 length][u32 crc32][u8 type][payload]`, little-endian.
 * `length` counts type + payload; the CRC covers the same bytes, so a torn or
 * bit-flipped record is detected on replay and never applied.
 */

import type { ConfState, Entry, HardState } from "../raft/messages.ts";

export const RecordType = {
  /** Raft entry: u64 index, u64 term, u8 entry type, data. */
  Entry: 1,
  /** Raft hard state: u64 term, u64 vote, u64 commit. */
  HardState: 2,
  /** The log before (and including) this index/term lives in a snapshot of the store. */
  Snapshot: 3,
  /** Who wrote this log: u64 member ID, u64 cluster ID. First record of every segment. */
  Metadata: 4,
} as const;
export type RecordType = typeof RecordType[keyof typeof RecordType];

/**
 * The log keeps Raft's own types, so a Ready's entries and hard state are written as they
 * are: indexes and terms are numbers (exact below 2^53), IDs bigints.
 */
export type { ConfState, Entry, HardState } from "../raft/messages.ts";

export interface SnapshotMark {
  readonly index: number;
  readonly term: number;
  /** The membership as of `index` (Raft restarts from it); absent in marks written before it existed. */
  readonly confState?: ConfState;
}

export interface WalMetadata {
  readonly memberId: bigint;
  readonly clusterId: bigint;
}

export type WalRecord =
  | { type: typeof RecordType.Entry; entry: Entry }
  | { type: typeof RecordType.HardState; state: HardState }
  | { type: typeof RecordType.Snapshot; snapshot: SnapshotMark }
  | { type: typeof RecordType.Metadata; meta: WalMetadata };

const HEADER = 8;

function crc(bytes: Uint8Array): number {
  return Bun.hash.crc32(bytes) >>> 0;
}

/** Appends encoded records to a growing byte buffer; one buffer per write batch. */
export class RecordWriter {
  #buf = new Uint8Array(64 * 1024);
  #view = new DataView(this.#buf.buffer);
  #len = 0;

  get length(): number {
    return this.#len;
  }

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  #begin(type: RecordType, payloadLen: number): number {
    this.#reserve(HEADER + 1 + payloadLen);
    const start = this.#len;
    this.#view.setUint32(start, 1 + payloadLen, true);
    this.#buf[start + HEADER] = type;
    this.#len += HEADER + 1;
    return start;
  }

  #u64(v: bigint): void {
    this.#view.setBigUint64(this.#len, v, true);
    this.#len += 8;
  }

  /** An index or term: a u64 on disk, written from a number without a bigint. */
  #n64(v: number): void {
    this.#view.setUint32(this.#len, v >>> 0, true);
    this.#view.setUint32(this.#len + 4, Math.floor(v / 0x1_0000_0000), true);
    this.#len += 8;
  }

  #end(start: number): void {
    this.#view.setUint32(start + 4, crc(this.#buf.subarray(start + HEADER, this.#len)), true);
  }

  entry(e: Entry): void {
    const s = this.#begin(RecordType.Entry, 17 + e.data.length);
    this.#n64(e.index);
    this.#n64(e.term);
    this.#buf[this.#len++] = e.type;
    this.#buf.set(e.data, this.#len);
    this.#len += e.data.length;
    this.#end(s);
  }

  hardState(h: HardState): void {
    const s = this.#begin(RecordType.HardState, 24);
    this.#n64(h.term);
    this.#u64(h.vote);
    this.#n64(h.commit);
    this.#end(s);
  }

  snapshot(m: SnapshotMark): void {
    const cs = m.confState;
    const ids = cs === undefined
      ? []
      : [BigInt(cs.voters.length), ...cs.voters, BigInt(cs.learners.length), ...cs.learners];
    const s = this.#begin(RecordType.Snapshot, 16 + 8 * ids.length);
    this.#n64(m.index);
    this.#n64(m.term);
    for (const id of ids) this.#u64(id);
    this.#end(s);
  }

  metadata(m: WalMetadata): void {
    const s = this.#begin(RecordType.Metadata, 16);
    this.#u64(m.memberId);
    this.#u64(m.clusterId);
    this.#end(s);
  }

  /** The encoded bytes so far; valid until the next write. */
  bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }

  reset(): void {
    this.#len = 0;
  }
}

/** Why a record could not be read. */
export type Damage = "torn" | "checksum" | "unknown-type";

/** Result of reading a segment: the good records, and where (if anywhere) they stop being good. */
export interface DecodeResult {
  readonly records: WalRecord[];
  /** Byte offset just past the last good record. */
  readonly goodBytes: number;
  /** Why decoding stopped before the end, if it did. */
  readonly damage: null | Damage;
  /**
   * Where the first whole, checksummed record after the damage starts, if any: a torn
   * write leaves nothing whole behind it, so a record here means the damage is corruption.
   */
  readonly resumesAt: number | null;
  /**
   * The damage up to `resumesAt` holds a whole 512-byte sector of zeros: a page of a write
   * that never reached the disk while a later one did. Written over zeros, a log's pages
   * reach the disk in no set order, so records whole after such a gap belong to the same
   * unacknowledged write (etcd's isTornEntry judges a torn entry so).
   */
  readonly zeroSector: boolean;
  /** Where the bytes after `goodBytes` stop being zeros to the end (the segment's data end). */
  readonly dataEnd: number;
}

const ZEROS = new Uint8Array(1 << 16);

const SECTOR = 512;

/** Whether `bytes[at, at + n)` are all zeros (compared natively). */
function zeros(bytes: Uint8Array, at: number, n: number): boolean {
  return Buffer.compare(bytes.subarray(at, at + n), ZEROS.subarray(0, n)) === 0;
}

/**
 * The end of `bytes` less the zeros it ends with, from `from` on (`from` if all zeros:
 * unused space, a segment written over zeros or preallocated as etcd's are, not damage).
 */
function endOfData(bytes: Uint8Array, from: number): number {
  let end = bytes.length;
  while (end > from) {
    const n = Math.min(ZEROS.length, end - from);
    if (!zeros(bytes, end - n, n)) break;
    end -= n;
  }
  while (end > from && bytes[end - 1] === 0) end--;
  return end;
}

/** Whether `bytes[from, to)` holds a whole sector-aligned 512 bytes of zeros. */
function hasZeroSector(bytes: Uint8Array, from: number, to: number): boolean {
  for (let at = Math.ceil(from / SECTOR) * SECTOR; at + SECTOR <= to; at += SECTOR) {
    if (zeros(bytes, at, SECTOR)) return true;
  }
  return false;
}

/** The size of the whole, checksummed record of a known type framed at `off`, or why there is none. */
function frameAt(bytes: Uint8Array, view: DataView, off: number): number | Damage {
  if (bytes.length - off < HEADER + 1) return "torn";
  const len = view.getUint32(off, true);
  // A zero length is what preallocated or half-written space looks like.
  if (len === 0 || off + HEADER + len > bytes.length) return "torn";
  const body = bytes.subarray(off + HEADER, off + HEADER + len);
  if (crc(body) !== view.getUint32(off + 4, true)) return "checksum";
  return body[0] >= RecordType.Entry && body[0] <= RecordType.Metadata ? HEADER + len : "unknown-type";
}

/** The first offset after `from` where a whole record starts (searching byte by byte: the damage may be in a length). */
function nextWholeRecord(bytes: Uint8Array, view: DataView, from: number): number | null {
  for (let off = from + 1; off + HEADER + 1 <= bytes.length; off++) {
    const type = bytes[off + HEADER];
    if (type < RecordType.Entry || type > RecordType.Metadata) continue; // spares most checksums
    if (typeof frameAt(bytes, view, off) === "number") return off;
  }
  return null;
}

/** Decodes records until the end of the bytes or the first damaged record. */
export function decodeRecords(bytes: Uint8Array): DecodeResult {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: WalRecord[] = [];
  let off = 0;
  while (off < bytes.length) {
    const size = frameAt(bytes, view, off);
    if (typeof size !== "number") {
      // Zeros to the end are unused space (a segment written over zeros, or preallocated
      // as etcd's are), not damage.
      const dataEnd = endOfData(bytes, off);
      if (dataEnd === off) {
        return { records, goodBytes: off, damage: null, resumesAt: null, zeroSector: false, dataEnd };
      }
      const resumesAt = nextWholeRecord(bytes, view, off);
      const zeroSector = resumesAt !== null && hasZeroSector(bytes, off, resumesAt);
      return { records, goodBytes: off, damage: size, resumesAt, zeroSector, dataEnd };
    }
    const len = size - HEADER;
    const body = bytes.subarray(off + HEADER, off + size);
    const p = off + HEADER + 1;
    const u64 = (at: number) => view.getBigUint64(p + at, true);
    const n64 = (at: number) =>
      view.getUint32(p + at, true) + view.getUint32(p + at + 4, true) * 0x1_0000_0000;
    switch (body[0]) {
      case RecordType.Entry:
        records.push({
          type: RecordType.Entry,
          entry: {
            index: n64(0),
            term: n64(8),
            type: bytes[p + 16] as Entry["type"],
            data: bytes.slice(p + 17, off + size),
          },
        });
        break;
      case RecordType.HardState:
        records.push({ type: RecordType.HardState, state: { term: n64(0), vote: u64(8), commit: n64(16) } });
        break;
      case RecordType.Snapshot: {
        if (len - 1 <= 16) {
          records.push({ type: RecordType.Snapshot, snapshot: { index: n64(0), term: n64(8) } });
          break;
        }
        const nv = Number(u64(16));
        const voters = Array.from({ length: nv }, (_, i) => u64(24 + 8 * i));
        const nl = Number(u64(24 + 8 * nv));
        const learners = Array.from({ length: nl }, (_, i) => u64(32 + 8 * nv + 8 * i));
        records.push({
          type: RecordType.Snapshot,
          snapshot: { index: n64(0), term: n64(8), confState: { voters, learners } },
        });
        break;
      }
      case RecordType.Metadata:
        records.push({ type: RecordType.Metadata, meta: { memberId: u64(0), clusterId: u64(8) } });
        break;
    }
    off += size;
  }
  return { records, goodBytes: off, damage: null, resumesAt: null, zeroSector: false, dataEnd: off };
}
