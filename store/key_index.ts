/**
 * The in-memory key index (etcd's treeIndex of keyIndexes): for every key in `history`, the
 * revisions at which it changed, in order, tombstones marked. It replaces SQLite's
 * (key, mod_rev) index on `history`, whose random insert was one more dirty page per put;
 * `history` itself stays keyed by revision, so a write only appends to it.
 *
 * Keys are held as latin1 strings (one char per byte): JS string order is then unsigned
 * byte order, the tree compares with `<`, and the strings take a byte per char. A key's
 * revisions are one flat array of pairs `[main, sub, main, sub, ...]`, ascending, where a
 * tombstone's sub is stored as `-(sub + 1)`: a generation ends at a tombstone, as in etcd.
 * A key whose only revision is a put at sub 0 (most keys of a loaded store) holds just the
 * number `main`: 100k small arrays fewer measurably cut the heap's fragmentation (RSS).
 *
 * With the revisions it names, `history` answers head reads too (there is no table of
 * current rows: a put only appends). The index also knows each existing key's lease, for
 * LeaseRevoke, and how many keys exist.
 *
 * One B+ tree serves point lookups and ordered scans alike: a Map beside it made a lookup
 * ~1 µs cheaper but cost ~65 bytes per key (measured), and memory is the scarcer budget.
 *
 * The index follows the store connection's own view, uncommitted group-commit batches
 * included, like every read does. Changes are journaled until `release()`; `rollback()`
 * undoes them when the batch's savepoint is rolled back, so readers never see a revision
 * the database lost. It is rebuilt from `history` when the store opens (see `load`).
 */
import type { Database } from "bun:sqlite";
import * as sortedBtree from "sorted-btree";
import { bulkLoad } from "sorted-btree/extended/bulkLoad";
import type { KeyRange } from "./keys.ts";

// sorted-btree is CommonJS with `exports.default = BTree`: `bun run` hands the class to a
// default import, while the compiled bundle (node interop) hands the exports object.
const BTree = typeof sortedBtree.default === "function"
  ? sortedBtree.default
  : (sortedBtree.default as unknown as { default: typeof sortedBtree.default }).default;
type BTree<K, V> = sortedBtree.default<K, V>;

/** A revision in the history table's primary key: [mod_rev, sub]. */
export type RevisionKey = [main: number, sub: number];

/** Where a compaction puts the revisions it drops (revision_buffer.ts). */
export interface RevisionSink {
  push(main: number, sub: number): void;
}

const latin1Slice = (Buffer.prototype as unknown as {
  latin1Slice(this: Uint8Array, start: number, end: number): string;
}).latin1Slice;

/** The index's form of a key (byte order is preserved). */
export function indexKey(key: Uint8Array): string {
  return latin1Slice.call(key, 0, key.length);
}

/** The key bytes of an index key. */
function keyBytes(k: string): Uint8Array {
  const out = new Uint8Array(k.length);
  for (let i = 0; i < k.length; i++) out[i] = k.charCodeAt(i);
  return out;
}

/** Above every latin1 string: the open end of a "from" range. */
const AFTER_ALL = "\u0100";

// One relational comparison per call (JSC runs it out of line, unlike ===): a B-tree
// search compares ~17 times per 100k keys, twice per put (find the previous revision,
// then insert).
const compareStrings = (a: string, b: string) => (a < b ? -1 : a === b ? 0 : 1);

/** A key's revisions: pairs, or the main revision of a lone put at sub 0. */
type Revisions = number | number[];

function unpack(revs: Revisions): number[] {
  return typeof revs === "number" ? [revs, 0] : revs;
}

function pack(pairs: number[]): Revisions {
  return pairs.length === 2 && pairs[1] === 0 ? pairs[0] : pairs;
}

/** Rows read per step while loading. */
const LOAD_PAGE = 16384;
/** The tree's node size: sorted-btree's default, given explicitly since bulkLoad needs it. */
const NODE_SIZE = 32;

/** The in-memory key → revisions index; the store's single writer changes it. */
export class KeyIndex {
  #tree = new BTree<string, Revisions>(undefined, compareStrings, NODE_SIZE);
  /** The lease of each existing key that has one, and the keys of each lease. */
  #leaseOf = new Map<string, bigint>();
  #keysOf = new Map<bigint, Set<string>>();
  /** How many keys exist (their latest revision is not a tombstone). */
  #existing = 0;
  #reloads = 0;
  /**
   * Undo journal since the last release: the key, its previous pairs (null: an append, pop
   * one pair) and, for an append, its previous lease.
   */
  readonly #undoKeys: string[] = [];
  readonly #undoPairs: (Revisions | null)[] = [];
  readonly #undoLeases: bigint[] = [];
  /**
   * The last key looked up and what the tree held for it then (undefined: absent), kept
   * current by #append and forgotten by every other change. A put looks its key up to
   * read the previous version and then appends to it: with this the append does not search
   * the tree again, and a new key costs one search and one insert instead of three
   * searches (string comparisons were ~7% of a put's CPU with 64 clients).
   */
  #lastKey: string | null = null;
  #lastRevs: Revisions | undefined = undefined;

