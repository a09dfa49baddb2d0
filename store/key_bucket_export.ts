/**
 * The key bucket of an etcd backend export (etcd_export.ts): every stored revision under
 * its revision key, its KeyValue as stored. A large one is written by two threads at once:
 * reading rows out of SQLite is most of an export (1M revisions: `Statement.values` 54% of
 * ~1.1 s), and the member's process waits for it with a core idle.
 *
 * The revisions are cut into parts of PART_REVISIONS main revisions, claimed one at a time
 * by this thread and a worker (export_worker.ts) from a shared count, so neither waits for
 * the other however the rows lie; each part is a run of whole leaves written into the same
 * file (BboltWriter.join), and this thread makes one bucket of all the parts' leaves in
 * revision order.
 *
 * The worker reads on its own connection, in a read transaction that began after this
 * thread's, so it sees a state at least as new. It serves only if that state has the same
 * compaction revision: rows are only ever added (above the current revision) or deleted by
 * a compaction (one transaction, which moves the compaction revision), and a store copy
 * installed from the leader is the same history (every member applies the same entries the
 * same way, whatever its version), so both states then hold the same rows up to this
 * thread's last revision. Otherwise, or if it cannot read at all, this thread writes every
 * part itself.
 */
import type { Database } from "bun:sqlite";
import type { BboltWriter, BucketBuilder, BucketValue, NodeRef } from "./bbolt/writer.ts";
import { revisionKeySize, writeRevisionKey } from "./encoding.ts";
import { isTombstoneKv } from "./kv.ts";
import { ChecksumMismatch, STORED_COLUMNS, type StoredRow, verifyRow } from "./checksum.ts";
import { workerEntry } from "../lib/executable.ts";
import { askWorker, type OneReplyWorker } from "../lib/worker_reply.ts";
import { withDeadline } from "../lib/deadline.ts";

/** Main revisions per part. */
export const PART_REVISIONS = 16384;
/** A span of fewer main revisions is written by this thread alone (a worker costs tens of ms to start). */
export const PARALLEL_FROM = 131072;
/** Rows per select. */
const PAGE_ROWS = 512;

/** The revisions of the state being exported, as its read transaction sees them. */
export interface RevisionSpan {
  /** The lowest and highest main revision stored (null: no rows). */
  readonly min: bigint | null;
  readonly max: bigint;
  readonly compactRev: bigint;
}

/** Reads the span inside the export's read transaction. */
export function revisionSpan(db: Database, compactRev: bigint): RevisionSpan {
  // Two queries: SQLite answers a lone min() or max() from the index, both at once by a scan.
  const [min] = db.query("SELECT min(mod_rev) FROM history").values()[0] as [bigint | null];
  const [max] = db.query("SELECT max(mod_rev) FROM history").values()[0] as [bigint | null];
  return { min, max: max ?? 0n, compactRev };
}

/**
 * Puts the revisions with main revision in `[from, to)` into `b`, in order, each checked
 * against its checksum (ChecksumMismatch stops the export: a backup must not carry a
 * damaged row); yields after each select, for a caller that gives the event loop turns.
 */
