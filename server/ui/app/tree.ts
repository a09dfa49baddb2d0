/**
 * One level of the key tree, listed without reading the keys below it.
 *
 * Keys are split on a separator: under `base`, a key with no separator after `base` is a
 * leaf, every other key belongs to the folder named up to (and with) its next separator.
 * A level is read with keys-only ranges of a few hundred keys; when a page ends inside a
 * folder, the listing jumps over the rest of that folder (the next range starts at the
 * folder's prefix end), so a folder with a million keys costs one range, not a million
 * keys; while folders are smaller than a page, pages grow, so many small folders cost a
 * few ranges, not one each. A folder's key count comes free from the ranges' `count`
 * (keys in [start, end)): the keys from the page's start, less those before the folder,
 * less those from the jump on. Every range of one listing reads the same revision, so the
 * counts add up.
 */
import { inRange, nextKey, prefixEnd, TO_END } from "./bytes.ts";

/** A keys-only range's answer. */
export interface KeysPage {
  /** The keys in [from, to), ascending, at most `limit`. */
  readonly keys: readonly string[];
  /** More keys follow in the range. */
  readonly more: boolean;
  /** Every key in [from, to) at the revision (etcd's count). */
  readonly count: number;
  /** The revision read. */
  readonly revision: number;
}

/** A keys-only range [from, to) of at most `limit` keys at `revision` (0: the latest). */
export type RangeKeys = (from: string, to: string, limit: number, revision: number) => Promise<KeysPage>;

/** An entry of a level: a key, or a folder of keys. */
export interface Child {
  readonly kind: "key" | "dir";
  /** The whole key, or the folder's prefix (ending with the separator). */
  readonly path: string;
  /** `path` without the level's base. */
  readonly name: string;
  /** Keys under the folder (1 for a key). */
  count: number;
}

export interface LevelOptions {
  /** The folder listed (ends with the separator, or "" for the top). */
  readonly base: string;
  /** Split keys on this; "" lists every key flat. */
  readonly sep: string;
  /** Only keys in [from, to): a search within the level, or where the last listing stopped. */
  readonly from?: string;
  readonly to?: string;
  /** At most this many entries (the rest is `next`). */
  readonly max: number;
  /** Keys per range at first; doubled (up to 2000) while pages hold several entries. */
  readonly batch?: number;
  /** The revision to read (0: the latest, then pinned to the first answer's). */
  readonly revision?: number;
  /** Told each entry as soon as it is complete (a slow level shows up as it is listed). */
  readonly onEntry?: (child: Child) => void;
}

export interface Level {
  readonly children: Child[];
  /** Where to continue (as `from`) for the entries after `max`, or null when all were listed. */
  readonly next: string | null;
  /** The revision read. */
  readonly revision: number;
  /** Ranges used (measurements and tests). */
  readonly ranges: number;
}

/** Lists one level of the tree; see the module's comment for how it stays cheap. */
export async function listLevel(range: RangeKeys, opts: LevelOptions): Promise<Level> {
  const { base, sep, max } = opts;
  // Small folders: fewer, larger pages (one round trip per few folders, not per folder).
  let batch = opts.batch ?? 200;
  const maxBatch = Math.max(batch, 2000);
  const to = opts.to ?? prefixEnd(base);
  let revision = opts.revision ?? 0;
  let ranges = 0;
  const fetchFrom = async (from: string): Promise<KeysPage> => {
    ranges++;
    const page = await range(from, to, batch, revision);
    if (revision === 0) revision = page.revision;
    return page;
  };
  const children: Child[] = [];
  const emit = (list: readonly Child[]) => {
    for (const c of list) {
      children.push(c);
      opts.onEntry?.(c);
    }
  };
  const done = (next: string | null): Level => ({ children, next, revision, ranges });
  let page = await fetchFrom(opts.from ?? base);
  for (;;) {
    const groups = groupKeys(page.keys, base, sep);
    if (groups.length >= 2) batch = Math.min(batch * 2, maxBatch);
    if (groups.length === 0) return done(null);
    const room = max - children.length;
    if (groups.length > room) {
      emit(groups.slice(0, room).map((g) => g.child));
      return done(groups[room].first);
    }
    if (!page.more) {
      emit(groups.map((g) => g.child));
      return done(null);
    }
    // Every group but the last is complete; the last one continues if it is a folder.
    emit(groups.slice(0, -1).map((g) => g.child));
    const last = groups[groups.length - 1];
    if (last.child.kind === "key") {
      emit([last.child]);
      if (children.length >= max) return done(nextKey(last.child.path));
      page = await fetchFrom(nextKey(last.child.path));
      continue;
    }
    // The page ends inside a folder: jump past it; the counts give its size.
    const before = page.keys.length - last.seen;
    const after = prefixEnd(last.child.path);
    if (after === TO_END || !inRange(after, base, to)) {
      last.child.count = page.count - before;
      emit([last.child]);
      return done(null);
    }
    const rest = await fetchFrom(after);
    last.child.count = page.count - before - rest.count;
    emit([last.child]);
    if (children.length >= max) return done(rest.keys.length > 0 ? after : null);
    page = rest;
  }
}

interface Group {
  readonly child: Child;
  /** The group's first key (where a listing resumes). */
  readonly first: string;
  /** Keys of the group in the page. */
  seen: number;
}

/** Consecutive keys of a page grouped into the level's entries. */
function groupKeys(keys: readonly string[], base: string, sep: string): Group[] {
  const groups: Group[] = [];
  for (const key of keys) {
    const rest = key.slice(base.length);
    const at = sep === "" ? -1 : rest.indexOf(sep);
    const name = at < 0 ? rest : rest.slice(0, at + sep.length);
    const kind = at < 0 ? "key" : "dir";
    const last = groups[groups.length - 1];
    if (kind === "dir" && last?.child.kind === "dir" && last.child.name === name) {
      last.seen++;
      last.child.count++;
      continue;
    }
    groups.push({ child: { kind, path: base + name, name, count: 1 }, first: key, seen: 1 });
  }
  return groups;
}

/**
 * Where a search for keys starting with `prefix` is listed: the folder holding it (up to
 * its last separator) and the range of the prefix within that folder.
 */
export function searchLevel(prefix: string, sep: string): { base: string; from: string; to: string } {
  const cut = sep === "" ? 0 : prefix.lastIndexOf(sep);
  const base = cut < 0 ? "" : prefix.slice(0, cut + sep.length);
  return { base, from: prefix, to: prefixEnd(prefix) };
}
