/**
 * The writes of one revision (etcd's storeTxnWrite): every put and delete of a request,
 * however many, lands at `beginRev + 1`, numbered by a sub-revision in order; a request
 * that changes nothing leaves the revision alone.
 */
import type { Database, Statement } from "bun:sqlite";
import type { Event, KeyValue } from "../proto/gen/mvccpb/kv_pb.ts";
import type { KeyIndex } from "./key_index.ts";
import type { KeyRange } from "./keys.ts";
import { deleteEvent, keyValue, kvFromRow, type KvRow, putEvent, storedKv } from "./kv.ts";
import type { KvReader } from "./reader.ts";
import { checksumOf } from "./checksum.ts";

const EMPTY = new Uint8Array(0);

/** What every revision write uses: statements prepared once per store, and the key index. */
export class WriteStatements {
  readonly insertHistory: Statement;
  readonly index: KeyIndex;

  constructor(db: Database, index: KeyIndex) {
    this.index = index;
    this.insertHistory = db.prepare(
      "INSERT INTO history (key, mod_rev, sub, create_rev, version, lease, crc, kv) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    );
  }
}

/** One revision's worth of changes in progress. */
export class RevisionWrite {
  /** The revision before this write; changes land at `beginRev + 1`. */
  readonly beginRev: bigint;
  /** The changes so far, as watch events (prevKv filled). */
  readonly events: Event[] = [];
  readonly #stmts: WriteStatements;
  readonly #reader: KvReader;

  constructor(stmts: WriteStatements, reader: KvReader, beginRev: bigint) {
    this.#stmts = stmts;
    this.#reader = reader;
    this.beginRev = beginRev;
  }

  /** The revision reads see now: the write's own revision once it has changed anything. */
  readRev(): bigint {
    return this.events.length > 0 ? this.beginRev + 1n : this.beginRev;
  }

  /** Whether anything changed (the revision advances only then). */
  changed(): boolean {
    return this.events.length > 0;
  }

  /**
   * Puts a key: it keeps its create revision and counts one more version if it exists,
   * otherwise it starts a new generation at version 1. `prev` is the key's current row
   * when the caller already read it.
   */
  put(
    key: Uint8Array,
    value: Uint8Array,
    lease: bigint,
    prev: KvRow | null | undefined = undefined,
  ): KeyValue {
    const before = prev === undefined ? this.#reader.get(key) : prev;
    const rev = this.beginRev + 1n;
    const createRevision = before === null ? rev : before[1];
    const version = before === null ? 1n : before[3] + 1n;
    const sub = this.events.length;
    const stored = storedKv([key, createRevision, rev, version, lease, value]);
    const crc = checksumOf(rev, sub, key, stored);
    this.#stmts.insertHistory.run(key, rev, sub, createRevision, version, lease, crc, stored);
    this.#stmts.index.put(key, rev, sub, lease);
    const kv = keyValue(key, { createRevision, modRevision: rev, version, lease, value });
    this.events.push(putEvent(kv, before === null ? undefined : kvFromRow(before)));
    return kv;
  }

  /** Deletes every existing key in range (tombstones them); returns the deleted rows. */
  deleteRange(range: KeyRange): KvRow[] {
    const rows = this.#reader.rows(range, null);
    const rev = this.beginRev + 1n;
    for (const row of rows) {
      const key = row[0];
      const sub = this.events.length;
      const stored = storedKv([key, 0n, rev, 0n, 0n, EMPTY]);
      this.#stmts.insertHistory.run(key, rev, sub, 0n, 0n, 0n, checksumOf(rev, sub, key, stored), stored);
      this.#stmts.index.tombstone(key, rev, sub);
      this.events.push(deleteEvent(key, rev, kvFromRow(row)));
    }
    return rows;
  }
}
