/**
 * The write-ahead log: an append-only, checksummed, segmented file log of Raft entries,
 * hard states and snapshot marks. Nothing that depends on a record is sent or
 * acknowledged before `sync()` has made it durable; many records share one fsync.
 *
 * On open, every segment is replayed. A damaged last record at the end of the last
 * segment (a write torn by a crash, never acknowledged) is cut off and never applied.
 * Any other damage (a bad record with a whole one after it, or in an earlier segment)
 * would lose acknowledged records if cut: it is corruption, and the log refuses to open.
 *
 * The log is written over zeros. Appending past a file's end makes every fdatasync also
 * commit the file's new size to the file system's journal; overwriting blocks that exist
 * does not (this machine's ext4: fdatasync after a 4 KiB append 0.21 ms, after an
 * overwrite 0.11 ms; etcd preallocates with fallocate, whose unwritten extents cost as
 * much as appending, 0.21 ms). So the segment in use always has zeros written ahead of its
 * last record, a step at a time (`zeroAheadBytes`, 1 MiB): as the log writes, before its
 * fsync, so that fsync makes them durable with the records, and a log writes as many zeros
 * as it writes records, however short it stays. A step costs its write (~0.3 ms) and a
 * slower next fsync (~1 ms) once per MiB of records. Zeros after the last record are
 * unused space, as in etcd's preallocated segments, not a torn tail.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fsyncDir } from "../lib/fsync_dir.ts";
import {
  type Damage,
  decodeRecords,
  type Entry,
  type HardState,
  RecordType,
  RecordWriter,
  type SnapshotMark,
  type WalMetadata,
  type WalRecord,
} from "./record.ts";

export type { Entry, HardState, SnapshotMark, WalMetadata } from "./record.ts";

/** What a WAL held when it was opened. */
export interface WalReplay {
  readonly meta: WalMetadata | null;
  readonly hardState: HardState;
  /** The newest snapshot mark: entries at or below it are gone from the log. */
  readonly snapshot: SnapshotMark;
  /** Entries after the snapshot, in index order, conflicts already resolved. */
  readonly entries: Entry[];
  /** Bytes cut off the last segment's torn tail (0 when the last shutdown was clean). */
  readonly truncatedBytes: number;
}

export interface WalOptions {
  /** Start a new segment after this many bytes (etcd: 64 MB). */
  readonly segmentBytes?: number;
  /**
   * Zeros written ahead of the last record at a time, once fewer than a quarter of this
   * are left (default 1 MiB; 0: the log appends, as tests of that layout want).
   */
  readonly zeroAheadBytes?: number;
  /** Written as the first record of a brand-new log and of every segment. */
  readonly meta?: WalMetadata;
}

interface Segment {
  readonly seq: bigint;
  readonly firstIndex: number;
  readonly file: string;
}

/** Zeros a covering write leaves after the records, at least (a page). */
const MIN_ZERO_TAIL = 4096;

const SEGMENT_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;
/**
 * Spare segments of earlier versions (`spare-<id>.tmp`, zeros prepared in the background
 * for the next segment): one left by a stop while it was being written may be incomplete,
 * and none is used now, so open removes them.
 */
const SPARE_RE = /^spare-[0-9a-z]+\.tmp$/;

function segmentName(seq: bigint, firstIndex: number): string {
  return `${seq.toString(16).padStart(16, "0")}-${firstIndex.toString(16).padStart(16, "0")}.wal`;
}

function listSegments(dir: string): Segment[] {
  const out: Segment[] = [];
  for (const name of fs.readdirSync(dir)) {
    const m = SEGMENT_RE.exec(name);
    if (m === null) continue;
    out.push({ seq: BigInt("0x" + m[1]), firstIndex: Number.parseInt(m[2], 16), file: path.join(dir, name) });
  }
  return out.sort((a, b) => (a.seq < b.seq ? -1 : 1));
}

/** Writes all of `bytes` at `at` (a write may take fewer bytes than it is given). */
function writeAll(fd: number, bytes: Uint8Array, at: number): void {
  for (let off = 0; off < bytes.length;) off += fs.writeSync(fd, bytes, off, bytes.length - off, at + off);
}

