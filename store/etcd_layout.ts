/**
 * etcd 3.4's backend layout: the bucket names and the encodings of what etcd keeps in them
 * (mvcc/kvstore.go, lease/lessor.go, auth/store.go, etcdserver/api/membership/store.go,
 * etcdserver/api/v3alarm). The export (etcd_export.ts) and the import (etcd_import.ts)
 * both speak through here. etcd 3.5 adds keys ("term", "confState" in `meta`) that the
 * import ignores.
 */
import { revisionKey } from "./encoding.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);

export const Bucket = {
  key: utf8("key"),
  meta: utf8("meta"),
  lease: utf8("lease"),
  auth: utf8("auth"),
  authUsers: utf8("authUsers"),
  authRoles: utf8("authRoles"),
  members: utf8("members"),
  membersRemoved: utf8("members_removed"),
  cluster: utf8("cluster"),
  alarm: utf8("alarm"),
} as const;

export const MetaKey = {
  consistentIndex: utf8("consistent_index"),
  scheduledCompact: utf8("scheduledCompactRev"),
  finishedCompact: utf8("finishedCompactRev"),
} as const;

export const AuthKey = { enabled: utf8("authEnabled"), revision: utf8("authRevision") } as const;

export const CLUSTER_VERSION_KEY = utf8("clusterVersion");
/** The version the `cluster` bucket records: the layout written is etcd 3.4's. */
export const LAYOUT_CLUSTER_VERSION = "3.4.0";
/** etcd's value for a removed member's key. */
export const REMOVED = utf8("removed");

/** A big-endian u64 (etcd's consistent index, auth revision, lease IDs as int64). */
export function u64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v));
  return b;
}

/** Reads a big-endian u64; null when the bytes are not 8. */
export function readU64(b: Uint8Array): bigint | null {
  return b.length === 8 ? new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0) : null;
}

/** A compaction mark as etcd stores it: the revision key of (rev, 0). */
export function compactMark(rev: bigint): Uint8Array {
  return revisionKey(rev, 0n, false);
}

/** A key-bucket key decoded; null when it is not one. */
export interface RevisionKey {
  readonly main: bigint;
  readonly sub: bigint;
  readonly tombstone: boolean;
}

/** Decodes etcd's revision key (8-byte main, '_', 8-byte sub, and 't' for a tombstone). */
export function parseRevisionKey(b: Uint8Array): RevisionKey | null {
  if ((b.length !== 17 && b.length !== 18) || b[8] !== 0x5f) return null;
  if (b.length === 18 && b[17] !== 0x74) return null;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { main: v.getBigInt64(0), sub: v.getBigInt64(9), tombstone: b.length === 18 };
}

/** etcd's member key: the ID in hex without padding (types.ID.String). */
export function memberKey(id: bigint): Uint8Array {
  return utf8(id.toString(16));
}

/** A member as etcd's membership store marshals it to JSON (field order and omitempty as Go's). */
export function memberJson(m: {
  id: bigint;
  name: string;
  peerUrls: readonly string[];
  clientUrls: readonly string[];
  isLearner: boolean;
}): Uint8Array {
  // Go's encoding/json writes the uint64 ID as a plain number: too big for a JS number.
  let s = `{"id":${m.id.toString()},"peerURLs":${JSON.stringify(m.peerUrls)}`;
  if (m.isLearner) s += `,"isLearner":true`;
  if (m.name !== "") s += `,"name":${JSON.stringify(m.name)}`;
  if (m.clientUrls.length > 0) s += `,"clientURLs":${JSON.stringify(m.clientUrls)}`;
  return utf8(s + "}");
}
