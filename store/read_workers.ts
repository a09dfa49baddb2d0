/**
 * The read workers (read_worker.ts): threads that select and encode the rows of large
 * ranges on connections of their own, so that a member uses more than its one event loop
 * for big reads. The key index stays on the event loop, which decides what is read and
 * hands the workers the revisions; a worker answers the `kvs` bytes of the response.
 *
 * A worker's connection sees what is committed, not the apply loop's open transaction
 * (commit.ts), so only revisions up to the last commit may be sent (MvccStore decides).
 * Those rows never change under their revision; a compaction may delete them meanwhile,
 * which the worker answers as "changed", as a read in steps on the event loop would find.
 *
 * Workers start at the first read sent to them and stop with the store.
 */
import type { RevisionKey } from "./key_index.ts";
import type { WrittenKvs } from "../wire/etcd.ts";
import { workerEntry } from "../lib/executable.ts";

export type { WrittenKvs };

/** What the member sends a worker. */
export type ReadRequest =
  | { kind: "open"; path: string; cacheKiB: number }
  | { kind: "read"; id: number; revs: Float64Array; values: boolean };

/**
 * What a worker answers a read: the pieces of the encoded rows batch by batch ("part"),
 * then the last ones with the totals ("done"); or why not ("failed", parts discarded).
 */
export type ReadReply =
  | { id: number; kind: "part"; pieces: Uint8Array[] }
  | ({ id: number; kind: "done" } & WrittenKvs)
  | { id: number; kind: "failed"; failure: "changed" | "failed"; message: string };

/** Options of ReadWorkers. */
export interface ReadWorkersOptions {
  /** How many threads (at least 1). */
  threads: number;
  /** Each connection's page cache, in KiB. */
  cacheKiB?: number;
  /**
   * Told once if a worker fails (a bug, or a worker that cannot start): the pool then
   * stops, and every read runs on the caller's thread.
   */
  onFailure?: (message: string) => void;
  /** Told once, when a worker first answers a read. */
  onServing?: () => void;
}

/**
 * A worker's page cache: small, as the pages are in the kernel's cache anyway. 8 MiB each
 * left two workers' RSS 27-30 MiB above none after a run of 1000-key ranges; 2 MiB,
 * 9-11 MiB, at the same rate.
 */
const DEFAULT_CACHE_KIB = 2 * 1024;

/**
 * Rows a worker may have waiting before a read goes elsewhere (the caller reads it): each
 * worker reads in turn, so a small range queued behind big ones would wait for them all,
 * where the event loop serves it between their steps (found in review: a 1000-key range
 * behind two range-alls of 100k keys waited 974 ms, on the event loop 10 ms). 16k rows
 * are 15-30 ms of a worker's reading; with 4096, 16 clients of 1000-key ranges sent half
 * their reads to the event loop, at 0.71-0.82x etcd's rate instead of 0.91-1.08x.
 */
const QUEUE_ROWS = 16_384;

interface Pending {
  readonly rows: number;
  /** The pieces of the parts received so far. */
  readonly pieces: Uint8Array[];
  resolve(reply: Exclude<ReadReply, { kind: "part" }>): void;
}

interface Thread {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
  /** The rows of the reads sent and not yet answered. */
  queuedRows: number;
}

/** A pool of read workers over the store at one path. */
export class ReadWorkers {
  readonly #path: string;
  readonly #opts: ReadWorkersOptions;
  #threads: Thread[] | null = null;
  #nextId = 1;
  #stopped = false;
  #served = false;

  constructor(path: string, opts: ReadWorkersOptions) {
    if (opts.threads < 1) throw new Error("store: read workers need at least one thread");
    this.#path = path;
    this.#opts = opts;
  }

