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
import type { EncodedKvs } from "../wire/etcd.ts";
import { isCompiledExecutable } from "../lib/executable.ts";

export type { EncodedKvs };

/** What the member sends a worker. */
export type ReadRequest =
  | { kind: "open"; path: string; cacheKiB: number }
  | { kind: "read"; id: number; revs: Float64Array; values: boolean };

/** What a worker answers a read: the encoded rows, or why not. */
export type ReadReply =
  | ({ id: number } & EncodedKvs)
  | { id: number; failure: "changed" | "failed"; message: string };

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
}

/**
 * A worker's page cache: small, as the pages are in the kernel's cache anyway. 8 MiB each
 * left two workers' RSS 27-30 MiB above none after a run of 1000-key ranges; 2 MiB,
 * 9-11 MiB, at the same rate.
 */
const DEFAULT_CACHE_KIB = 2 * 1024;

interface Pending {
  resolve(reply: ReadReply): void;
}

interface Thread {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
}

/**
 * The worker's module: in the compiled executable an entry point of its own (package.json's
 * build names it), found under its path from the project's root; from source, this
 * module's sibling.
 */
function workerEntry(): string {
  return isCompiledExecutable()
    ? "./store/read_worker.ts"
    : new URL("./read_worker.ts", import.meta.url).href;
}

/** A pool of read workers over the store at one path. */
export class ReadWorkers {
  readonly #path: string;
  readonly #opts: ReadWorkersOptions;
  #threads: Thread[] | null = null;
  #nextId = 1;
  #stopped = false;

  constructor(path: string, opts: ReadWorkersOptions) {
    if (opts.threads < 1) throw new Error("store: read workers need at least one thread");
    this.#path = path;
    this.#opts = opts;
  }

  /**
   * The `kvs` bytes of the rows of `revs` (in key order); "changed" when history no
   * longer holds them; null when a worker could not read them for another reason (the
   * caller reads them itself, and reports what it finds).
   */
  async encode(revs: readonly RevisionKey[], values: boolean): Promise<EncodedKvs | "changed" | null> {
    if (this.#stopped) return null;
    const thread = this.#leastBusy();
    const flat = new Float64Array(2 * revs.length);
    for (let i = 0; i < revs.length; i++) {
      flat[2 * i] = revs[i][0];
      flat[2 * i + 1] = revs[i][1];
    }
    const id = this.#nextId++;
    const reply = await new Promise<ReadReply>((resolve) => {
      thread.pending.set(id, { resolve });
      const req: ReadRequest = { kind: "read", id, revs: flat, values };
      thread.worker.postMessage(req, [flat.buffer]);
    });
    if ("pieces" in reply) {
      if (reply.rows !== revs.length) {
        throw new Error(`store: a read worker answered ${reply.rows} of ${revs.length} rows`);
      }
      return { pieces: reply.pieces, length: reply.length, rows: reply.rows };
    }
    return reply.failure === "changed" ? "changed" : null;
  }

  /** Ends the threads; reads waiting on them are answered null (the caller reads them). */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#threads ?? []) this.#end(t, "stopped");
    this.#threads = null;
  }

  #leastBusy(): Thread {
    this.#threads ??= Array.from({ length: this.#opts.threads }, () => this.#spawn());
    let best = this.#threads[0];
    for (const t of this.#threads) if (t.pending.size < best.pending.size) best = t;
    return best;
  }

  #spawn(): Thread {
    const worker = new Worker(workerEntry());
    const thread: Thread = { worker, pending: new Map() };
    worker.onmessage = (event: MessageEvent<ReadReply>) => {
      const p = thread.pending.get(event.data.id);
      thread.pending.delete(event.data.id);
      p?.resolve(event.data);
    };
    // Not retried: a worker that failed once would likely fail again, at every read.
    worker.onerror = (event) => {
      if (this.#stopped) return;
      this.stop();
      this.#opts.onFailure?.(event.message);
    };
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

  #end(thread: Thread, why: string): void {
    thread.worker.terminate();
    for (const [id, p] of thread.pending) p.resolve({ id, failure: "failed", message: why });
    thread.pending.clear();
  }
}