/**
 * etcd's wording for each kind of damage: a record whose checksum fails is what etcd 3.4
 * reports as walpb.ErrCRCMismatch when it refuses to start.
 */
const DAMAGE_ERROR: Record<Damage, string> = {
  checksum: "walpb: crc mismatch",
  torn: "wal: record length out of range",
  "unknown-type": "wal: unknown record type",
};

/** Damage that is not a torn tail: the log lost records it may have acknowledged. */
export class WalCorruption extends Error {
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly damage: Damage,
    /** The last entry index read before the damage. */
    readonly afterIndex: number,
  ) {
    super(
      `${DAMAGE_ERROR[damage]}: ${file} is corrupt at offset ${offset}, after entry index ${afterIndex}; ` +
        `this is not a torn write, so the log cannot be repaired without losing acknowledged entries. ` +
        `Restore the member from a snapshot (etcdctl snapshot restore), or remove it from the cluster ` +
        `(etcdctl member remove) and add it back with an empty data dir`,
    );
    this.name = "WalCorruption";
  }
}

const ZERO_STATE: HardState = { term: 0, vote: 0n, commit: 0 };

/**
 * The first segment whose records replay needs. Every segment opens with the metadata, the
 * snapshot mark and the hard state current when it was cut, so the last segment's opening
 * mark covers every segment whose entries all lie at or below it (the segments
 * `releaseTo` may delete, kept only for --max-wals): those are neither read nor checked,
 * as etcd reads its log only from the snapshot on. At 1M keys that was most of a restart's
 * log replay (320 MB of CRCs for entries the store already holds).
 */
function firstNeeded(segments: readonly Segment[], lastRecords: readonly WalRecord[]): number {
  const opening = lastRecords.find((r) => r.type === RecordType.Snapshot);
  if (opening === undefined || opening.type !== RecordType.Snapshot) return 0;
  let first = 0;
  // Segment i holds entries below segment i+1's first index (a rewrite lowers that index,
  // and then the rewritten entries in later segments supersede the old ones).
  while (first < segments.length - 1 && segments[first + 1].firstIndex - 1 <= opening.snapshot.index) first++;
  return first;
}

/**
 * The moving average of fsync durations after one more of `ms`: it follows each fsync a
 * quarter of the way, so one slow fsync shows at once and a slow disk is not forgotten after
 * one fast fsync. `Infinity` stands for no fsync yet.
 */
export function recentSyncAverage(average: number, ms: number): number {
  return average === Infinity ? ms : average + (ms - average) / 4;
}

/** A WAL directory opened for appending. */
export class Wal {
  readonly dir: string;
  readonly replay: WalReplay;
  readonly #segmentBytes: number;
  #meta: WalMetadata | null;
  #segments: Segment[];
  #fd: number;
  #size: number;
  #lastIndex: number;
  #hardState: HardState;
  #snapshot: SnapshotMark;
  readonly #writer = new RecordWriter();
  /**
   * The segment in use holds zeros written up to here, past the last record; at or below
   * #size when there are none (an appended segment: one an older version wrote, or one
   * written while zeros could not be).
   */
  #zeroedTo: number;
  readonly #zeroAheadBytes: number;
  /** Zeros could not be written ahead in this segment (a full disk): not tried again until the next. */
  #zeroAheadFailed = false;
  #dirty = false;
  #syncing: Promise<void> | null = null;
  /** Recent fsync duration in ms, a moving average (Infinity before the first fsync). */
  #recentSyncMs = Infinity;
  /** Told each fsync's duration in seconds (etcd_disk_wal_fsync_duration_seconds). */
  observeSync: ((seconds: number) => void) | undefined;

