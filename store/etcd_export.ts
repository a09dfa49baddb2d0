/**
 * The store as an etcd 3.4 backend (a bbolt file), for Maintenance.Snapshot: what every
 * etcd tool can read, and what the real etcd restores from.
 *
 * The live store is read through a connection of its own inside one read transaction
 * (in WAL mode it sees the last committed state for as long as it stays open, so every
 * bucket comes from the same applied index); the bbolt file is written front to back as
 * rows arrive (see streamEtcdBackend). The server runs this in a child process
 * (server/export_child.ts); in process, it works in slices between event-loop turns.
 */
import { Database } from "bun:sqlite";
import { create, toBinary } from "@bufbuild/protobuf";
import { LeaseSchema } from "../proto/gen/leasepb/lease_pb.ts";
// etcd's alarm bucket is keyed by a marshalled etcdserverpb.AlarmMember: that message is
// part of the backend file format, so this file-format module (and etcd_import.ts) is where
// store/ meets the RPC schema; the store's own alarms are alarm.ts's RaisedAlarm.
import { AlarmMemberSchema, type AlarmType } from "../proto/gen/etcdserverpb/rpc_pb.ts";
import assert from "node:assert";
import * as fs from "node:fs";
import {
  BboltWriter,
  type BranchItem,
  type BucketBuilder,
  type BucketValue,
  LeafSplit,
  metaPages,
  type PageOutput,
  type WrittenDatabase,
} from "./bbolt/writer.ts";
import { DEFAULT_PAGE_SIZE, ELEMENT_BYTES } from "./bbolt/layout.ts";
import { encodeKeyValue, keyValueSize } from "../wire/etcd.ts";
import { revisionKey } from "./encoding.ts";
import {
  AuthKey,
  Bucket,
  CLUSTER_VERSION_KEY,
  compactMark,
  LAYOUT_CLUSTER_VERSION,
  memberJson,
  memberKey,
  MetaKey,
  REMOVED,
  u64,
} from "./etcd_layout.ts";
import { compareBytes } from "./keys.ts";
import { listMembers, removedMembers } from "./members.ts";
import { listAlarms } from "./alarm.ts";
import { pager } from "./pages.ts";
import { STORED_COLUMNS, type StoredRow, verifyRow } from "./checksum.ts";

/** Options of `exportEtcdBackend` and `streamEtcdBackend`. */
export interface ExportOptions {
  /** Work at most this long before yielding to the event loop (default 8 ms). */
  sliceMs?: number;
  /** Stops the export (the caller removes the partial file). */
  signal?: AbortSignal;
}

/** Where a streamed export goes: its size first, then its bytes in file order. */
export interface ExportSink {
  size(bytes: number): void;
  write(bytes: Uint8Array): void;
}

/**
 * Writes the committed state of the store at `srcPath` as an etcd backend file at
 * `destPath`, fsynced. The source may be written meanwhile. Throws ChecksumMismatch at
 * the first revision that does not match its checksum.
 */