export function* putRevisions(
  db: Database,
  b: BucketBuilder,
  from: bigint,
  to: bigint,
  compactRev: bigint,
): Generator<void> {
  // Only the upper bound beside the row-value comparison: with `mod_rev >= from` as well,
  // SQLite seeks from `from` for every page (a 1M-row export took minutes).
  const first = db.query(
    `SELECT ${STORED_COLUMNS} FROM history WHERE mod_rev >= ?1 AND mod_rev < ?2 ORDER BY mod_rev, sub LIMIT ${PAGE_ROWS}`,
  );
  const next = db.query(
    `SELECT ${STORED_COLUMNS} FROM history WHERE (mod_rev, sub) > (?1, ?2) AND mod_rev < ?3 ORDER BY mod_rev, sub LIMIT ${PAGE_ROWS}`,
  );
  // Each revision's key and KeyValue are written straight into the leaf being filled: an
  // array for each, then a copy into the page, was ~30% of an export's time. The
  // KeyValue is the one stored, byte for byte what etcd's backend holds.
  let modRev = 0n;
  let sub = 0n;
  let tombstone = false;
  let kv = EMPTY;
  let keyBytes = 0;
  const writeRevision = (buf: Uint8Array, at: number) => {
    writeRevisionKey(buf, at, modRev, sub, tombstone);
    buf.set(kv, at + keyBytes);
  };
  let rows = first.values(from, to) as unknown as StoredRow[];
  while (rows.length > 0) {
    for (const row of rows) {
      verifyRow(row);
      modRev = row[0];
      sub = row[1];
      kv = row[4];
      tombstone = isTombstoneKv(row[3], kv);
      // A tombstone at the compaction revision is kept here for watchers only; etcd
      // 3.4's compaction has removed it from its backend (see compaction.ts).
      if (tombstone && modRev === compactRev) continue;
      keyBytes = revisionKeySize(tombstone);
      b.putWritten(keyBytes, kv.length, writeRevision);
    }
    yield;
    if (rows.length < PAGE_ROWS) return;
    const last = rows[rows.length - 1];
    rows = next.values(last[0], last[1], to) as unknown as StoredRow[];
  }
}

const EMPTY: Uint8Array = new Uint8Array(0);

/** The parts of a span: `[from, to)` main revisions each, in order. */
export function partsOf(span: RevisionSpan, partRevisions = PART_REVISIONS): [bigint, bigint][] {
  const parts: [bigint, bigint][] = [];
  if (span.min === null) return parts;
  const size = BigInt(partRevisions);
  for (let from = span.min; from <= span.max; from += size) {
    parts.push([from, from + size > span.max ? span.max + 1n : from + size]);
  }
  return parts;
}

/** What the worker is given: where to read and write, the parts, and the state it must see. */
export interface PartsTask {
  readonly srcPath: string;
  readonly destPath: string;
  readonly pageSize: number;
  /** The writer's PageSpace. */
  readonly space: SharedArrayBuffer;
  /** One Int32: the next part not yet claimed. */
  readonly claims: SharedArrayBuffer;
  readonly parts: readonly (readonly [bigint, bigint])[];
  readonly span: RevisionSpan;
}

/**
 * The leaves of the parts a worker wrote, packed: a message of ~40k NodeRefs, each with an
 * array of its own, took ~200 ms to clone, these four arrays nothing (they are handed over).
 */
export interface PackedLeaves {
  /** For each part written: its index and how many leaves it has. */
  readonly parts: Int32Array;
  readonly pgids: Int32Array;
  /** Where each leaf's first key ends in `keys`. */
  readonly keyEnds: Int32Array;
  readonly keys: Uint8Array;
}

/** Packs `[part index, its leaves]` pairs (see PackedLeaves). */
export function packLeaves(written: readonly (readonly [number, readonly NodeRef[]])[]): PackedLeaves {
  const all = written.flatMap(([, leaves]) => leaves);
  const keys = new Uint8Array(all.reduce((n, l) => n + l.key.length, 0));
  const keyEnds = new Int32Array(all.length);
  let at = 0;
  all.forEach((l, i) => {
    keys.set(l.key, at);
    at += l.key.length;
    keyEnds[i] = at;
  });
  return {
    parts: Int32Array.from(written.flatMap(([i, leaves]) => [i, leaves.length])),
    pgids: Int32Array.from(all, (l) => l.pgid),
    keyEnds,
    keys,
  };
}

/** Unpacks PackedLeaves into `into[part index]`. */
function unpackLeaves(p: PackedLeaves, into: (NodeRef[] | null)[]): void {
  let leaf = 0;
  for (let i = 0; i < p.parts.length; i += 2) {
    const part: NodeRef[] = [];
    for (let n = 0; n < p.parts[i + 1]; n++, leaf++) {
      const from = leaf === 0 ? 0 : p.keyEnds[leaf - 1];
      part.push({ key: p.keys.subarray(from, p.keyEnds[leaf]), pgid: p.pgids[leaf] });
    }
    into[p.parts[i]] = part;
  }
}

