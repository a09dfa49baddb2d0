/**
 * History rows recently read, by revision, so that reads of hot keys take no statement.
 * SQLite's per-row cost (running the statement, making a JS array with its BigInts and
 * byte arrays) was ~40% of a 100-key range's CPU; a row is written once and never changes
 * under its revision, so a copy in memory stays right until that revision is gone.
 *
 * It does go, in two ways, and the owner must say so: a batch rolled back takes its rows
 * with it and the next batch reuses their revisions (`clear`), and a store replaced by a
 * snapshot has other rows under the same revisions (`clear`). Compaction only deletes
 * revisions that no key points at any more: no new read asks for their rows (a read taken
 * in steps before it may, and gets the rows of its own revision), and they leave in turn.
 *
 * Rows leave in the order they came (first in, first out), within a byte budget; rows of
 * large values are not kept, so one big value does not push out many small ones. While
 * lookups mostly miss (reads spread over more rows than the budget holds), only one miss
 * in ADMIT_SAMPLE is kept: keeping every one churned the budget through the JS heap for
 * few hits (100-key ranges over 200k keys: 0.89x with every miss kept, 0.88-0.93x with one
 * in 16, 1.07-1.19x with one in 256, measured), while a sample still finds a hot set that
 * forms, and full admission resumes once lookups hit again.
 */
import type { RevisionKey } from "./key_index.ts";
import type { KvRow } from "./kv.ts";

/** Bytes a cached row costs besides its key and value: the array, its BigInts, the byte arrays' headers. */
const ROW_OVERHEAD = 512;
/** Key and value bytes past which a row is not kept. */
const LARGEST_ROW = 64 * 1024;
/** The default budget: the hot part of a store of tens of thousands of keys. */
export const DEFAULT_ROW_CACHE_BYTES = 16 * 1024 * 1024;
/** Sub-revisions from this up are not kept (a numeric cache key needs main · SUBS + sub < 2^53). */
const SUBS = 4096;
const LARGEST_MAIN = Number.MAX_SAFE_INTEGER / SUBS - 1;

/** Lookups per judgement of the hit ratio. */
const WINDOW = 4096;
/** Below this share of hits in a window, misses are sampled. */
const LOW_HIT_RATIO = 0.25;
/** While sampling, one miss in this many is kept. */
const ADMIT_SAMPLE = 256;

/** The cache's key of a revision, or -1 if its rows are not kept. */
function slot(rev: RevisionKey): number {
  return rev[1] < SUBS && rev[0] <= LARGEST_MAIN ? rev[0] * SUBS + rev[1] : -1;
}

function cost(row: KvRow): number {
  return row[0].length + row[5].length + (row[6]?.length ?? 0) + ROW_OVERHEAD;
}

/** Rows by revision, first in first out within a byte budget. */
export class RowCache {
  readonly #budget: number;
  readonly #rows = new Map<number, KvRow>();
  /** Keys held, in the order they were added, from `#head` on (a key is added once: see `add`). */
  #order: number[] = [];
  #head = 0;
  #bytes = 0;
  /** This window's lookups and hits, and which misses are kept (every `#admitEvery`-th). */
  #lookups = 0;
  #hits = 0;
  #admitEvery = 1;
  #misses = 0;

  constructor(budgetBytes = DEFAULT_ROW_CACHE_BYTES) {
    this.#budget = budgetBytes;
  }

  /** The row of `rev`, if it is held. */
  get(rev: RevisionKey): KvRow | undefined {
    const k = slot(rev);
    const row = k < 0 ? undefined : this.#rows.get(k);
    if (row !== undefined) this.#hits++;
    if (++this.#lookups === WINDOW) {
      this.#admitEvery = this.#hits < WINDOW * LOW_HIT_RATIO ? ADMIT_SAMPLE : 1;
      this.#lookups = this.#hits = 0;
    }
    return row;
  }

  /** Keeps the row read for `rev` (a verified one: the cache is served without checks). */
  add(rev: RevisionKey, row: KvRow): void {
    if (this.#admitEvery > 1 && ++this.#misses % this.#admitEvery !== 0) return;
    const k = slot(rev);
    if (k < 0 || row[0].length + row[5].length > LARGEST_ROW || this.#rows.has(k)) return;
    this.#rows.set(k, row);
    this.#order.push(k);
    this.#bytes += cost(row);
    while (this.#bytes > this.#budget) this.#evictOldest();
  }

  /** Forgets every row: their revisions may now name other rows. */
  clear(): void {
    this.#rows.clear();
    this.#order = [];
    this.#head = 0;
    this.#bytes = 0;
  }

  /** Rows held, and their cost in bytes (for tests and metrics). */
  get size(): { rows: number; bytes: number } {
    return { rows: this.#rows.size, bytes: this.#bytes };
  }

  #evictOldest(): void {
    const k = this.#order[this.#head++];
    this.#bytes -= cost(this.#rows.get(k)!);
    this.#rows.delete(k);
    // Drop the consumed front now and then: a shift per eviction would copy the array.
    if (this.#head >= 4096 && this.#head * 2 >= this.#order.length) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    }
  }
}
