/**
 * `snapshot status` of an etcd backend, computed as etcdctl's snapshot.Status does: a
 * CRC-32C over every top-level bucket's name and then its keys and values in order, the
 * number of keys, the main revision of the key bucket's last key, and the size as bbolt
 * counts it (high water mark × page size).
 */
import { BboltError, type BboltReader, type Entry } from "./bbolt/reader.ts";
import { crc32cUpdate } from "./crc32c.ts";
import { Bucket } from "./etcd_layout.ts";
import { compareBytes } from "./keys.ts";
import type { SnapshotStatus } from "./snapshot_file.ts";

/** The status of the backend `r` reads; an error value if any bucket is unreadable. */
export function etcdBackendStatus(r: BboltReader): SnapshotStatus | BboltError {
  const buckets: Entry[] = [];
  const err = r.forEach(r.root(), (e) => buckets.push(e));
  if (err !== null) return err;
  let hash = 0;
  let revision = 0n;
  let totalKey = 0;
  for (const entry of buckets) {
    const b = r.child(r.root(), entry);
    if (b instanceof BboltError) return b;
    hash = crc32cUpdate(hash, entry.key);
    const isKeyBucket = compareBytes(entry.key, Bucket.key) === 0;
    let badKey: Uint8Array | null = null;
    const walked = r.forEach(b, (e) => {
      hash = crc32cUpdate(hash, e.key);
      // A nested bucket's value is nil to etcdctl's ForEach.
      if (!e.bucket) hash = crc32cUpdate(hash, e.value);
      if (isKeyBucket) {
        if (e.key.length < 8) badKey ??= e.key;
        else revision = new DataView(e.key.buffer, e.key.byteOffset, 8).getBigInt64(0);
      }
      totalKey++;
    });
    if (walked !== null) return walked;
    if (badKey !== null) {
      return new BboltError(`bucket "key": key 0x${Buffer.from(badKey).toString("hex")} is not a revision`);
    }
  }
  return { hash, revision, totalKey, totalSize: r.size };
}