/** The worker's answer. */
export type PartsReply =
  /** The leaves of the parts it wrote, and the pages it left free. */
  | { readonly kind: "done"; readonly leaves: PackedLeaves; readonly free: number[] }
  /** It claimed no part: its state was not the export's (a compaction came between), or it could not read. */
  | { readonly kind: "none"; readonly why: string }
  | { readonly kind: "damaged"; readonly key: Uint8Array; readonly revision: bigint; readonly sub: bigint }
  | { readonly kind: "failed"; readonly message: string };

/** Options of `writeKeyBucket`. */
export interface KeyBucketOptions {
  /** A second thread for spans of at least this many main revisions (default PARALLEL_FROM; Infinity: never). */
  readonly parallelFrom?: number;
  /** Main revisions per part (default PART_REVISIONS). */
  readonly partRevisions?: number;
  /** Awaited after each select: gives the event loop its turns, throws to stop. */
  readonly pause: () => Promise<void>;
}

/**
 * Writes the key bucket of the state `db`'s read transaction sees (its span `span`) into
 * `w`, which writes the file at `destPath` from the store at `srcPath`.
 */
export async function writeKeyBucket(
  w: BboltWriter,
  db: Database,
  paths: { readonly srcPath: string; readonly destPath: string },
  span: RevisionSpan,
  opts: KeyBucketOptions,
): Promise<BucketValue> {
  const parallelFrom = opts.parallelFrom ?? PARALLEL_FROM;
  if (span.min === null || Number(span.max - span.min + 1n) < parallelFrom) {
    const b = w.bucket();
    if (span.min !== null) {
      for (const _ of putRevisions(db, b, span.min, span.max + 1n, span.compactRev)) await opts.pause();
    }
    return b.end();
  }
  const parts = partsOf(span, opts.partRevisions);
  const claims = new Int32Array(new SharedArrayBuffer(4));
  const task: PartsTask = {
    ...paths,
    pageSize: w.pageSize,
    space: w.space.buffer,
    claims: claims.buffer as SharedArrayBuffer,
    parts,
    span,
  };
  const helper = startWorker(task);
  const leaves: (NodeRef[] | null)[] = parts.map(() => null);
  try {
    for (let i = Atomics.add(claims, 0, 1); i < parts.length; i = Atomics.add(claims, 0, 1)) {
      const b = w.bucket();
      for (const _ of putRevisions(db, b, parts[i][0], parts[i][1], span.compactRev)) await opts.pause();
      leaves[i] = b.endLeaves();
    }
    const reply = await helper.reply;
    if (reply.kind === "damaged") throw new ChecksumMismatch(reply);
    if (reply.kind === "failed") throw new Error(`snapshot: export worker: ${reply.message}`);
    if (reply.kind === "done") {
      unpackLeaves(reply.leaves, leaves);
      w.freePages(reply.free);
    }
  } finally {
    // A worker still writing when this thread gave up (canceled, a damaged row) stops at
    // the end of its part and closes what it opened, before the caller removes the file;
    // one that does not answer is stopped where it is.
    Atomics.store(claims, 0, parts.length);
    await withDeadline(helper.reply, WORKER_STOP_MS);
    helper.worker.terminate();
  }
  const missing = leaves.indexOf(null);
  if (missing >= 0) throw new Error(`snapshot: export: part ${missing} of the key bucket was not written`);
  return w.bucketOfLeaves((leaves as NodeRef[][]).flat());
}

/** How long a worker told to stop may take to finish its part (16,384 revisions: ~20 ms). */
const WORKER_STOP_MS = 5000;

/** Starts the worker on `task`; its one reply, or its failure as one. */
function startWorker(task: PartsTask): OneReplyWorker<PartsReply> {
  const entry = workerEntry("store/export_worker.ts", new URL("./export_worker.ts", import.meta.url));
  return askWorker<PartsReply>(entry, task, (message) => ({ kind: "failed", message }));
}
