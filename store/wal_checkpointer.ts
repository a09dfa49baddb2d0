/**
 * SQLite's WAL checkpoints, copied into the file on a worker thread's own connection
 * instead of inside the store's commits. SQLite checkpoints when a commit leaves more than
 * 1,000 pages in the WAL, in that commit: ~1,000 pages copied and two fsyncs, 12-25 ms on
 * the event loop here, every few seconds under writes and every ~10th slice of a
 * compaction's deletes. A checkpoint needs no write lock, so the worker's runs while the
 * store goes on writing.
 *
 * The WAL starts over from its beginning only when a write transaction begins after a
 * checkpoint that copied everything, and the store's own transaction begins again right
 * after each commit: the worker's checkpoint alone would leave the WAL growing. So once the
 * worker has copied all but a few frames, the store's next commit checkpoints the rest
 * itself (a few pages and two short fsyncs), and the transaction it begins then restarts
 * the WAL. In a loop of commits of 100 rows (a microbenchmark, 1,500 commits): commits took
 * up to 14-19 ms (p99 10-16 ms) with SQLite's checkpoints, up to 3.5-4.2 ms (p99 3 ms) so.
 * In a member: a client reading 200 times a second during a compaction of 300k revisions
 * waited p99 7.8-8.1 ms against 15.8-17.4 ms, put with 64 clients p99 15-20 ms against
 * 18-22 ms. The worker's heap costs ~5-6 MiB of RSS once started (stopping it when idle
 * gave none of it back); a member that never fills the WAL never starts it.
 *
 * The WAL's size tells how many frames it holds: `journal_size_limit` has SQLite truncate it
 * when it starts over, so its size is what was written since (or the limit, below the
 * threshold). If the worker fails, SQLite's own checkpoints take over again.
 */
import * as fs from "node:fs";
import type { Database } from "bun:sqlite";
import { workerEntry } from "../lib/executable.ts";
import { pragmaNumber } from "./schema.ts";

/** Frames in the WAL past which it is checkpointed: SQLite's own default (wal_autocheckpoint). */
export const CHECKPOINT_PAGES = 1000;
/** Frames the worker may leave for the store's commit to copy itself. */
const FINISH_PAGES = 64;
/** What SQLite truncates the WAL to when it starts over (below CHECKPOINT_PAGES pages). */
const WAL_SIZE_LIMIT = 1 << 20;
/** The WAL file's header, and each frame's. */
const WAL_HEADER = 32;
const FRAME_HEADER = 24;

/** What checkpoint_worker.ts is asked, and what it answers. */
export type CheckpointTask = { readonly kind: "checkpoint"; readonly path: string } | {
  readonly kind: "close";
};
/** `copied`: the frames the checkpoint copied into the file, from the WAL's start. */
export type CheckpointReply = { readonly copied: number } | { readonly error: string };

export interface WalCheckpointerOptions {
  /** Frames in the WAL past which it is checkpointed (default CHECKPOINT_PAGES). */
  readonly walCheckpointPages?: number;
  /** Told if the worker fails; SQLite's own checkpoints take over. */
  readonly onCheckpointFailure?: (message: string) => void;
}

/** Counts, for tests and metrics. */
export interface CheckpointCounts {
  /** Checkpoints the worker ran. */
  readonly onWorker: number;
  /** Checkpoints a commit finished after the worker's. */
  readonly finished: number;
}

export class WalCheckpointer {
  readonly #db: Database;
  readonly #path: string;
  readonly #walPath: string;
  readonly #frameBytes: number;
  readonly #pages: number;
  readonly #onFailure: (message: string) => void;
  #worker: Worker | null = null;
  /** A checkpoint is running on the worker. */
  #asked = false;
  /** Frames the worker's last checkpoint copied (null: none since the last finish). */
  #copied: number | null = null;
  #failed = false;
  #stopped = false;
  #onWorker = 0;
  #finished = 0;

  /** For the store's connection `db` to the file at `path`; takes over its checkpoints. */
  constructor(db: Database, path: string, opts: WalCheckpointerOptions = {}) {
    this.#db = db;
    this.#path = path;
    this.#walPath = `${path}-wal`;
    this.#frameBytes = pragmaNumber(db, "page_size") + FRAME_HEADER;
    this.#pages = opts.walCheckpointPages ?? CHECKPOINT_PAGES;
    this.#onFailure = opts.onCheckpointFailure ?? (() => {});
    db.run("PRAGMA wal_autocheckpoint = 0");
    db.run(`PRAGMA journal_size_limit = ${Math.min(WAL_SIZE_LIMIT, (this.#pages >> 1) * this.#frameBytes)}`);
  }

  get counts(): CheckpointCounts {
    return { onWorker: this.#onWorker, finished: this.#finished };
  }

  /**
   * After each commit of the store, with no transaction open: finishes the worker's
   * checkpoint if it left only a few frames, else asks it for one once the WAL is past the
   * threshold (or again, to catch up with what was written while it copied).
   */
  afterCommit(): void {
    if (this.#failed || this.#stopped || this.#asked) return;
    const frames = this.#frames();
    if (this.#copied !== null && frames - this.#copied <= FINISH_PAGES) {
      this.#copied = null;
      this.#db.run("PRAGMA wal_checkpoint(PASSIVE)");
      this.#finished++;
      return;
    }
    if (this.#copied !== null || frames >= this.#pages) this.#ask();
  }

  /** The store is closing: the worker closes its connection after what it is doing. */
  stop(): void {
    this.#stopped = true;
    this.#worker?.postMessage({ kind: "close" } satisfies CheckpointTask);
    this.#worker = null;
  }

  /** Frames in the WAL, from its size (see the module's comment). */
  #frames(): number {
    const size = fs.statSync(this.#walPath, { throwIfNoEntry: false })?.size ?? 0;
    return Math.max(0, Math.floor((size - WAL_HEADER) / this.#frameBytes));
  }

  #ask(): void {
    if (this.#worker === null) this.#worker = this.#start();
    this.#asked = true;
    this.#worker.postMessage({ kind: "checkpoint", path: this.#path } satisfies CheckpointTask);
  }

  #start(): Worker {
    const worker = new Worker(
      workerEntry("store/checkpoint_worker.ts", new URL("./checkpoint_worker.ts", import.meta.url)),
    );
    worker.unref(); // an idle worker must not keep a stopping process alive
    worker.onmessage = (event: MessageEvent<CheckpointReply>) => {
      this.#asked = false;
      const reply = event.data;
      if ("error" in reply) return this.#fail(reply.error);
      this.#onWorker++;
      this.#copied = reply.copied;
    };
    worker.onerror = (event) => this.#fail(event.message);
    return worker;
  }

  /** SQLite's own checkpoints take over. */
  #fail(message: string): void {
    if (this.#failed || this.#stopped) return;
    this.#failed = true;
    this.#asked = false;
    this.#worker?.terminate();
    this.#worker = null;
    this.#db.run(`PRAGMA wal_autocheckpoint = ${CHECKPOINT_PAGES}`);
    this.#onFailure(message);
  }
}