  /** The tree's value for `k`, remembered for the next lookup of the same key. */
  #lookup(k: string): Revisions | undefined {
    if (k === this.#lastKey) return this.#lastRevs;
    const revs = this.#tree.get(k);
    this.#lastKey = k;
    this.#lastRevs = revs;
    return revs;
  }

  /** Forgets the last lookup: the tree changed other than through #append. */
  #forgetLookup(): void {
    this.#lastKey = null;
    this.#lastRevs = undefined;
  }

  /** Builds the index from the `history` table, in revision order. */
  static load(db: Database): KeyIndex {
    const index = new KeyIndex();
    index.reload(db);
    return index;
  }

  /**
   * How many times the index was replaced (`reload`): revisions taken from it before name
   * rows of another store after (a read taken in steps checks this between them).
   */
  get reloads(): number {
    return this.#reloads;
  }

  /** Replaces the whole index with what `history` holds now (after a snapshot install). */
  reload(db: Database): void {
    this.#reloads++;
    const byKey = new Map<string, Revisions>();
    const leases = new Map<string, bigint>();
    // Revisions and versions read as doubles (exact below 2^53, as the index keeps them),
    // leases as text, exact: no BigInt per row for the common columns. At 1M keys this
    // scan is most of a restart.
    const columns = "key, mod_rev, sub, version, CASE lease WHEN 0 THEN NULL ELSE CAST(lease AS TEXT) END";
    const first = db.query(`SELECT ${columns} FROM history ORDER BY mod_rev, sub LIMIT ${LOAD_PAGE}`);
    const next = db.query(
      `SELECT ${columns} FROM history WHERE (mod_rev, sub) > (?1, ?2) ORDER BY mod_rev, sub LIMIT ${LOAD_PAGE}`,
    );
    first.safeIntegers(false);
    next.safeIntegers(false);
    type Row = [Uint8Array, number, number, number, string | null];
    let rows = first.values() as unknown as Row[];
    while (rows.length > 0) {
      for (const [key, main, sub, version, lease] of rows) {
        const k = indexKey(key);
        const code = version === 0 ? -sub - 1 : sub;
        const had = byKey.get(k);
        // Most keys have one put at sub 0: held as the bare number, as `pack` leaves it.
        if (had === undefined) byKey.set(k, code === 0 ? main : [main, code]);
        else if (typeof had === "number") byKey.set(k, [had, 0, main, code]);
        else had.push(main, code);
        if (lease !== null && version !== 0) leases.set(k, BigInt(lease));
        else if (leases.size > 0) leases.delete(k);
      }
      if (rows.length < LOAD_PAGE) break;
      const last = rows[rows.length - 1];
      rows = next.values(last[1], last[2]) as unknown as Row[];
    }
    const keys = [...byKey.keys()].sort();
    const values = keys.map((k) => byKey.get(k)!);
    let existing = 0;
    for (const revs of values) if (typeof revs === "number" || revs[revs.length - 1] >= 0) existing++;
    this.#tree = keys.length > 0
      ? bulkLoad(keys, values, NODE_SIZE, compareStrings)
      : new BTree<string, Revisions>(undefined, compareStrings, NODE_SIZE);
    this.#forgetLookup();
    this.#existing = existing;
    this.#leaseOf = new Map();
    this.#keysOf = new Map();
    for (const [k, lease] of leases) this.#setLease(k, lease);
    this.release();
  }

  /** How many keys have revisions (tombstoned ones included until compacted). */
  get size(): number {
    return this.#tree.size;
  }

  /** How many keys exist now. */
  get existing(): number {
    return this.#existing;
  }

  /** Records a put of `key` at revision (main, sub), attached to `lease` (0: none). */
  put(key: Uint8Array, main: bigint, sub: number, lease: bigint): void {
    this.#append(indexKey(key), Number(main), sub, lease);
  }

  /** Records a deletion (tombstone) of `key` at revision (main, sub). */
  tombstone(key: Uint8Array, main: bigint, sub: number): void {
    this.#append(indexKey(key), Number(main), -sub - 1, 0n);
  }

  /** The existing keys attached to a lease, in key order. */
  leaseKeys(lease: bigint): Uint8Array[] {
    const keys = this.#keysOf.get(lease);
    return keys === undefined ? [] : [...keys].sort().map(keyBytes);
  }

  /** Forgets the undo journal: the changes so far stay (their batch was applied). */
  release(): void {
    this.#undoKeys.length = 0;
    this.#undoPairs.length = 0;
    this.#undoLeases.length = 0;
  }

  /** Undoes every change since the last `release()`, newest first. */
  rollback(): void {
    this.#forgetLookup();
    for (let i = this.#undoKeys.length - 1; i >= 0; i--) {
      const k = this.#undoKeys[i];
      const old = this.#undoPairs[i];
      if (old !== null) {
        this.#tree.set(k, old);
        continue;
      }
      const pairs = unpack(this.#tree.get(k)!);
      const existed = pairs[pairs.length - 1] >= 0;
      pairs.length -= 2;
      const exists = pairs.length > 0 && pairs[pairs.length - 1] >= 0;
      this.#existing += Number(exists) - Number(existed);
      if (pairs.length === 0) this.#tree.delete(k);
      else this.#tree.set(k, pairs);
      this.#setLease(k, this.#undoLeases[i]);
    }
    this.release();
  }

  /** The latest revision of `key` if it exists now. */
  latest(key: Uint8Array): RevisionKey | null {
    const revs = this.#lookup(indexKey(key));
    if (revs === undefined) return null;
    if (typeof revs === "number") return [revs, 0];
    const pairs = revs;
    const n = pairs.length;
    return pairs[n - 1] < 0 ? null : [pairs[n - 2], pairs[n - 1]];
  }

  /**
   * The revision of each key in `range` that exists at `rev` (its latest revision at or
   * below `rev` is not a tombstone; null = now), in key order; at most `limit` (0 = all).
   */
  existingAt(range: KeyRange, rev: bigint | null, limit = 0): RevisionKey[] {
    const at = rev === null ? Infinity : Number(rev);
    const out: RevisionKey[] = [];
    this.#scan(range, (pairs) => {
      const i = lastAtOrBelow(pairs, at);
      if (i < 0 || pairs[i + 1] < 0) return false;
      out.push([pairs[i], pairs[i + 1]]);
      return limit > 0 && out.length >= limit;
    });
    return out;
  }

  /** How many keys in `range` exist at `rev` (null = now). */
  countAt(range: KeyRange, rev: bigint | null): number {
    const at = rev === null ? Infinity : Number(rev);
    let n = 0;
    this.#scan(range, (pairs) => {
      const i = lastAtOrBelow(pairs, at);
      if (i >= 0 && pairs[i + 1] >= 0) n++;
      return false;
    });
    return n;
  }

  /** Whether any key exists at `rev`. */
  anyExistsAt(rev: bigint): boolean {
    const at = Number(rev);
    let found = false;
    this.#scan({ kind: "from", key: new Uint8Array(0) }, (pairs) => {
      const i = lastAtOrBelow(pairs, at);
      found = i >= 0 && pairs[i + 1] >= 0;
      return found;
    });
    return found;
  }

  /**
   * The revision `key` had just before main revision `rev` (its latest below it), or null
   * when it had none or it was a tombstone then.
   */
  existingBefore(key: Uint8Array, rev: bigint): RevisionKey | null {
    const revs = this.#tree.get(indexKey(key));
    if (revs === undefined) return null;
    const pairs = unpack(revs);
    const i = lastAtOrBelow(pairs, Number(rev) - 1);
    return i < 0 || pairs[i + 1] < 0 ? null : [pairs[i], pairs[i + 1]];
  }

  /** Whether `key` changed at a main revision in (`after`, `upTo`]. */
  changedBetween(key: Uint8Array, after: bigint, upTo: bigint): boolean {
    const revs = this.#tree.get(indexKey(key));
    if (revs === undefined) return false;
    const pairs = unpack(revs);
    const i = lastAtOrBelow(pairs, Number(upTo));
    return i >= 0 && pairs[i] > Number(after);
  }

  /**
   * Compacts at `rev` (etcd's keyIndex.compact) the keys from `from` on (index form, "" for
   * the first), at most `maxKeys` of them: each keeps its revisions above `rev` and its
   * latest one at or below it unless that is a tombstone below `rev` (one exactly at `rev`
   * stays for watchers until the next compaction, see compaction.ts); a key left with
   * nothing is dropped. Hands the revisions dropped to `dropped`, for the caller to delete
   * from `history`. Returns the key to go on from, or null once the walk has passed the
   * last key.
   *
   * A compaction may walk in steps over several turns (compaction_deletes.ts): reads at or
   * above `rev` get the same answers from a key compacted or not yet, reads below it are
   * refused (and so is the version before an event at `rev`, events.ts), and a key inserted
   * behind the walk meanwhile has only revisions above `rev`.
   * In a batch (`inBatch`), the changes are journaled like any other; between batches there
   * is nothing to roll back, and a later batch's rollback must not undo them, so they are not.
   */
  compact(
    rev: bigint,
    from: string,
    maxKeys: number,
    dropped: RevisionSink,
    inBatch: boolean,
  ): string | null {
    if (!inBatch && this.#undoKeys.length > 0) {
      throw new Error("store: a compaction step between batches found a batch's changes journaled");
    }
    const at = Number(rev);
    let walked = 0;
    let next: string | null = null;
    // Edited in the one walk (editRange changes or deletes each pair where it is found):
    // setting each compacted key afterwards searched the tree once per key again.
    this.#forgetLookup();
    this.#tree.editRange(from, AFTER_ALL, false, (k, revs) => {
      if (walked++ === maxKeys) {
        next = k;
        return { break: true };
      }
      // A lone put (most keys of a large store) is its key's latest: it always stays. Not
      // unpacking it keeps a restart's pass over 1M keys (#resumeCompaction) short.
      if (typeof revs === "number") return;
      const pairs = revs;
      if (pairs[0] > at) return;
      const i = lastAtOrBelow(pairs, at);
      // Keep the pair at i unless it is a tombstone below `at`.
      const keepFrom = pairs[i + 1] < 0 && pairs[i] < at ? i + 2 : i;
      if (keepFrom === 0) return;
      for (let j = 0; j < keepFrom; j += 2) {
        const sub = pairs[j + 1];
        dropped.push(pairs[j], sub < 0 ? -sub - 1 : sub);
      }
      if (inBatch) {
        this.#undoKeys.push(k);
        this.#undoPairs.push(revs);
        this.#undoLeases.push(0n); // unused: compaction keeps an existing key's latest revision
      }
      if (keepFrom === pairs.length) return { delete: true };
      if (inBatch) return { value: pack(pairs.slice(keepFrom)) };
      // Nothing to undo: edited in place, not copied (a walk over 100k keys with history
      // otherwise left 100k arrays to collect, and collections of 10-30 ms in its slices).
      pairs.copyWithin(0, keepFrom);
      pairs.length -= keepFrom;
      return { value: pack(pairs) };
    });
    return next;
  }

  #append(k: string, main: number, code: number, lease: bigint): void {
    // Revisions are held as doubles: past 2^53 they would silently collide.
    if (!Number.isSafeInteger(main)) {
      throw new Error(`store: revision ${main} is beyond the key index's range`);
    }
    const revs = this.#lookup(k);
    const existed = revs !== undefined && (typeof revs === "number" || revs[revs.length - 1] >= 0);
    if (revs === undefined) this.#tree.set(k, this.#lastRevs = code === 0 ? main : [main, code]);
    else if (typeof revs === "number") this.#tree.set(k, this.#lastRevs = [revs, 0, main, code]);
    else revs.push(main, code);
    this.#existing += Number(code >= 0) - Number(existed);
    this.#undoKeys.push(k);
    this.#undoPairs.push(null);
    this.#undoLeases.push(this.#leaseOf.get(k) ?? 0n);
    this.#setLease(k, lease);
  }

  #setLease(k: string, lease: bigint): void {
    const old = this.#leaseOf.get(k);
    if (old === lease) return;
    if (old !== undefined) {
      const keys = this.#keysOf.get(old)!;
      keys.delete(k);
      if (keys.size === 0) this.#keysOf.delete(old);
      this.#leaseOf.delete(k);
    }
    if (lease === 0n) return;
    this.#leaseOf.set(k, lease);
    const keys = this.#keysOf.get(lease);
    if (keys === undefined) this.#keysOf.set(lease, new Set([k]));
    else keys.add(k);
  }

  /** Calls `visit` with each key's pairs in `range`, in key order, until it returns true. */
  #scan(range: KeyRange, visit: (pairs: number[]) => boolean): void {
    if (range.kind === "single") {
      const revs = this.#tree.get(indexKey(range.key));
      if (revs !== undefined) visit(unpack(revs));
      return;
    }
    const low = indexKey(range.key);
    const high = range.kind === "from" ? AFTER_ALL : indexKey(range.end);
    if (high <= low) return;
    this.#tree.forRange(low, high, false, (_k, revs) => (visit(unpack(revs)) ? { break: true } : undefined));
  }
}

/** Position (even) of the last pair with main ≤ `at` in ascending `pairs`, or -1. */
function lastAtOrBelow(pairs: number[], at: number): number {
  const n = pairs.length >> 1;
  if (pairs[(n - 1) * 2] <= at) return (n - 1) * 2;
  let lo = 0;
  let hi = n; // answer in [lo - 1, hi - 1]
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (pairs[mid * 2] <= at) lo = mid + 1;
    else hi = mid;
  }
  return (lo - 1) * 2;
}
