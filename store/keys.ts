/**
 * etcd's key-range conventions, decoded once so every query speaks the same language.
 *
 * A request names keys with `key` and `range_end`: an empty `range_end` means the single
 * key, `"\0"` means every key from `key` onwards, anything else the half-open interval
 * `[key, range_end)` (empty when `range_end <= key`). Byte order is unsigned
 * lexicographic, which is also how SQLite compares BLOBs.
 */

/** A decoded key range. */
export type KeyRange =
  | { readonly kind: "single"; readonly key: Uint8Array }
  | { readonly kind: "from"; readonly key: Uint8Array }
  | { readonly kind: "interval"; readonly key: Uint8Array; readonly end: Uint8Array };

/** Decodes a request's `key` and `range_end` into a range (etcd's `mkGteRange` rules). */
export function keyRange(key: Uint8Array, rangeEnd: Uint8Array): KeyRange {
  if (rangeEnd.length === 0) return { kind: "single", key };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { kind: "from", key };
  return { kind: "interval", key, end: rangeEnd };
}

/** Unsigned lexicographic comparison (Go's `bytes.Compare`). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const d = a[i] - b[i];
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/**
 * The SQL condition on column `key` for a range, its parameters numbered from `first`;
 * callers put their other parameters before it so `rangeArgs` can trail them.
 */
export function rangeCondition(range: KeyRange, first = 1): string {
  switch (range.kind) {
    case "single":
      return `key = ?${first}`;
    case "from":
      return `key >= ?${first}`;
    case "interval":
      return `key >= ?${first} AND key < ?${first + 1}`;
  }
}

/** The parameters matching `rangeCondition` (SQLite rejects extra ones). */
export function rangeArgs(range: KeyRange): Uint8Array[] {
  return range.kind === "interval" ? [range.key, range.end] : [range.key];
}