export async function exportEtcdBackend(
  srcPath: string,
  destPath: string,
  opts: ExportOptions = {},
): Promise<WrittenDatabase> {
  const fd = fs.openSync(destPath, "w", 0o600);
  try {
    const written = await streamEtcdBackend(srcPath, {
      size: () => {},
      write: (bytes) => void fs.writeSync(fd, bytes),
    }, opts);
    fs.fsyncSync(fd);
    return written;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The committed state of the store at `srcPath` as an etcd backend, front to back into
 * `out`, so that a snapshot can be sent while it is made. Every page but the key bucket's
 * leaves is small and is made first, from a plan of those leaves (their sizes read
 * without the values): the metas, which name the end of the file, can then go first, the
 * leaves follow as their rows are read, and the rest after them:
 *
 *   meta, meta | key bucket leaves | key bucket branches, other buckets, root, freelist
 *
 * A key bucket of at most one leaf is made with the rest, as the writer always made it.
 * Throws ChecksumMismatch at the first revision that does not match its checksum (with
 * part of the file already written).
 */
export async function streamEtcdBackend(
  srcPath: string,
  out: ExportSink,
  opts: ExportOptions = {},
): Promise<WrittenDatabase> {
  const sliceMs = opts.sliceMs ?? 8;
  // Read-write open (nothing is written): a read-only connection may not join the WAL.
  const src = new Database(srcPath, { readwrite: true, create: false, safeIntegers: true, strict: true });
  let sliceStart = performance.now();
  const pause = async () => {
    if (performance.now() - sliceStart < sliceMs) return;
    await new Promise((r) => setImmediate(r));
    if (opts.signal?.aborted) throw new Error("snapshot: canceled");
    sliceStart = performance.now();
  };
  try {
    // The read transaction starts with the first read and pins one committed state.
    src.run("BEGIN");
    const meta = src.query("SELECT applied_index, compact_rev FROM meta WHERE id = 0")
      .values()[0] as bigint[];
    const [appliedIndex, compactRev] = meta;
    const pageSize = DEFAULT_PAGE_SIZE;
    const planned = await planKeyLeaves(src, compactRev, pageSize, pause);
    const streamed = planned.length > 1;
    const leafPages = streamed ? planned[planned.length - 1].pgid + planned[planned.length - 1].pages - 2 : 0;
    // Everything after the leaves, in memory until they are out.
    const tail = new PagesInMemory(pageSize, 2 + leafPages);
    const w = new BboltWriter(tail, { pageSize, firstPage: 2 + leafPages });
    const buckets: [Uint8Array, BucketValue][] = [];
    if (streamed) buckets.push([Bucket.key, w.bucketOfLeaves(planned)]);
    else {
      const key = w.bucket();
      for await (const [k, v] of keyRevisions(src, compactRev, pause)) key.put(k, v);
      buckets.push([Bucket.key, key.end()]);
    }
    await otherBuckets(src, w, buckets, { appliedIndex, compactRev }, pause);
    const end = w.endPages(buckets);
    out.size(end.pages * pageSize);
    out.write(metaPages(pageSize, end));
    if (streamed) {
      const leaves = new BboltWriter(new PagesInOrder(pageSize, 2, out.write), { pageSize });
      const key = leaves.bucket();
      for await (const [k, v] of keyRevisions(src, compactRev, pause)) key.put(k, v);
      const written = key.endLeaves();
      // One read transaction, one rule for splitting: the leaves are where the plan put them.
      assert(
        written.length === planned.length && written.every((l, i) => l.pgid === planned[i].pgid),
        "the key bucket's leaves were not where they were planned",
      );
    }
    tail.replay(out.write);
    src.run("COMMIT");
    return { pages: end.pages, bytes: end.pages * pageSize };
  } finally {
    if (src.inTransaction) src.run("ROLLBACK");
    src.close();
  }
}

/** A planned leaf: its first key, first page and page count. */
interface PlannedLeaf extends BranchItem {
  readonly pages: number;
}

/**
 * Where the key bucket's leaves will be, from the sizes of its revisions alone (no value
 * is read): each leaf's first key, page (from page 2) and page count.
 */
async function planKeyLeaves(
  src: Database,
  compactRev: bigint,
  pageSize: number,
  pause: () => Promise<void>,
): Promise<PlannedLeaf[]> {
  const leaves: PlannedLeaf[] = [];
  const split = new LeafSplit(pageSize);
  let pgid = 2;
  /** The current leaf's first key and pages. */
  let first: Uint8Array | null = null;
  let pages = 0;
  const sizes = pager<[bigint, bigint, bigint, bigint, bigint, bigint, bigint]>(
    src,
    "SELECT length(key), create_rev, mod_rev, version, lease, length(value), sub FROM history",
    { columns: ["mod_rev", "sub"], of: (r) => [r[2], r[6]] },
  );
  for (const rows of sizes) {
    for (const [keyBytes, createRev, modRev, version, lease, valueBytes, sub] of rows) {
      const tombstone = version === 0n;
      if (tombstone && modRev === compactRev) continue; // as keyRevisions skips it
      const kvBytes = tombstone
        ? keyValueSize(Number(keyBytes), 0n, 0n, 0n, 0, 0n)
        : keyValueSize(Number(keyBytes), createRev, modRev, version, Number(valueBytes), lease);
      if (split.add(ELEMENT_BYTES + (tombstone ? 18 : 17) + kvBytes)) {
        leaves.push({ key: first!, pgid, pages });
        pgid += pages;
        first = null;
      }
      first ??= revisionKey(modRev, sub, tombstone);
      pages = split.pages;
    }
    await pause();
  }
  if (first !== null) leaves.push({ key: first, pgid, pages });
  return leaves;
}
/**
 * The key bucket's content in key order: each revision's key and its KeyValue, each row
 * verified against its checksum first (a damaged row stops the export: ChecksumMismatch,
 * since a backup must not carry it).
 */
async function* keyRevisions(
  src: Database,
  compactRev: bigint,
  pause: () => Promise<void>,
): AsyncGenerator<[Uint8Array, Uint8Array]> {
  const history = pager<StoredRow>(src, `SELECT ${STORED_COLUMNS} FROM history`, {
    columns: ["mod_rev", "sub"],
    of: (r) => [r[2], r[6]],
  });
  for (const rows of history) {
    for (const row of rows) {
      verifyRow(row);
      const [k, createRev, modRev, version, lease, value, sub] = row;
      const tombstone = version === 0n;
      // A tombstone at the compaction revision is kept here for watchers only; etcd
      // 3.4's compaction has removed it from its backend (see compaction.ts).
      if (tombstone && modRev === compactRev) continue;
      yield [
        revisionKey(modRev, sub, tombstone),
        tombstone
          ? encodeKeyValue({
            key: k,
            createRevision: 0n,
            modRevision: 0n,
            version: 0n,
            value: new Uint8Array(0),
            lease: 0n,
          })
          : encodeKeyValue({ key: k, createRevision: createRev, modRevision: modRev, version, value, lease }),
      ];
    }
    await pause();
  }
}

/** Every bucket but the key bucket, written with `w` and added to `buckets`. */
async function otherBuckets(
  src: Database,
  w: BboltWriter,
  buckets: [Uint8Array, BucketValue][],
  { appliedIndex, compactRev }: { appliedIndex: bigint; compactRev: bigint },
  pause: () => Promise<void>,
): Promise<void> {
  const lease = w.bucket();
  // Keys are big-endian: non-negative IDs first, then negative ones (as unsigned bytes).
  const leases = pager<bigint[]>(
    src,
    "SELECT id < 0, id, ttl, remaining_ttl FROM leases",
    { columns: ["id < 0", "id"], of: (r) => [r[0], r[1]] },
  );
  for (const rows of leases) {
    for (const [, id, ttl, remainingTtl] of rows) {
      lease.put(
        u64(id),
        toBinary(LeaseSchema, create(LeaseSchema, { ID: id, TTL: ttl, RemainingTTL: remainingTtl })),
      );
    }
    await pause();
  }
  buckets.push([Bucket.lease, lease.end()]);

  const mets: [Uint8Array, Uint8Array][] = [[MetaKey.consistentIndex, u64(appliedIndex)]];
  if (compactRev >= 0n) {
    mets.push([MetaKey.scheduledCompact, compactMark(compactRev)], [
      MetaKey.finishedCompact,
      compactMark(compactRev),
    ]);
  }
  buckets.push([Bucket.meta, small(w, mets)]);

  const auth = src.query("SELECT enabled, revision FROM auth_meta WHERE id = 0").values()[0] as bigint[];
  // etcd writes the flag on the first enable; a store never enabled has none.
  const authKeys: [Uint8Array, Uint8Array][] = [[AuthKey.revision, u64(auth[1] === 0n ? 1n : auth[1])]];
  if (auth[0] === 1n) authKeys.push([AuthKey.enabled, new Uint8Array([1])]);
  buckets.push([Bucket.auth, small(w, authKeys)]);
  for (
    const [bucket, table, column] of [[Bucket.authUsers, "auth_users", "user"], [
      Bucket.authRoles,
      "auth_roles",
      "role",
    ]] as const
  ) {
    const rows = src.query(`SELECT name, ${column} FROM ${table}`).values() as [string, Uint8Array][];
    buckets.push([bucket, small(w, rows.map(([name, blob]) => [new TextEncoder().encode(name), blob]))]);
    await pause();
  }

  buckets.push([Bucket.members, small(w, listMembers(src).map((m) => [memberKey(m.id), memberJson(m)]))]);
  buckets.push([
    Bucket.membersRemoved,
    small(w, [...removedMembers(src)].map((id) => [memberKey(id), REMOVED])),
  ]);
  buckets.push([
    Bucket.cluster,
    small(w, [[CLUSTER_VERSION_KEY, new TextEncoder().encode(LAYOUT_CLUSTER_VERSION)]]),
  ]);
  buckets.push([
    Bucket.alarm,
    small(
      w,
      listAlarms(src).map((a) => [
        toBinary(
          AlarmMemberSchema,
          create(AlarmMemberSchema, { memberID: a.memberID, alarm: a.alarm as AlarmType }),
        ),
        new Uint8Array(0),
      ]),
    ),
  ]);
}

/** Pages kept in order in memory (copies: the writer reuses its chunk), replayed later. */
class PagesInMemory implements PageOutput {
  readonly #pages: PagesInOrder;
  readonly #held: Uint8Array[] = [];

  constructor(pageSize: number, firstPage: number) {
    this.#pages = new PagesInOrder(pageSize, firstPage, (bytes) => this.#held.push(bytes.slice()));
  }

  write(bytes: Uint8Array, firstPage: number): void {
    this.#pages.write(bytes, firstPage);
  }

  replay(write: (bytes: Uint8Array) => void): void {
    for (const bytes of this.#held) write(bytes);
  }
}

/** Pages passed on as they come, which must be in file order with no gap. */
class PagesInOrder implements PageOutput {
  readonly #pageSize: number;
  #next: number;
  readonly #write: (bytes: Uint8Array) => void;

  constructor(pageSize: number, firstPage: number, write: (bytes: Uint8Array) => void) {
    this.#pageSize = pageSize;
    this.#next = firstPage;
    this.#write = write;
  }

  write(bytes: Uint8Array, firstPage: number): void {
    assert(firstPage === this.#next, `page ${firstPage} written where page ${this.#next} was due`);
    assert(bytes.length % this.#pageSize === 0, "a write of part of a page");
    this.#next += bytes.length / this.#pageSize;
    this.#write(bytes);
  }
}

/** A bucket of few keys, sorted here (users, roles, members, meta). */
function small(w: BboltWriter, entries: [Uint8Array, Uint8Array][]): BucketValue {
  const b: BucketBuilder = w.bucket();
  for (const [k, v] of entries.sort((a, b) => compareBytes(a[0], b[0]))) b.put(k, v);
  return b.end();
}
