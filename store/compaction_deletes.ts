/**
 * The rows a compaction dropped, deleted from `history` a slice per event-loop turn
 * instead of all at once in the apply: deleting 90k scattered revisions of a 1M-key store
 * took 1.1 s (12 µs a row), 300k contiguous ones 0.66 s, and the member answered nothing
 * meanwhile (a client reading 200 times a second waited up to 0.6-1.5 s; now up to 80-120
 * ms, the apply's pass over the key index and the sort below). etcd deletes them in the
 * background too, 1,000 per batch (its scheduleCompaction).
 *
 * Nothing reads the dropped rows: the key index forgot them when the compaction applied,
 * and reads below the compaction revision are refused. The store's group commits go on
 * meanwhile, each with the rows deleted so far (holding one commit for all of them was
 * measured: the commit of 300k deletes took 0.3-0.5 s). A restart, or a copy of the store
 * installed meanwhile, finds the rest still in `history`: the store compacts its freshly
 * loaded key index again at the compaction revision, which gives those rows back to delete
 * (MvccStore's #resumeCompaction). What reads `history` rather than the key index (HashKV,
 * a scrub) first deletes the rest at once (`finish`), as every compaction did before; the
 * snapshot export, whose two threads read committed state in two transactions, also has
 * compactions delete whole in their applies until it has read (`hold`).
 */
import type { Database, Statement } from "bun:sqlite";
import type { RevisionKey } from "./key_index.ts";
import { DELETE_REVISION, sortByRevision } from "./compaction.ts";

/** A compaction dropping this many rows or fewer deletes them in its apply; a larger one, none there. */
export const ROWS_IN_APPLY = 2048;
/**
 * Rows per slice at most (etcd's --experimental-compaction-batch-limit), and how long one
 * may take (checked every SLICE_CHECK_ROWS rows); each slice is committed on its own, as
 * etcd commits each batch, so that no commit (and no WAL checkpoint after it) carries many:
 * one commit of the deletes of a 100 ms group-commit interval stalled the member ~100-180 ms.
 */
export const DEFAULT_BATCH_LIMIT = 1000;
const SLICE_MS = 5;
const SLICE_CHECK_ROWS = 250;

export interface CompactionDeletesOptions {
  /** Rows a compaction deletes in its apply (default ROWS_IN_APPLY; tests make it small). */
  readonly compactionRowsInApply?: number;
  /** Runs the next slice of deletes later (default setImmediate: after the I/O already waiting). */
  readonly compactionSoon?: (fn: () => void) => void;
  /** Rows per slice at most (default DEFAULT_BATCH_LIMIT; 0 or less: the default, as etcd). */
  readonly compactionBatchLimit?: number;
}

/** What the deletes need from the store. */
export interface DeletesStore {
  readonly db: Database;
  /** Commits what the store has applied and deleted so far (its group commit, now). */
  readonly commit: () => void;
}

export class CompactionDeletes {
  readonly #delete: Statement;
  readonly #commit: () => void;
  readonly #rowsInApply: number;
  readonly #batchLimit: number;
  readonly #soon: (fn: () => void) => void;
  /** Rows left to delete, `#next` the first; in revision order within each compaction. */
  #rows: RevisionKey[] = [];
  #next = 0;
  /** Rows added by the batch being applied (not yet `settle`d): its rollback forgets them. */
  #staged: RevisionKey[] = [];
  #scheduled = false;
  #stopped = false;
  /** Holds taken (`hold`): meanwhile every compaction deletes its rows in its apply. */
  #holds = 0;
  #waiters: (() => void)[] = [];

  constructor(store: DeletesStore, opts: CompactionDeletesOptions = {}) {
    this.#delete = store.db.prepare(DELETE_REVISION);
    this.#commit = store.commit;
    this.#rowsInApply = opts.compactionRowsInApply ?? ROWS_IN_APPLY;
    this.#soon = opts.compactionSoon ?? setImmediate;
    const limit = opts.compactionBatchLimit ?? 0;
    this.#batchLimit = limit > 0 ? limit : DEFAULT_BATCH_LIMIT;
  }

