/**
 * The rest of a compaction, done a slice per event-loop turn instead of all at once in its
 * apply: the walk of the key index that finds the revisions it drops, then the deletes of
 * their rows from `history`. All at once, deleting 90k scattered revisions of a 1M-key
 * store took 1.1 s (12 µs a row), 300k contiguous ones 0.66 s, the walk and sort of 100k
 * keys with history 80-120 ms, and the member answered nothing meanwhile (a client reading
 * 200 times a second waited up to 0.6-1.5 s, then, with the deletes in slices, up to
 * 130-260 ms; now up to ~25 ms, a WAL checkpoint). etcd deletes in the background too, 1,000
 * rows per batch (its scheduleCompaction).
 *
 * The apply sets the compaction revision, which refuses reads below it, and walks the first
 * keys; slices walk the rest (the revisions gathered in sorted chunks, revision_buffer.ts),
 * then delete the rows in revision order. Reads at or above the compaction revision get the
 * same answers from a key compacted or not yet (KeyIndex.compact), and nothing reads a
 * dropped row, since the key index forgot it before it is deleted. The store's group commits
 * go on meanwhile, each with the rows deleted so far (holding one commit for all of them was
 * measured: the commit of 300k deletes took 0.3-0.5 s). A restart, or a copy of the store
 * installed meanwhile, finds the rest still in `history`: the store walks its freshly loaded
 * key index again at the compaction revision (MvccStore's #resumeCompaction). What reads
 * `history` rather than the key index (HashKV, a scrub) first finishes it all at once
 * (`finish`); the snapshot export, whose two threads read committed state in two
 * transactions, also has compactions done whole in their applies until it has read (`hold`).
 */
import type { Database, Statement } from "bun:sqlite";
import type { KeyIndex } from "./key_index.ts";
import { DELETE_REVISION } from "./compaction.ts";
import { RevisionBuffer, type RevisionMerge } from "./revision_buffer.ts";

/** A compaction dropping this many rows or fewer deletes them in its apply; a larger one, none there. */
export const ROWS_IN_APPLY = 2048;
/**
 * Keys a compaction's apply walks, and each step of a slice (~0.5 µs a key with history): a
 * store of as many keys or fewer is compacted in the apply, a larger one goes on in slices.
 */
export const KEYS_IN_APPLY = 1024;
/**
 * Rows per slice at most (etcd's --experimental-compaction-batch-limit), and how long one
 * may take (checked every SLICE_CHECK_ROWS rows deleted, or every step of keys walked); each slice
 * of deletes is committed on its own, as etcd commits each batch, so that no commit (and no
 * WAL checkpoint after it) carries many: one commit of the deletes of a 100 ms group-commit
 * interval stalled the member ~100-180 ms.
 */
export const DEFAULT_BATCH_LIMIT = 1000;
const SLICE_MS = 5;
const SLICE_CHECK_ROWS = 250;

export interface CompactionDeletesOptions {
  /** Rows a compaction deletes in its apply (default ROWS_IN_APPLY; tests make it small). */
  readonly compactionRowsInApply?: number;
  /** Keys walked in the apply and per step of a slice (default KEYS_IN_APPLY; tests make it small; 0 or less: the default). */
  readonly compactionKeysPerStep?: number;
  /** How long a slice may go on, in ms (default SLICE_MS; 0: one step of keys, or of SLICE_CHECK_ROWS rows). */
  readonly compactionSliceMs?: number;
  /** Runs the next slice later (default setImmediate: after the I/O already waiting). */
  readonly compactionSoon?: (fn: () => void) => void;
  /** Rows per slice at most (default DEFAULT_BATCH_LIMIT; 0 or less: the default, as etcd). */
  readonly compactionBatchLimit?: number;
}

/** What the compactions need from the store. */
export interface DeletesStore {
  readonly db: Database;
  readonly index: KeyIndex;
  /** Commits what the store has applied and deleted so far (its group commit, now). */
  readonly commit: () => void;
}

/** A walk of the key index at `rev`: `next` the key to go on from (null: past the last), `dropped` the revisions found so far. */
interface Walk {
  readonly rev: bigint;
  readonly next: string | null;
  readonly dropped: RevisionBuffer;
}

export class CompactionDeletes {
  readonly #delete: Statement;
  readonly #index: KeyIndex;
  readonly #commit: () => void;
  readonly #rowsInApply: number;
  readonly #keysPerStep: number;
  readonly #batchLimit: number;
  readonly #sliceMs: number;
  readonly #soon: (fn: () => void) => void;
  /** The walk of the last applied compaction while it has keys left: the slices go on with it. */
  #walk: Walk | null = null;
  /** The walk of a compaction in the batch being applied (not yet `settle`d): its rollback forgets it. */
  #staged: Walk | null = null;
  /** Rows left to delete: each finished walk's, in revision order, in the order the walks ended. */
  #rows: RevisionMerge[] = [];
  #scheduled = false;
  #stopped = false;
  /** Holds taken (`hold`): meanwhile every compaction is done whole in its apply. */
  #holds = 0;
  #waiters: (() => void)[] = [];

  constructor(store: DeletesStore, opts: CompactionDeletesOptions = {}) {
    this.#delete = store.db.prepare(DELETE_REVISION);
    this.#index = store.index;
    this.#commit = store.commit;
    this.#rowsInApply = opts.compactionRowsInApply ?? ROWS_IN_APPLY;
    const keys = opts.compactionKeysPerStep ?? 0;
    this.#keysPerStep = keys > 0 ? keys : KEYS_IN_APPLY;
    this.#sliceMs = opts.compactionSliceMs ?? SLICE_MS;
    this.#soon = opts.compactionSoon ?? setImmediate;
    const limit = opts.compactionBatchLimit ?? 0;
    this.#batchLimit = limit > 0 ? limit : DEFAULT_BATCH_LIMIT;
  }