  /**
   * The rows of `revs` (in key order) encoded as RangeResponse `kvs`; "changed" when
   * history no longer holds them; null when no worker takes the read (all have enough
   * queued) or one could not read it for another reason: the caller reads it itself, and
   * reports what it finds.
   */
  async encode(revs: readonly RevisionKey[], values: boolean): Promise<WrittenKvs | "changed" | null> {
    if (this.#stopped) return null;
    const thread = this.#leastBusy();
    if (thread === null) return null;
    // A read waits behind at most QUEUE_ROWS rows, and a small one takes its place in them:
    // a read bigger than that may queue behind small ones, which it outlasts anyway.
    const fits = revs.length > QUEUE_ROWS
      ? thread.queuedRows <= QUEUE_ROWS
      : thread.queuedRows + revs.length <= QUEUE_ROWS;
    if (!fits) return null;
    const flat = new Float64Array(2 * revs.length);
    for (let i = 0; i < revs.length; i++) {
      flat[2 * i] = revs[i][0];
      flat[2 * i + 1] = revs[i][1];
    }
    const id = this.#nextId++;
    const pieces: Uint8Array[] = [];
    thread.queuedRows += revs.length;
    const reply = await new Promise<Exclude<ReadReply, { kind: "part" }>>((resolve) => {
      thread.pending.set(id, { rows: revs.length, pieces, resolve });
      const req: ReadRequest = { kind: "read", id, revs: flat, values };
      thread.worker.postMessage(req, [flat.buffer]);
    });
    if (reply.kind === "failed") return reply.failure === "changed" ? "changed" : null;
    if (reply.rows !== revs.length) {
      throw new Error(`store: a read worker answered ${reply.rows} of ${revs.length} rows`);
    }
    for (const p of reply.pieces) pieces.push(p);
    if (!this.#served) {
      this.#served = true;
      this.#opts.onServing?.();
    }
    return { pieces, length: reply.length, rows: reply.rows };
  }

  /** Ends the threads; reads waiting on them are answered null (the caller reads them). */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#threads ?? []) this.#end(t, "stopped");
    this.#threads = null;
  }

  /** The thread with the fewest rows to read; null if the threads cannot start. */
  #leastBusy(): Thread | null {
    if (this.#threads === null) {
      // Kept as they start, so that a failure stops those already started.
      this.#threads = [];
      try {
        for (let i = 0; i < this.#opts.threads; i++) this.#threads.push(this.#spawn());
      } catch (e) {
        this.#fail(e instanceof Error ? e.message : String(e));
        return null;
      }
    }
    let best = this.#threads[0];
    for (const t of this.#threads) if (t.queuedRows < best.queuedRows) best = t;
    return best;
  }

  #spawn(): Thread {
    const worker = new Worker(
      workerEntry("store/read_worker.ts", new URL("./read_worker.ts", import.meta.url)),
    );
    const thread: Thread = { worker, pending: new Map(), queuedRows: 0 };
    worker.onmessage = (event: MessageEvent<ReadReply>) => {
      const reply = event.data;
      const p = thread.pending.get(reply.id);
      if (p === undefined) return;
      if (reply.kind === "part") {
        for (const piece of reply.pieces) p.pieces.push(piece);
        return;
      }
      thread.pending.delete(reply.id);
      thread.queuedRows -= p.rows;
      p.resolve(reply);
    };
    // Not retried: a worker that failed once would likely fail again, at every read.
    worker.onerror = (event) => this.#fail(event.message);
    // A worker that ends without an error (it should not) would leave its reads waiting.
    worker.addEventListener("close", () => this.#fail("a read worker exited"));
    // A pool of idle threads must not keep a stopping process alive.
    worker.unref();
    const open: ReadRequest = {
      kind: "open",
      path: this.#path,
      cacheKiB: this.#opts.cacheKiB ?? DEFAULT_CACHE_KIB,
    };
    worker.postMessage(open);
    return thread;
  }

  /** Stops the pool (reads go to the caller from now on) and says why, once. */
  #fail(message: string): void {
    if (this.#stopped) return;
    this.stop();
    this.#opts.onFailure?.(message);
  }

  #end(thread: Thread, why: string): void {
    thread.worker.terminate();
    for (const [id, p] of thread.pending) p.resolve({ id, kind: "failed", failure: "failed", message: why });
    thread.pending.clear();
    thread.queuedRows = 0;
  }
}