  /** Rows not deleted yet. */
  get pending(): number {
    return this.#rows.length - this.#next + this.#staged.length;
  }

  /**
   * Inside the apply of a compaction: deletes the rows of `dropped` now (in the batch's
   * savepoint) if they are few and none are pending, else keeps them for later turns, once
   * the batch is `settle`d. Rows go in revision order, pages in turn.
   */
  add(dropped: RevisionKey[]): void {
    sortByRevision(dropped);
    if (this.#holds > 0 || (this.pending === 0 && dropped.length <= this.#rowsInApply)) {
      for (const [main, sub] of dropped) this.#delete.run(main, sub);
      return;
    }
    for (const r of dropped) this.#staged.push(r);
  }

  /**
   * After the batch: `applied` true queues what it added for the coming slices; false (its
   * savepoint rolled back, the key index too) forgets them.
   */
  settle(applied: boolean): void {
    if (this.#staged.length === 0) return;
    const staged = this.#staged;
    this.#staged = [];
    if (applied) this.#queue(staged);
  }

  /** Rows found left over (see #resumeCompaction), outside any batch: queued for the slices. */
  resume(dropped: RevisionKey[]): void {
    this.#queue(sortByRevision(dropped));
  }

  /** Deletes every row left, now, and commits: for what reads `history` as if compactions were done. */
  finish(): void {
    if (this.#staged.length > 0) throw new Error("store: compaction deletes finished inside an apply");
    if (this.#next === this.#rows.length) return;
    this.#deleteUpTo(this.#rows.length);
    this.#commit();
    this.#done();
  }

  /**
   * Until the returned release: deletes every row left now, and a compaction applied
   * meanwhile deletes all its rows in its apply, so that `history` as committed changes
   * only as it did before slices (a compaction in one transaction, moving the compaction
   * revision). For readers of committed state over two read transactions: the snapshot
   * export's two threads (key_bucket_export.ts) compare the compaction revision to know
   * they read the same rows.
   */
  hold(): () => void {
    this.finish();
    this.#holds++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#holds--;
      if (this.#holds === 0 && this.#next < this.#rows.length) this.#schedule();
    };
  }

  /** Forgets the rows left: the store's contents are being replaced (they are found again after, see `resume`). */
  discard(): void {
    if (this.#staged.length > 0) throw new Error("store: compaction deletes discarded inside an apply");
    this.#done();
  }

  /** Resolves once no row is left to delete (Compact with `physical`), or the store closes. */
  deleted(): Promise<void> {
    if (this.pending === 0 || this.#stopped) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** The store is closing: no more slices (what is left stays for the next start to find). */
  stop(): void {
    this.#stopped = true;
    this.#wake();
  }

  /** One slice: deletes up to the batch limit's rows for up to SLICE_MS, commits, schedules the next while any are left. */
  slice(): void {
    this.#scheduled = false;
    if (this.#stopped || this.#holds > 0 || this.#next === this.#rows.length) return;
    const started = performance.now();
    const end = Math.min(this.#rows.length, this.#next + this.#batchLimit);
    while (this.#next < end) {
      this.#deleteUpTo(Math.min(end, this.#next + SLICE_CHECK_ROWS));
      if (performance.now() - started >= SLICE_MS) break;
    }
    this.#commit();
    if (this.#next < this.#rows.length) this.#schedule();
    else this.#done();
  }

  #queue(rows: readonly RevisionKey[]): void {
    if (this.#next > 0) {
      this.#rows = this.#rows.slice(this.#next);
      this.#next = 0;
    }
    for (const r of rows) this.#rows.push(r);
    this.#schedule();
  }

  #deleteUpTo(end: number): void {
    const rows = this.#rows;
    for (; this.#next < end; this.#next++) this.#delete.run(rows[this.#next][0], rows[this.#next][1]);
  }

  #schedule(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    this.#soon(() => this.slice());
  }

  #done(): void {
    this.#rows = [];
    this.#next = 0;
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}
