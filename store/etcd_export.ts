/**
 * The store as an etcd 3.4 backend (a bbolt file), for Maintenance.Snapshot: what every
 * etcd tool can read, and what the real etcd restores from.
 *
 * The live store is read through a connection of its own inside one read transaction
 * (in WAL mode it sees the last committed state for as long as it stays open, so every
 * bucket comes from the same applied index), a slice at a time between event-loop turns
 * so the server keeps serving; the bbolt file is written page by page as rows arrive. A
 * large key bucket is written by two threads (key_bucket_export.ts).
 */
import { Database } from "bun:sqlite";
import { create, toBinary } from "@bufbuild/protobuf";
import { LeaseSchema } from "../proto/gen/leasepb/lease_pb.ts";
// etcd's alarm bucket is keyed by a marshalled etcdserverpb.AlarmMember: that message is
// part of the backend file format, so this file-format module (and etcd_import.ts) is where
// store/ meets the RPC schema; the store's own alarms are alarm.ts's RaisedAlarm.
import { AlarmMemberSchema, type AlarmType } from "../proto/gen/etcdserverpb/rpc_pb.ts";
import { BboltWriter, type BucketBuilder, type BucketValue, type WrittenDatabase } from "./bbolt/writer.ts";
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
import { revisionSpan, writeKeyBucket } from "./key_bucket_export.ts";

/** Options of `exportEtcdBackend`. */
export interface ExportOptions {
  /** Work at most this long before yielding to the event loop (default 8 ms). */
  sliceMs?: number;
  /** Stops the export (the caller removes the partial file). */
  signal?: AbortSignal;
  /** fsync the file (default true); a snapshot sent and removed needs none. */
  fsync?: boolean;
  /**
   * Awaited after each select of revisions instead of the slices above (a test paces the
   * export with it, so that the second thread below has parts to take).
   */
  pause?: () => Promise<void>;
  /** A second thread writes the key bucket from this many main revisions (see key_bucket_export.ts). */
  parallelFrom?: number;
  /** Main revisions per part of the key bucket when two threads write it. */
  partRevisions?: number;
}

/**
 * Writes the committed state of the store at `srcPath` as an etcd backend file at
 * `destPath`, fsynced unless told not to. The source may be written meanwhile. Throws
 * ChecksumMismatch for a revision that does not match its checksum.
 */
export async function exportEtcdBackend(
  srcPath: string,
  destPath: string,
  opts: ExportOptions = {},
): Promise<WrittenDatabase> {
  if (opts.signal?.aborted) throw new Error("snapshot: canceled");
  const sliceMs = opts.sliceMs ?? 8;
  // Read-write open (nothing is written): a read-only connection may not join the WAL.
  const src = new Database(srcPath, { readwrite: true, create: false, safeIntegers: true, strict: true });
  const w = BboltWriter.create(destPath, { fsync: opts.fsync });
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
    const buckets: [Uint8Array, BucketValue][] = [];

    const span = revisionSpan(src, compactRev);
    const paths = { srcPath, destPath };
    const keyBucket = await writeKeyBucket(w, src, paths, span, { ...opts, pause: opts.pause ?? pause });
    buckets.push([Bucket.key, keyBucket]);

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
    src.run("COMMIT");
    return w.finish(buckets);
  } catch (err) {
    w.close();
    throw err;
  } finally {
    if (src.inTransaction) src.run("ROLLBACK");
    src.close();
  }
}

/** A bucket of few keys, sorted here (users, roles, members, meta). */
function small(w: BboltWriter, entries: [Uint8Array, Uint8Array][]): BucketValue {
  const b: BucketBuilder = w.bucket();
  for (const [k, v] of entries.sort((a, b) => compareBytes(a[0], b[0]))) b.put(k, v);
  return b.end();
}
