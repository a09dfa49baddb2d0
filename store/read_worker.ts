/**
 * A read worker: a thread with a connection of its own to the store, which selects the
 * rows of a large range and writes them as RangeResponse `kvs` fields, so that SQLite's
 * work and the encoding of big reads (over half of a 1000-key range's CPU) run beside the
 * event loop instead of on it. The member's side, and what may be sent here, is
 * read_workers.ts; the protocol is its ReadRequest and ReadReply.
 */
import { Database, type Statement } from "bun:sqlite";
import type { RevisionKey } from "./key_index.ts";
import { kvFromRow } from "./kv.ts";
import { verifyRow } from "./checksum.ts";
import { HistoryChanged, RevisionRows } from "./revision_rows.ts";
import { KvsWriter, type WrittenKvs } from "../wire/etcd.ts";
import type { ReadReply, ReadRequest } from "./read_workers.ts";
import { MMAP_BYTES } from "./schema.ts";

/** The worker's connection and what reads through it; null until the member's "open". */
let store: { readonly db: Database; readonly rows: RevisionRows; readonly mapping: Mapping } | null = null;

function open(path: string, cacheKiB: number): void {
  const db = new Database(path, { readwrite: true, create: false, safeIntegers: true, strict: true });
  db.run("PRAGMA query_only = ON");
  db.run(`PRAGMA cache_size = ${-cacheKiB}`);
  store = { db, rows: new RevisionRows(db), mapping: new Mapping(db) };
}

/**
 * Values bigger than a page are read an overflow page per `pread`: three clients reading
 * 1,000 values of 100 KB twice each took 1.6-1.8 s, 1.6 s of it in the kernel; with the
 * file mapped, as the member's connection maps it, 0.9-1.4 s. But each mapping counts the
 * pages it touched in RSS once more (two workers over a 300k-key store: 702-809 MiB
 * against 472-483), and for rows of small values it saved little if anything (1000-key
 * ranges over 1M keys 0.90-1.22x, noisy). So a worker maps the file for a read whose
 * first row is bigger than a page, and unmaps it for one whose first row is not, or after
 * a second without reads.
 */
const MAP_ROW_BYTES = 4096;
const UNMAP_IDLE_MS = 1000;

/** Whether the worker's connection maps the file, by the rule above. */
class Mapping {
  readonly #conn: Database;
  readonly #rowLength: Statement;
  #mapped = false;
  #timer: ReturnType<typeof setTimeout> | null = null;

  constructor(conn: Database) {
    this.#conn = conn;
    this.#rowLength = conn.prepare("SELECT length(kv) FROM history WHERE mod_rev = ?1 AND sub = ?2");
  }

  /** Before a read (no transaction open): maps the file if its first row, `first`, is big, else unmaps it. */
  beforeRead(first: RevisionKey | null): void {
    const row = first === null ? undefined : this.#rowLength.values(first[0], first[1])[0];
    this.#set(row !== undefined && Number(row[0]) > MAP_ROW_BYTES);
  }

  #set(on: boolean): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = on ? setTimeout(this.#idle, UNMAP_IDLE_MS) : null;
    if (on === this.#mapped) return;
    this.#conn.run(`PRAGMA mmap_size = ${on ? MMAP_BYTES : 0}`);
    this.#mapped = on;
  }

  /** Unmaps after UNMAP_IDLE_MS without reads; a failure (none is known) must not end the worker, and so the pool. */
  readonly #idle = (): void => {
    try {
      this.#set(false);
    } catch {
      // left mapped until the next read sets it again
    }
  };
}

/** Revisions read per batch at most (RevisionRows.stored): bounds the rows held at once. */
const SPAN_BATCH = 1024;

/**
 * Reads and encodes the rows of `revs` (pairs of main and sub revision) in one read
 * transaction, handing the pieces of each batch but the last to `part` as it goes: the
 * event loop takes a reply's pieces in one task, ~0.5 µs each, so a range of 100k big
 * values (a piece each) in one reply would hold it for ~30 ms.
 */
function encodeRows(revs: Float64Array, values: boolean, part: (pieces: Uint8Array[]) => void): WrittenKvs {
  if (store === null) throw new Error("read worker: not open");
  const { db, rows, mapping } = store;
  const out = new KvsWriter();
  mapping.beforeRead(values && revs.length > 0 ? [revs[0], revs[1]] : null);
  db.run("BEGIN");
  try {
    const batch: RevisionKey[] = [];
    for (let i = 0; i < revs.length; i += 2) {
      batch.push([revs[i], revs[i + 1]]);
      if (batch.length < SPAN_BATCH && i + 2 < revs.length) continue;
      if (values) {
        // The stored KeyValues are the response's `kvs` as they are, once checked.
        const read = rows.stored(batch);
        for (const row of read) verifyRow(row);
        out.addAllEncoded(read.map((row) => row[4]));
      } else {
        out.addAll(rows.keys(batch).map((row) => kvFromRow(row)));
      }
      batch.length = 0;
      if (i + 2 < revs.length) part(out.take());
    }
  } finally {
    db.run("COMMIT");
  }
  return out.finish();
}

declare const self: Worker;

/** Posts `reply` with its pieces' buffers handed over, not copied (ours, and the values SQLite made). */
function post(reply: ReadReply): void {
  const pieces = "pieces" in reply ? reply.pieces : [];
  self.postMessage(reply, [...new Set(pieces.map((p) => p.buffer as ArrayBuffer))]);
}

function answer(req: ReadRequest & { kind: "read" }): void {
  const id = req.id;
  try {
    const done = encodeRows(req.revs, req.values, (pieces) => post({ id, kind: "part", pieces }));
    post({ id, kind: "done", ...done });
  } catch (e) {
    // The member reads it again on its own connection, which reports it as it does any read.
    const failure = e instanceof HistoryChanged ? "changed" : "failed";
    post({ id, kind: "failed", failure, message: e instanceof Error ? e.message : String(e) });
  }
}

self.onmessage = (event: MessageEvent<ReadRequest>) => {
  const req = event.data;
  if (req.kind === "open") open(req.path, req.cacheKiB);
  else answer(req);
};
