/**
 * The key bucket of an etcd backend into a new store's `history` (etcd_import.ts): each
 * revision read from the bbolt file, decoded, stored as this version encodes it, with its
 * checksum. For a large file the reading, decoding and encoding (~40% of an import: 2.1-2.3
 * of 5.8 s at 1M keys) run on a worker thread (import_worker.ts) while this thread inserts
 * the rows (SQLite's part, which only this connection can do): rows cross in packed
 * batches (KeyRowBatch), each one transferred, not copied.
 */
import type { Database } from "bun:sqlite";
import { BboltError, type BboltReader, type Entry } from "./bbolt/reader.ts";
import { decodeKeyValue } from "../wire/etcd.ts";
import { Bucket, parseRevisionKey } from "./etcd_layout.ts";
import { checksumOf } from "./checksum.ts";
import { type KvRow, storedKv } from "./kv.ts";
import { workerEntry } from "../lib/executable.ts";
import { withDeadline } from "../lib/deadline.ts";
import { AsyncQueue } from "../lib/async_queue.ts";

/** Rows of the key bucket, packed. */
export interface KeyRowBatch {
  readonly count: number;
  /** Per row: create_rev, mod_rev, version, lease, sub, crc. */
  readonly ints: BigInt64Array;
  /** Per row: where its key ends, then where its stored KeyValue ends, in `bytes`. */
  readonly ends: Int32Array;
  readonly bytes: Uint8Array;
}

const INTS = 6;
/** A batch holds up to this many rows, or this many bytes of keys and KeyValues (or one row). */
const BATCH_ROWS = 4096;
const BATCH_BYTES = 2 << 20;

/** A key bucket entry that is not what etcd writes there: the import's error value. */
export class BadKeyEntry extends Error {}

/** Packs rows into batches, handing each full one to `emit` (its arrays with it). */
class BatchWriter {
  #ints = new BigInt64Array(BATCH_ROWS * INTS);
  #ends = new Int32Array(BATCH_ROWS * 2);
  #bytes = new Uint8Array(BATCH_BYTES);
  #count = 0;
  #used = 0;

  constructor(private readonly emit: (b: KeyRowBatch) => void) {}