  private constructor(dir: string, replay: WalReplay, segments: Segment[], size: number, opts: WalOptions) {
    this.dir = dir;
    this.replay = replay;
    this.#segmentBytes = opts.segmentBytes ?? 64 * 1024 * 1024;
    this.#meta = replay.meta ?? opts.meta ?? null;
    this.#segments = segments;
    const last = segments[segments.length - 1];
    this.#fd = fs.openSync(last.file, "r+");
    this.#size = size;
    this.#zeroedTo = fs.fstatSync(this.#fd).size;
    this.#zeroAheadBytes = opts.zeroAheadBytes ?? 1 << 20;
    const entries = replay.entries;
    this.#lastIndex = entries.length > 0 ? entries[entries.length - 1].index : replay.snapshot.index;
    this.#hardState = replay.hardState;
    this.#snapshot = replay.snapshot;
  }

  /** Whether `dir` holds a log already (a member that has started before). */
  static exists(dir: string): boolean {
    return fs.existsSync(dir) && listSegments(dir).length > 0;
  }

  /** Opens (creating if needed) the WAL in `dir` and replays it. Throws on unrecoverable damage. */
  static open(dir: string, opts: WalOptions = {}): Wal {
    fs.mkdirSync(dir, { recursive: true });
    for (const name of fs.readdirSync(dir)) {
      if (SPARE_RE.test(name)) fs.rmSync(path.join(dir, name), { force: true });
    }
    let segments = listSegments(dir);
    if (segments.length === 0) {
      const first: Segment = { seq: 0n, firstIndex: 0, file: path.join(dir, segmentName(0n, 0)) };
      const w = new RecordWriter();
      if (opts.meta) w.metadata(opts.meta);
      w.snapshot({ index: 0, term: 0 });
      const fd = fs.openSync(first.file, "w");
      fs.writeSync(fd, w.bytes());
      fs.fdatasyncSync(fd);
      fs.closeSync(fd);
      fsyncDir(dir);
      segments = [first];
    }
    let meta: WalMetadata | null = null;
    let hardState = ZERO_STATE;
    let snapshot: SnapshotMark = { index: 0, term: 0 };
    let entries: Entry[] = [];
    let truncatedBytes = 0;
    let lastSize = 0;
    const lastBytes = fs.readFileSync(segments[segments.length - 1].file);
    const lastDecoded = decodeRecords(lastBytes);
    for (let i = firstNeeded(segments, lastDecoded.records); i < segments.length; i++) {
      const seg = segments[i];
      const isLast = i === segments.length - 1;
      const bytes = isLast ? lastBytes : fs.readFileSync(seg.file);
      const { records, goodBytes, damage, resumesAt, zeroSector, dataEnd } = isLast
        ? lastDecoded
        : decodeRecords(bytes);
      for (const r of records) {
        switch (r.type) {
          case RecordType.Metadata:
            if (meta !== null && (meta.memberId !== r.meta.memberId || meta.clusterId !== r.meta.clusterId)) {
              throw new Error(`wal: segment ${seg.file} belongs to another member or cluster`);
            }
            meta = r.meta;
            break;
          case RecordType.HardState:
            hardState = r.state;
            break;
          case RecordType.Snapshot:
            if (r.snapshot.index >= snapshot.index) {
              snapshot = r.snapshot;
              entries = entries.filter((e) => e.index > snapshot.index);
            }
            break;
          case RecordType.Entry: {
            const e = r.entry;
            if (e.index <= snapshot.index) break;
            // A rewritten index replaces the old suffix (a follower's log conflict was resolved).
            if (entries.length > 0 && e.index <= entries[entries.length - 1].index) {
              const keep = e.index - entries[0].index;
              entries.length = Math.max(0, keep);
            }
            // The first entry may follow an older mark than the one covering it: segments
            // before it were released after a later snapshot, which is checked at the end.
            const expect = entries.length > 0 ? entries[entries.length - 1].index + 1 : e.index;
            if (e.index !== expect) {
              throw new Error(
                `wal: entry index ${e.index} follows ${expect - 1} in ${seg.file}; log has a gap`,
              );
            }
            entries.push(e);
            break;
          }
        }
      }
      // Only the last segment may end in zeros or in a torn write: a segment the log left
      // was cut at its last record, so zeros there lost records. A sector of zeros before
      // a whole record is a torn write only in a segment written over zeros (zeros after
      // its data): an appended one shows a write only once all of it is on the disk.
      const torn = isLast && (resumesAt === null || (zeroSector && dataEnd < bytes.length));
      if ((damage !== null && !torn) || (!isLast && goodBytes < bytes.length)) {
        const afterIndex = entries.length > 0 ? entries[entries.length - 1].index : snapshot.index;
        throw new WalCorruption(seg.file, goodBytes, damage ?? "torn", afterIndex);
      }
      if (isLast) {
        lastSize = goodBytes;
        if (damage !== null) {
          // The bytes of the torn write, not the zeros after it.
          truncatedBytes = dataEnd - goodBytes;
          fs.truncateSync(seg.file, goodBytes);
          const fd = fs.openSync(seg.file, "r+");
          fs.fdatasyncSync(fd);
          fs.closeSync(fd);
        }
      }
    }
    entries = entries.filter((e) => e.index > snapshot.index);
    if (entries.length > 0 && entries[0].index !== snapshot.index + 1) {
      throw new Error(
        `wal: log starts at ${entries[0].index} but the snapshot ends at ${snapshot.index}; log has a gap`,
      );
    }
    return new Wal(dir, { meta, hardState, snapshot, entries, truncatedBytes }, segments, lastSize, opts);
  }