  /** Whether nothing is left to walk or delete. */
  get idle(): boolean {
    return this.#walk === null && this.#staged === null && this.#rows.length === 0;
  }

  /**
   * Inside the apply of a compaction at `rev`: walks the key index's first keys (all of
   * them while held). If that was every key, nothing was pending and the rows are few (or
   * held), deletes them now, in the batch's savepoint; else keeps the walk for the slices,
   * once the batch is `settle`d. A walk still going is taken over: it starts again from the
   * first key, at the later revision, with what it found so far.
   */
  compact(rev: bigint): void {
    const pendingBefore = !this.idle;
    const dropped = this.#staged?.dropped ?? new RevisionBuffer();
    const next = this.#index.compact(rev, "", this.#holds > 0 ? Infinity : this.#keysPerStep, dropped, true);
    if (next === null && (this.#holds > 0 || (!pendingBefore && dropped.size <= this.#rowsInApply))) {
      dropped.drain().take(Infinity, this.#deleteRow);
      this.#staged = null;
      return;
    }
    this.#staged = { rev, next, dropped };
  }

  /**
   * After the batch: `applied` true hands its compaction's walk to the slices (taking over
   * one still going); false (its savepoint rolled back, the key index too) forgets it.
   */
  settle(applied: boolean): void {
    const staged = this.#staged;
    if (staged === null) return;
    this.#staged = null;
    if (!applied) return;
    if (this.#walk !== null) staged.dropped.absorb(this.#walk.dropped);
    this.#walk = staged;
    if (staged.next === null) this.#queueWalked();
    // A walk that dropped nothing leaves nothing to do: whoever waits is answered now.
    if (this.idle) this.#done();
    else this.#schedule();
  }

  /** A compaction at `rev` that a restart, or an installed copy, may have left rows of: walked again, outside any batch. */
  resume(rev: bigint): void {
    this.#walk = { rev, next: "", dropped: new RevisionBuffer() };
    this.#schedule();
  }

  /** Walks and deletes all that is left, now, and commits: for what reads `history` as if compactions were done. */
  finish(): void {
    if (this.#staged !== null) throw new Error("store: compaction finished inside an apply");
    if (this.idle) return;
    this.#walkFor(Infinity);
    this.#deleteUpTo(Infinity);
    this.#commit();
    this.#done();
  }

  /**
   * Until the returned release: finishes all that is left now, and a compaction applied
   * meanwhile is done whole in its apply, so that `history` as committed changes only as it
   * did before slices (a compaction in one transaction, moving the compaction revision). For
   * readers of committed state over two read transactions: the snapshot export's two threads
   * (key_bucket_export.ts) compare the compaction revision to know they read the same rows.
   */
  hold(): () => void {
    this.finish();
    this.#holds++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#holds--;
      if (this.#holds === 0 && !this.idle) this.#schedule();
    };
  }

  /** Forgets what is left: the store's contents are being replaced (found again after, see `resume`). */
  discard(): void {
    if (this.#staged !== null) throw new Error("store: compaction discarded inside an apply");
    this.#done();
  }

  /** Resolves once every applied compaction is walked and its rows deleted (Compact with `physical`), or the store closes. */
  deleted(): Promise<void> {
    if (this.idle || this.#stopped) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** The store is closing: no more slices (what is left stays for the next start to find). */
  stop(): void {
    this.#stopped = true;
    this.#wake();
  }

  /**
   * One slice, for up to SLICE_MS: walks on while the walk has keys left, else deletes up to
   * the batch limit's rows and commits them; schedules the next while anything is left.
   */
  slice(): void {
    this.#scheduled = false;
    if (this.#stopped || this.#holds > 0) return;
    if (this.idle) return this.#done();
    const started = performance.now();
    if (this.#walk !== null) {
      this.#walkFor(this.#sliceMs);
    } else {
      let left = this.#batchLimit;
      while (left > 0 && this.#rows.length > 0) {
        left -= this.#deleteUpTo(Math.min(left, SLICE_CHECK_ROWS));
        if (performance.now() - started >= this.#sliceMs) break;
      }
      this.#commit();
    }
    if (this.idle) this.#done();
    else this.#schedule();
  }

  /** Walks on, between batches, for up to `ms` (checked every #keysPerStep keys); queues the rows once the walk is done. */
  #walkFor(ms: number): void {
    const walk = this.#walk;
    if (walk === null) return;
    const started = performance.now();
    let next = walk.next;
    while (next !== null) {
      next = this.#index.compact(walk.rev, next, this.#keysPerStep, walk.dropped, false);
      if (performance.now() - started >= ms) break;
    }
    this.#walk = { ...walk, next };
    if (next === null) this.#queueWalked();
  }

  /** The walk is done: its rows go after those left. */
  #queueWalked(): void {
    const rows = this.#walk!.dropped.drain();
    this.#walk = null;
    if (rows.left > 0) this.#rows.push(rows);
  }

  /** Deletes up to `max` rows, in order; returns how many. */
  #deleteUpTo(max: number): number {
    let deleted = 0;
    while (deleted < max && this.#rows.length > 0) {
      deleted += this.#rows[0].take(max - deleted, this.#deleteRow);
      if (this.#rows[0].left === 0) this.#rows.shift();
    }
    return deleted;
  }

  readonly #deleteRow = (main: number, sub: number): void => {
    this.#delete.run(main, sub);
  };

  #schedule(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    this.#soon(() => this.slice());
  }

  #done(): void {
    this.#walk = null;
    this.#rows = [];
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}
