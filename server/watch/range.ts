/**
 * A watcher's key range, normalised the way etcd's watch server does before it registers
 * a watcher, and the one test the hub needs: does an event's key fall inside it.
 */

/** Which keys a watcher sees: one key, `[key, end)`, or every key from `key` on. */
export interface WatchRange {
  readonly kind: "key" | "range" | "fromKey";
  readonly key: Uint8Array;
  /** Exclusive end for "range"; empty otherwise. */
  readonly end: Uint8Array;
  /** The key as a map key, for the single-key index of the synced group. */
  readonly keyString: string;
}

const ZERO_KEY = new Uint8Array([0]);

/**
 * etcd's rules: an empty key means "\0" (the smallest key), an empty range_end one key, a
 * range_end of "\0" every key from `key` on. A non-empty end not above the key is etcd's
 * "mvcc: watcher range is empty" (returned as null; the caller words the answer).
 */
export function watchRange(key: Uint8Array, rangeEnd: Uint8Array): WatchRange | null {
  const k = key.length === 0 ? ZERO_KEY : key;
  const keyString = bytesKey(k);
  if (rangeEnd.length === 0) return { kind: "key", key: k, end: rangeEnd, keyString };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) {
    return { kind: "fromKey", key: k, end: new Uint8Array(), keyString };
  }
  if (Buffer.compare(k, rangeEnd) >= 0) return null;
  return { kind: "range", key: k, end: rangeEnd, keyString };
}

/** Whether `key` is inside a range watcher's range (single keys are matched by the index). */
export function rangeContains(r: WatchRange, key: Uint8Array): boolean {
  if (Buffer.compare(key, r.key) < 0) return false;
  return r.kind === "fromKey" || Buffer.compare(key, r.end) < 0;
}

/** The range_end to ask the store for, in etcd's request encoding. */
export function storeRangeEnd(r: WatchRange): Uint8Array {
  return r.kind === "fromKey" ? ZERO_KEY : r.end;
}

/** Bytes as a string that compares and hashes byte for byte (latin1 maps each byte to one code unit). */
export function bytesKey(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
}