  get lastIndex(): number {
    return this.#lastIndex;
  }

  get hardState(): HardState {
    return this.#hardState;
  }

  /** Sets member and cluster IDs once they are known (a brand-new member). */
  setMetadata(meta: WalMetadata): void {
    this.#meta = meta;
    this.#writer.metadata(meta);
    this.#flushWriter();
  }

  /**
   * Writes entries and (optionally) a hard state to the OS; not yet durable.
   * Entries must continue the log or overwrite a suffix of it.
   */
  save(entries: readonly Entry[], hardState?: HardState): void {
    const w = this.#writer;
    for (const e of entries) {
      if (e.index > this.#lastIndex + 1) {
        throw new Error(`wal: entry ${e.index} leaves a gap after ${this.#lastIndex}`);
      }
      w.entry(e);
      this.#lastIndex = e.index;
    }
    if (hardState !== undefined) {
      w.hardState(hardState);
      this.#hardState = hardState;
    }
    this.#flushWriter();
    if (this.#size >= this.#segmentBytes) this.#cut();
    else this.#zeroAhead();
  }

  /**
   * Writes the next `zeroAheadBytes` of zeros past the last record (up to the segment's
   * size) once fewer than a quarter of them are left. Not synced here: the log's next fsync
   * makes them durable with the records before them, before any later write lands on them.
   */
  #zeroAhead(): void {
    const from = Math.max(this.#zeroedTo, this.#size);
    if (from - this.#size >= this.#zeroAheadBytes / 4 || from >= this.#segmentBytes) return;
    this.#writeZeros(from, Math.min(from + this.#zeroAheadBytes, this.#segmentBytes));
  }

  /**
   * Makes sure records about to be written up to `end` land on zeros that are on the disk,
   * with zeros after them: a write that extended the file, or overwrote zeros whose own
   * write may not have reached the disk, could after a crash leave a file that ends at a
   * record with a lost page before it, which replay must take for corruption (the zero-
   * sector rule holds only with zeros after the data). Only a batch larger than the zeros
   * left (or a segment's first write) pays this fsync.
   */
  #coverWith(end: number): void {
    if (end < this.#zeroedTo) return;
    const from = Math.max(this.#zeroedTo, this.#size);
    const to = Math.max(end + MIN_ZERO_TAIL, Math.min(end + this.#zeroAheadBytes, this.#segmentBytes));
    if (this.#writeZeros(from, to)) fs.fdatasyncSync(this.#fd);
  }

  /**
   * Writes zeros over [from, to); whether it could. A failed write (a full disk) stops
   * zeros for this segment, which is then appended to until it is cut; zeros it got that
   * far are unused space.
   */
  #writeZeros(from: number, to: number): boolean {
    if (this.#zeroAheadBytes === 0 || this.#zeroAheadFailed) return false;
    try {
      writeAll(this.#fd, new Uint8Array(to - from), from);
      this.#zeroedTo = to;
      this.#dirty = true;
      return true;
    } catch {
      this.#zeroAheadFailed = true;
      this.#zeroedTo = Math.max(this.#size, fs.fstatSync(this.#fd).size);
      return false;
    }
  }

  /** Records that everything up to `mark` now lives in a snapshot of the store. */
  saveSnapshot(mark: SnapshotMark): void {
    this.#writer.snapshot(mark);
    this.#snapshot = mark;
    if (mark.index > this.#lastIndex) this.#lastIndex = mark.index;
    this.#flushWriter();
  }

  #flushWriter(): void {
    const bytes = this.#writer.bytes();
    if (bytes.length === 0) return;
    this.#coverWith(this.#size + bytes.length);
    writeAll(this.#fd, bytes, this.#size);
    this.#size += bytes.length;
    this.#writer.reset();
    this.#dirty = true;
  }

  /** Makes everything saved so far durable. Concurrent callers share one fsync when they can. */
  sync(): Promise<void> {
    if (!this.#dirty) return this.#syncing ?? Promise.resolve();
    this.#dirty = false;
    const fd = this.#fd;
    const prior = this.#syncing ?? Promise.resolve();
    const p = prior.then(() =>
      new Promise<void>((resolve, reject) => {
        const started = performance.now();
        fs.fdatasync(fd, (err) => {
          this.#synced(started);
          return err ? reject(err) : resolve();
        });
      })
    );
    this.#syncing = p;
    p.finally(() => {
      if (this.#syncing === p) this.#syncing = null;
    });
    return p;
  }

  /**
   * Blocking fsync: for shutdown and segment cuts, and for a lone proposal, which a
   * blocking call answers sooner than a round trip through the thread pool.
   */
  syncNow(): void {
    const started = performance.now();
    fs.fdatasyncSync(this.#fd);
    this.#synced(started);
    this.#dirty = false;
  }

  /** How long this disk's fsyncs take lately, in ms (recentSyncAverage). */
  get recentSyncMs(): number {
    return this.#recentSyncMs;
  }

  #synced(started: number): void {
    const ms = performance.now() - started;
    this.#recentSyncMs = recentSyncAverage(this.#recentSyncMs, ms);
    this.observeSync?.(ms / 1000);
  }

  #cut(): void {
    this.syncNow();
    // A segment is closed at its last record: zeros left after it go.
    if (this.#zeroedTo > this.#size) {
      fs.ftruncateSync(this.#fd, this.#size);
      fs.fdatasyncSync(this.#fd);
    }
    fs.closeSync(this.#fd);
    const last = this.#segments[this.#segments.length - 1];
    const seg: Segment = {
      seq: last.seq + 1n,
      firstIndex: this.#lastIndex + 1,
      file: path.join(this.dir, segmentName(last.seq + 1n, this.#lastIndex + 1)),
    };
    this.#fd = fs.openSync(seg.file, "w+");
    this.#zeroedTo = 0;
    this.#zeroAheadFailed = false;
    this.#size = 0;
    this.#segments.push(seg);
    if (this.#meta) this.#writer.metadata(this.#meta);
    this.#writer.snapshot(this.#snapshot);
    this.#writer.hardState(this.#hardState);
    this.#flushWriter();
    this.syncNow();
    fsyncDir(this.dir);
  }

  /**
   * Deletes whole segments whose entries all lie at or below `index` (already in a
   * snapshot), keeping at least `keep` segments, like etcd's --max-wals.
   */
  releaseTo(index: number, keep: number): number {
    let removed = 0;
    while (this.#segments.length > Math.max(1, keep)) {
      const next = this.#segments[1];
      if (next.firstIndex - 1 > index) break;
      fs.rmSync(this.#segments[0].file);
      this.#segments.shift();
      removed++;
    }
    if (removed > 0) fsyncDir(this.dir);
    return removed;
  }

  get segmentCount(): number {
    return this.#segments.length;
  }

  close(): void {
    if (this.#dirty) this.syncNow();
    fs.closeSync(this.#fd);
  }
}