  add(row: KvRow, sub: bigint, stored: Uint8Array, crc: number): void {
    const key = row[0];
    const need = key.length + stored.length;
    if (this.#count === BATCH_ROWS || (this.#count > 0 && this.#used + need > BATCH_BYTES)) this.flush();
    // A row larger than a batch has a batch of its own, as large as it.
    if (need > this.#bytes.length) this.#bytes = new Uint8Array(need);
    const i = this.#count++;
    const ints = this.#ints;
    const n = i * INTS;
    ints[n] = row[1];
    ints[n + 1] = row[2];
    ints[n + 2] = row[3];
    ints[n + 3] = row[4];
    ints[n + 4] = sub;
    ints[n + 5] = BigInt(crc);
    this.#bytes.set(key, this.#used);
    this.#used += key.length;
    this.#ends[2 * i] = this.#used;
    this.#bytes.set(stored, this.#used);
    this.#used += stored.length;
    this.#ends[2 * i + 1] = this.#used;
  }

  flush(): void {
    if (this.#count === 0) return;
    this.emit({
      count: this.#count,
      ints: this.#ints.subarray(0, this.#count * INTS),
      ends: this.#ends.subarray(0, this.#count * 2),
      bytes: this.#bytes.subarray(0, this.#used),
    });
    this.#ints = new BigInt64Array(BATCH_ROWS * INTS);
    this.#ends = new Int32Array(BATCH_ROWS * 2);
    this.#bytes = new Uint8Array(BATCH_BYTES);
    this.#count = 0;
    this.#used = 0;
  }
}

/**
 * Reads the key bucket of `r` into batches for `emit`, in key (revision) order; an error
 * value if the file is unreadable, BadKeyEntry thrown for an entry that is not etcd's.
 */
export function readKeyRows(r: BboltReader, emit: (b: KeyRowBatch) => void): BboltError | null {
  const out = new BatchWriter(emit);
  const err = r.forEachIn(Bucket.key, (e: Entry) => {
    const rev = parseRevisionKey(e.key);
    if (rev === null) throw new BadKeyEntry(`key 0x${Buffer.from(e.key).toString("hex")} is not a revision`);
    let kv;
    try {
      kv = decodeKeyValue(e.value);
    } catch (x) {
      throw new BadKeyEntry((x as Error).message);
    }
    const row: KvRow = rev.tombstone
      ? [kv.key, 0n, rev.main, 0n, 0n, new Uint8Array(0)]
      : [kv.key, kv.createRevision, rev.main, kv.version, kv.lease, kv.value];
    // Stored as this version encodes it, which is etcd's encoding: a file etcd wrote
    // exports back the same.
    const stored = storedKv(row);
    out.add(row, rev.sub, stored, checksumOf(row[2], rev.sub, row[0], stored));
  });
  if (err === null) out.flush();
  return err;
}

/** The one statement that inserts the key bucket's rows (insertRows binds its columns in order). */
const INSERT_ROW =
  "INSERT INTO history (key, create_rev, mod_rev, version, lease, sub, crc, kv) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/**
 * Inserts a batch with `insert` (INSERT_ROW); the batch's last main revision. A row SQLite
 * refuses (a revision twice) is an entry that is not etcd's.
 */
function insertKeyRows(insert: ReturnType<Database["prepare"]>, b: KeyRowBatch): bigint {
  try {
    insertRows(insert, b);
  } catch (e) {
    throw new BadKeyEntry((e as Error).message);
  }
  return b.ints[(b.count - 1) * INTS + 1];
}

function insertRows(insert: ReturnType<Database["prepare"]>, b: KeyRowBatch): void {
  let at = 0;
  for (let i = 0; i < b.count; i++) {
    const n = i * INTS;
    const keyEnd = b.ends[2 * i];
    const kvEnd = b.ends[2 * i + 1];
    insert.run(
      b.bytes.subarray(at, keyEnd),
      b.ints[n],
      b.ints[n + 1],
      b.ints[n + 2],
      b.ints[n + 3],
      b.ints[n + 4],
      Number(b.ints[n + 5]),
      b.bytes.subarray(keyEnd, kvEnd),
    );
    at = kvEnd;
  }
}

/** The file holding the backend, and how much of it is the database (a snapshot's hash follows). */
export interface ImportTask {
  readonly path: string;
  readonly limit: number;
}

/**
 * What the worker is asked: the file, and two Int32 cells: the batches posted and not yet
 * inserted (the worker waits while IN_FLIGHT are, so memory stays bounded however much
 * faster it reads than SQLite inserts: 1M keys, 2.1 against 3.5 s), and a stop flag.
 */
export interface WorkerTask extends ImportTask {
  readonly cells: SharedArrayBuffer;
}

/** The cells of WorkerTask. */
export const Cell = { inFlight: 0, stop: 1 } as const;

/** Batches (each up to BATCH_BYTES, or one larger row) posted and not yet inserted, at most. */
export const IN_FLIGHT = 8;

/** The worker's messages: batches in order, then how it ended. */
export type ImportMessage =
  | { readonly kind: "rows"; readonly batch: KeyRowBatch }
  | { readonly kind: "end" }
  /** The file is unreadable (BboltError), or an entry is not etcd's (`bad`). */
  | { readonly kind: "failed"; readonly message: string; readonly bad: boolean }
  /** Anything else went wrong in the worker: a bug, thrown as one. */
  | { readonly kind: "crashed"; readonly message: string }
  /** Told to stop (the import failed here): it closed the file. */
  | { readonly kind: "stopped" };

/** A restore reads files of at least this many bytes on a worker (one costs tens of ms to start). */
export const WORKER_FROM_BYTES = 16 << 20;

/** How long a worker told to stop may take to close its file before it is terminated. */
const STOP_MS = 1000;

/**
 * Inserts the key bucket's rows into `db`'s `history` (inside the caller's transaction):
 * read here, or by a worker reading the file at `file` if given. The last main revision (0
 * for none); an error value if the file is unreadable; BadKeyEntry thrown for an entry
 * that is not etcd's.
 */
export async function importKeyBucket(
  r: BboltReader,
  db: Database,
  file: ImportTask | null,
): Promise<{ lastMain: bigint } | BboltError> {
  const insert = db.prepare(INSERT_ROW);
  try {
    return await insertAll(r, file, insert);
  } finally {
    insert.finalize();
  }
}

async function insertAll(
  r: BboltReader,
  file: ImportTask | null,
  insert: ReturnType<Database["prepare"]>,
): Promise<{ lastMain: bigint } | BboltError> {
  let lastMain = 0n;
  if (file === null) {
    const err = readKeyRows(r, (b) => (lastMain = insertKeyRows(insert, b)));
    return err ?? { lastMain };
  }
  const worker = new Worker(
    workerEntry("store/import_worker.ts", new URL("./import_worker.ts", import.meta.url)),
  );
  const messages = new AsyncQueue<ImportMessage>();
  worker.onmessage = (event: MessageEvent<ImportMessage>) => messages.push(event.data);
  worker.onerror = (event) => messages.push({ kind: "crashed", message: event.message });
  worker.addEventListener(
    "close",
    () => messages.push({ kind: "crashed", message: "exited without a reply" }),
  );
  const cells = new Int32Array(new SharedArrayBuffer(8));
  const task: WorkerTask = { ...file, cells: cells.buffer as SharedArrayBuffer };
  worker.postMessage(task);
  let ended = false;
  try {
    for await (const m of messages) {
      if (m.kind !== "rows") ended = true;
      if (m.kind === "end") return { lastMain };
      if (m.kind === "failed") {
        if (m.bad) throw new BadKeyEntry(m.message);
        return new BboltError(m.message);
      }
      if (m.kind !== "rows") {
        throw new Error(`snapshot: import worker: ${m.kind === "crashed" ? m.message : m.kind}`);
      }
      lastMain = insertKeyRows(insert, m.batch);
      Atomics.sub(cells, Cell.inFlight, 1);
      Atomics.notify(cells, Cell.inFlight);
    }
    throw new Error("snapshot: import worker: no reply");
  } finally {
    if (!ended) {
      // This thread gave up (a row SQLite refused): the worker closes its file and says so.
      Atomics.store(cells, Cell.stop, 1);
      Atomics.notify(cells, Cell.inFlight);
      const stopped = (async () => {
        for await (const m of messages) if (m.kind !== "rows") return;
      })();
      await withDeadline(stopped, STOP_MS);
    }
    worker.terminate();
  }
}
