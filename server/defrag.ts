/**
 * Defragmentation (Maintenance.Defragment): gives the store's free pages back to the file
 * system. etcd rewrites its whole bbolt file while the member stops serving; here the
 * store moves pages in small incremental-vacuum steps between event-loop turns, so reads
 * and writes go on, each waiting at most one step (see bench/defrag-bench.ts). Every
 * stored revision is compared with its checksum first, as etcd's copy reads each one.
 */
import { log } from "./log.ts";
import type { MvccStore } from "../store/mvcc.ts";

/** Upper bound of pages one step may move. */
const MAX_STEP_PAGES = 4096;
/** Vacuum work between two commits of the moved pages. */
const FLUSH_AFTER_MS = 20;

/** What one defrag did. */
export interface DefragResult {
  readonly beforeBytes: number;
  readonly afterBytes: number;
  readonly tookMs: number;
  /** The longest single step: how long the event loop was held at most. */
  readonly longestStepMs: number;
}

/** Options of a Defragmenter. */
export interface DefragOptions {
  /** Target duration of one step (default 5 ms). */
  readonly stepMs?: number;
}

/** Runs defrags of one store, one at a time: a request during a run waits for that run. */
export class Defragmenter {
  readonly #store: MvccStore;
  readonly #stepMs: number;
  #running: Promise<DefragResult> | null = null;

  constructor(store: MvccStore, opts: DefragOptions = {}) {
    this.#store = store;
    this.#stepMs = opts.stepMs ?? 5;
  }

  /** Defragments now, or joins the defrag in progress. */
  run(): Promise<DefragResult> {
    this.#running ??= this.#defrag().finally(() => (this.#running = null));
    return this.#running;
  }

  async #defrag(): Promise<DefragResult> {
    const store = this.#store;
    const start = performance.now();
    const beforeBytes = store.dbSize();
    log.info("starting defragment", { "current-db-size-bytes": beforeBytes });
    // The whole file is about to be rewritten: first make sure what it holds is intact
    // (a damaged revision fails the defrag and raises CORRUPT, see store.verify), checking
    // between event-loop turns like the vacuum steps.
    const checked = await store.verify("defrag", {
      firstOnly: true,
      between: () => new Promise((r) => setImmediate(r)),
    });
    if (checked.damaged.length > 0) throw checked.damaged[0];
    let longest = 0;
    if (!store.canVacuumIncrementally()) {
      // A store created before incremental vacuum: one blocking VACUUM converts it.
      store.vacuumFull();
      longest = performance.now() - start;
    } else {
      let pages = 64;
      let sinceFlushMs = 0;
      // Compactions may free pages meanwhile; stop once a pass finds none left.
      while (store.freePages() > 0) {
        const t = performance.now();
        store.vacuumStep(pages);
        const took = performance.now() - t;
        sinceFlushMs += took;
        // Aim each step at stepMs: freeing pages at the end of the file is nearly free,
        // moving one from the middle is not, so scale by what the last step cost.
        pages = Math.max(1, Math.min(MAX_STEP_PAGES, Math.floor(pages * this.#stepMs / Math.max(took, 0.1))));
        if (sinceFlushMs >= FLUSH_AFTER_MS) {
          // Commit (and checkpoint) the moved pages in small portions: one big commit at
          // the end would hold the event loop for as long as writing them all back takes.
          const f = performance.now();
          store.flush();
          longest = Math.max(longest, performance.now() - f);
          sinceFlushMs = 0;
        }
        longest = Math.max(longest, took);
        await new Promise((r) => setImmediate(r));
      }
      const t = performance.now();
      store.flush();
      longest = Math.max(longest, performance.now() - t);
    }
    const result = {
      beforeBytes,
      afterBytes: store.dbSize(),
      tookMs: performance.now() - start,
      longestStepMs: longest,
    };
    log.info("finished defragment", {
      "current-db-size-bytes-diff": result.afterBytes - beforeBytes,
      "current-db-size-bytes": result.afterBytes,
      took: `${result.tookMs.toFixed(1)}ms`,
      "longest-step": `${longest.toFixed(1)}ms`,
    });
    return result;
  }
}
