/**
 * etcd's MVCC key-value store on SQLite: the one thing the apply loop writes and every
 * read path reads. See schema.ts for the layout.
 */
import { Database, type Statement } from "bun:sqlite";
import type { EtcdError } from "../api/errors.ts";
import type { Event } from "../proto/gen/mvccpb/kv_pb.ts";
import { AuthTables } from "./auth_tables.ts";
import type { Applier, ApplyDeps, ApplyOutcome, LogEntry, ReadDeps, Revisions } from "./applier.ts";
import { type EventsQuery, eventsSince } from "./events.ts";
import { ALARM_NONE, listAlarms, type RaisedAlarm, RaisedAlarms } from "./alarm.ts";
import { hashKv, type HashKvResult, hashStore } from "./hash.ts";
import { KeyIndex, type RevisionKey } from "./key_index.ts";
import { compareBytes } from "./keys.ts";
import { HistoryChanged, KvReader } from "./reader.ts";
import { RowCache } from "./row_cache.ts";
import { replaceContents } from "./copy.ts";
import { copyStore } from "./snapshot.ts";
import { applyMemberChange, listMembers, type MemberRecord, removedMembers } from "./members.ts";
import { type GroupCommitOptions, GroupCommitter } from "./commit.ts";
import { CompactionDeletes, type CompactionDeletesOptions } from "./compaction_deletes.ts";
import { type CheckpointCounts, WalCheckpointer, type WalCheckpointerOptions } from "./wal_checkpointer.ts";
import { type LeaseRow, leaseRows } from "./lease.ts";
import { openDatabase, type OpenOptions as DatabaseOptions, pragmaNumber, upgradeSchema } from "./schema.ts";
import { WriteStatements } from "./writer.ts";
import { ChecksumMismatch, corruptStoreError } from "./checksum.ts";
import { verifyHistory, type VerifyOptions, type VerifyReport } from "./integrity.ts";
import { ReadWorkers, type WrittenKvs } from "./read_workers.ts";

export type { Applier, ApplyDeps, ApplyOutcome, LogEntry, ReadDeps, ReadView, Revisions } from "./applier.ts";
export type { RaisedAlarm } from "./alarm.ts";
export { ChecksumMismatch } from "./checksum.ts";
export type { VerifyOptions, VerifyReport } from "./integrity.ts";
export type { EventsQuery } from "./events.ts";
export type { WrittenKvs } from "./read_workers.ts";
export type { HashKvResult } from "./hash.ts";
export type { LeaseChange, LeaseRow } from "./lease.ts";
export type { MemberChange, MemberRecord } from "./members.ts";

/** Options of `MvccStore.open`. */
export interface OpenOptions
  extends DatabaseOptions, GroupCommitOptions, CompactionDeletesOptions, WalCheckpointerOptions {
  /** WAL checkpoints on a worker thread (wal_checkpointer.ts; default true), or SQLite's in the commits. */
  checkpointOnWorker?: boolean;
  /**
   * Threads that read and encode large ranges beside the event loop (read_workers.ts);
   * 0 or absent: none, every read runs on the caller's thread.
   */
  readThreads?: number;
  /** Told if the read threads fail (they stop; reads go on, on the caller's thread). */
  onReadThreadFailure?: (message: string) => void;
  /** Told once, when a read thread first answers a read. */
  onReadThreadsServing?: () => void;
}

/**
 * Ranges of at least this many rows go to a read worker: below it the hand-over (two
 * messages between threads) costs more of the event loop than the read it saves.
 */
const WORKER_MIN_ROWS = 256;

interface Progress extends Revisions {
  appliedIndex: bigint;
  appliedTerm: bigint;
}

function readProgress(db: Database): Progress {
  const row = db.query(
    "SELECT applied_index, applied_term, current_rev, compact_rev FROM meta WHERE id = 0",
  ).values()[0] as bigint[];
  return { appliedIndex: row[0], appliedTerm: row[1], currentRev: row[2], compactRev: row[3] };
}

/** The MVCC store. Single writer: only the apply loop calls `applyBatch`. */
export class MvccStore {
  readonly #db: Database;
  readonly #index: KeyIndex;
  readonly #reader: KvReader;
  /** Rows both readers read lately (see row_cache.ts for when it must be cleared). */
  readonly #rows = new RowCache();
  readonly #deps: ApplyDeps;
  readonly #progress: Progress;
  readonly #saveProgress: Statement;
  readonly #hasLease: Statement;
  readonly #committer: GroupCommitter;
  /** The rest of each compaction (its walk of the key index and its deletes), over later turns. */
  readonly #deletes: CompactionDeletes;
  /** WAL checkpoints on a worker thread (null: SQLite's own, in the commits). */
  readonly #checkpointer: WalCheckpointer | null = null;
  readonly #damageListeners: ((m: ChecksumMismatch, foundBy: string) => void)[] = [];
  /** Damaged rows the entry being applied has read (emptied after each entry). */
  readonly #applyDamage: ChecksumMismatch[] = [];
  #durableAppliedIndex: bigint;
  /** page_count × page_size, cached until the next write (-1: unknown); the quota asks per put. */
  #dbSize = -1;
  /** Fixed when the file is created (nothing here changes it), so asked once. */
  #pageSize = -1;

  readonly #path: string;
  /** The revision of the last commit: what another connection sees (commit.ts). */
  #committedRev: bigint;
  readonly #workers: ReadWorkers | null;
  #rangesByWorkers = 0;
  #closed = false;
  /** The users, roles and auth flag rows (the rules over them are the server's). */
  readonly authTables: AuthTables;

  private constructor(db: Database, path: string, opts: OpenOptions) {
    this.#db = db;
    this.#path = path;
    this.#index = KeyIndex.load(db);
    // What clients read is checked against the checksums, and so is what the apply loop
    // reads (a put's or delete's previous value, a txn's compares and reads); but the loop
    // cannot refuse a write every other member makes without its state parting from
    // theirs, so it only collects the mismatches: see #answerDamaged.
    this.#reader = new KvReader(db, this.#index, { verify: true, cache: this.#rows });
    this.#progress = readProgress(db);
    this.#saveProgress = db.prepare(
      "UPDATE meta SET applied_index = ?1, applied_term = ?2, current_rev = ?3, compact_rev = ?4 WHERE id = 0",
    );
    this.#hasLease = db.prepare("SELECT 1 FROM leases WHERE id = ?1");
    this.#durableAppliedIndex = this.#progress.appliedIndex;
    this.#committedRev = this.#progress.currentRev;
    this.#committer = new GroupCommitter(db, opts, () => {
      this.#durableAppliedIndex = this.#progress.appliedIndex;
      this.#committedRev = this.#progress.currentRev;
    });
    if (path !== ":memory:" && opts.checkpointOnWorker !== false) {
      const checkpointer = new WalCheckpointer(db, path, opts);
      this.#checkpointer = checkpointer;
      this.#committer.afterCommit = () => checkpointer.afterCommit();
    }
    this.#deletes = new CompactionDeletes(
      { db, index: this.#index, commit: () => this.#committer.flush() },
      opts,
    );
    this.#resumeCompaction();
    const threads = opts.readThreads ?? 0;
    this.#workers = threads > 0 && path !== ":memory:"
      ? new ReadWorkers(path, {
        threads,
        onFailure: opts.onReadThreadFailure,
        onServing: opts.onReadThreadsServing,
      })
      : null;
    this.#deps = {
      db,
      reader: new KvReader(db, this.#index, {
        verify: true,
        onMismatch: (m) => this.#applyDamage.push(m),
        cache: this.#rows,
        fillCache: false,
      }),
      writeStatements: new WriteStatements(db, this.#index),
      index: this.#index,
      alarms: new RaisedAlarms(db),
      revisions: this.#progress,
      hasLease: (id) => this.hasLease(id),
      appliedIndex: () => this.#progress.appliedIndex,
      compact: (rev) => this.#deletes.compact(rev),
    };
    this.authTables = new AuthTables(db);
  }

  /** Opens or creates the store at `path` (":memory:" for tests). */
  static open(path: string, opts: OpenOptions = {}): MvccStore {
    return new MvccStore(openDatabase(path, opts), path, opts);
  }

  /** Commits what is applied and closes the database; the store is unusable afterwards. */
  close(): void {
    this.#closed = true;
    this.#workers?.stop();
    this.#deletes.stop();
    this.#checkpointer?.stop();
    this.#committer.close();
    this.#db.close();
  }

  /**
   * Commits applied batches now instead of at the next group commit: call before copying
   * the database (snapshot) or before dropping log entries up to `appliedIndex()`. Rows a
   * compaction has yet to delete may still be in what it commits (see compaction_deletes.ts).
   */
  flush(): void {
    this.#committer.flush();
  }

  /**
   * Finishes what compactions have left to walk and delete, now, and commits; until the
   * returned release, compactions are done whole in their apply again. For the snapshot export: a
   * copy of `history` as etcd's backend would hold it, read by two threads that must see the
   * same rows (compaction_deletes.ts).
   */
  holdCompactions(): () => void {
    const release = this.#deletes.hold();
    this.#committer.flush();
    return release;
  }

  /** How many WAL checkpoints the worker ran and commits finished (null: SQLite's, in the commits). */
  walCheckpoints(): CheckpointCounts | null {
    return this.#checkpointer?.counts ?? null;
  }

  /** Resolves once the rows of every applied compaction are deleted (Compact with `physical`). */
  compactionDeleted(): Promise<void> {
    return this.#deletes.deleted();
  }

  /**
   * Writes a consistent copy of the store to `dest` (a Raft snapshot for a lagging
   * member): commits what is applied, then copies the committed database in slices
   * between event-loop turns, as Maintenance.Snapshot does, so the server keeps serving.
   */
  async copyTo(dest: string): Promise<void> {
    this.flush();
    await copyStore(this.#path, dest);
  }

  /**
   * Replaces the whole store with the copy at `src` (a snapshot from the leader), with its
   * applied index and revisions. Only the apply loop calls this, between batches, through
   * StateMachine.installCopy, which also reloads what it keeps in memory over the store.
   */
  installCopy(src: string): void {
    this.#committer.outsideTransaction(() => {
      replaceContents(this.#db, src);
      upgradeSchema(this.#db);
    });
    // The rows left to delete were the old contents'; the new ones' are found below.
    this.#deletes.discard();
    this.#index.reload(this.#db);
    this.#rows.clear();
    this.#deps.alarms.invalidate();
    this.#dbSize = -1;
    Object.assign(this.#progress, readProgress(this.#db));
    this.#resumeCompaction();
    this.#durableAppliedIndex = this.#progress.appliedIndex;
    this.#committedRev = this.#progress.currentRev;
  }

  /**
   * Rows of a compaction that a restart, or a copy made meanwhile, left in `history`
   * (compaction_deletes.ts): the key index just loaded from `history` has them back, so it
   * is walked again at the compaction revision, over the next turns, which drops them again
   * to be deleted.
   */
  #resumeCompaction(): void {
    if (this.#progress.compactRev >= 0n) this.#deletes.resume(this.#progress.compactRev);
  }

  /** Index of the last applied log entry (0 on a fresh store); reads see everything up to it. */
  appliedIndex(): bigint {
    return this.#progress.appliedIndex;
  }

  /**
   * Index of the last applied entry that is committed to disk: after a crash the store
   * reopens here, so the Raft log must keep every entry after it (see `flush`).
   */
  durableAppliedIndex(): bigint {
    return this.#durableAppliedIndex;
  }

  /** Term of the last applied log entry. */
  appliedTerm(): bigint {
    return this.#progress.appliedTerm;
  }

  /** The store revision: 1 on a fresh store, +1 for each request that changed something. */
  currentRevision(): bigint {
    return this.#progress.currentRev;
  }

  /**
   * The last compaction revision, -1 before the first compaction (what etcd's HashKV
   * reports as compact_revision then).
   */
  compactRevision(): bigint {
    return this.#progress.compactRev;
  }

  /** Whether a lease exists (a put may only attach an existing lease). */
  hasLease(id: bigint): boolean {
    return this.#hasLease.values(id).length > 0;
  }

  /** Every lease, by ID. */
  leases(): LeaseRow[] {
    return leaseRows(this.#db);
  }

  /** The keys attached to a lease, in key order. */
  leaseKeys(id: bigint): Uint8Array[] {
    return this.#index.leaseKeys(id);
  }

  /**
   * Applies committed entries in order, atomically together with the last entry's index
   * and term, so a crash leaves either all of them applied or none. Batches are group
   * committed (see commit.ts): `durableAppliedIndex()` says what reached the disk.
   * Indexes must strictly increase past `appliedIndex()`; anything else is a bug and
   * throws, rolling the whole batch back. `apply` makes each request into writes.
   */
  applyBatch<R, Resp>(entries: readonly LogEntry<R>[], apply: Applier<R, Resp>): ApplyOutcome<Resp>[] {
    if (entries.length === 0) return [];
    const before = { ...this.#progress };
    try {
      const outcomes = this.#committer.atomically(entries.length, () => {
        const outcomes: ApplyOutcome<Resp>[] = [];
        for (const entry of entries) {
          this.#advanceApplied(entry);
          if (entry.memberChange !== undefined) applyMemberChange(this.#db, entry.memberChange);
          if (entry.request === null) {
            outcomes.push({ ok: true, revision: this.#progress.currentRev, response: null, events: [] });
          } else {
            const outcome = apply(this.#deps, entry.request);
            outcomes.push(this.#applyDamage.length === 0 ? outcome : this.#answerDamaged(outcome));
          }
          if (this.#progress.currentRev < before.currentRev) {
            throw new Error("store: revision went backwards");
          }
        }
        const p = this.#progress;
        this.#saveProgress.run(p.appliedIndex, p.appliedTerm, p.currentRev, p.compactRev);
        return outcomes;
      });
      this.#index.release();
      this.#deletes.settle(true);
      return outcomes;
    } catch (err) {
      this.#deletes.settle(false);
      // The savepoint rolled back: so must everything the batch changed in memory.
      this.#index.rollback();
      this.#rows.clear(); // the batch's rows are gone, and the next batch reuses their revisions
      Object.assign(this.#progress, before);
      throw err;
    } finally {
      this.#dbSize = -1;
    }
  }

  /**
   * The outcome of an entry that read a damaged row: what it changed stays (every member
   * made the same write), but its caller is answered DataLoss naming the row instead of a
   * reply carrying the damaged value or decided by it, the events keep the change but not
   * the damaged previous value, and the listeners hear of it (the server raises CORRUPT).
   */
  #answerDamaged<Resp>(outcome: ApplyOutcome<Resp>): ApplyOutcome<Resp> {
    const damage = this.#applyDamage.splice(0);
    for (const m of damage) this.reportDamage(m, "apply");
    const events = outcome.ok ? outcome.events : [];
    for (const ev of events) {
      const prev = ev.prevKv;
      if (
        prev !== undefined &&
        damage.some((m) => m.revision === prev.modRevision && compareBytes(m.key, prev.key) === 0)
      ) {
        ev.prevKv = undefined;
      }
    }
    return { ok: false, error: corruptStoreError(damage[0]), events };
  }

  /** The current members, as the applied log decided them. */
  members(): MemberRecord[] {
    return listMembers(this.#db);
  }

  /** IDs of members removed from the cluster. */
  removedMembers(): Set<bigint> {
    return removedMembers(this.#db);
  }

  /**
   * Runs a read outside the apply loop (serializable reads, and linearizable ones after
   * a read index) at the current revisions, with verified rows; a damaged row read is
   * answered with the error a client gets instead, and the `onDamage` listeners hear of it
   * as found by `foundBy`.
   */
  read<T>(foundBy: string, read: (deps: ReadDeps) => T): T | EtcdError {
    return this.#checked(foundBy, () => read(this.#readDeps()));
  }

  /**
   * `read` for a read that yields between steps (a range read a statement at a time): the
   * state it answers is the one at the call.
   */
  async readInSteps<T>(foundBy: string, read: (deps: ReadDeps) => Promise<T>): Promise<T | EtcdError> {
    const deps = this.#readDeps();
    try {
      return await read(deps);
    } catch (e) {
      if (!(e instanceof ChecksumMismatch)) throw e;
      return this.#damaged(e, foundBy);
    }
  }

  #readDeps(): ReadDeps {
    return {
      reader: this.#reader,
      view: { rev: this.#progress.currentRev, compactRev: this.#progress.compactRev },
      writeStatements: this.#deps.writeStatements,
      encodeKvs: this.#encodeKvsOnce,
      compactRevNow: this.#compactRevNow,
    };
  }

  // Made once, not per read: every read, a single key's too, gets these in its deps.
  readonly #encodeKvsOnce = (revs: readonly RevisionKey[], values: boolean) => this.#encodeKvs(revs, values);
  readonly #compactRevNow = () => this.#progress.compactRev;

  /**
   * The rows of `revs` encoded by a read worker, or null where the caller must read them
   * itself: no workers, too few rows to be worth the hand-over, or a revision not yet
   * committed (the open transaction is this connection's alone). Throws HistoryChanged
   * where the rows are gone or the store was replaced meanwhile, as a read in steps does.
   */
  async #encodeKvs(revs: readonly RevisionKey[], values: boolean): Promise<WrittenKvs | null> {
    if (this.#workers === null || revs.length < WORKER_MIN_ROWS) return null;
    const committed = Number(this.#committedRev);
    for (const rev of revs) if (rev[0] > committed) return null;
    const reloads = this.#index.reloads;
    const encoded = await this.#workers.encode(revs, values);
    // Closed meanwhile (the workers' reads were answered null): nothing left to read from.
    if (this.#closed) throw new Error("store: closed");
    if (encoded === "changed" || this.#index.reloads !== reloads) {
      throw new HistoryChanged("store: the store changed under a read worker's read");
    }
    if (encoded !== null) this.#rangesByWorkers++;
    return encoded;
  }

  /** How many reads a read worker has answered (tests tell by it which path a read took). */
  get rangesByWorkers(): number {
    return this.#rangesByWorkers;
  }

  /**
   * HashKV for the corruption check and `etcdctl endpoint hashkv`: etcd's algorithm, so
   * equal histories hash equal here and on etcd. `revision` 0 = the current revision.
   */
  hashKV(revision: bigint): HashKvResult | EtcdError {
    this.#deletes.finish(); // it reads `history` as if compactions were done
    return this.#checked("hashkv", () => hashKv(this.#db, this.#index, { revision, revs: this.#progress }));
  }

  /** Maintenance.Hash: a checksum of all store content but the applied index. */
  hash(): number | EtcdError {
    this.#deletes.finish();
    return this.#checked("hash", () => hashStore(this.#db));
  }

  /**
   * Subscribes to damaged revisions found by this store's reads or reported to it: the
   * server raises the CORRUPT alarm. `foundBy` names what found it ("range", "scrub", ...).
   */
  onDamage(listener: (m: ChecksumMismatch, foundBy: string) => void): void {
    this.#damageListeners.push(listener);
  }

  /** Tells the `onDamage` listeners of a damaged revision found outside this store's reads. */
  reportDamage(m: ChecksumMismatch, foundBy: string): void {
    for (const l of this.#damageListeners) l(m, foundBy);
  }

  /**
   * Compares every stored revision with its checksum (a scrub, a defrag's first step):
   * reads what is committed through a connection of its own, with a small cache of its
   * own, so the pass takes no lock from the apply loop and leaves the store's cache to the
   * reads that need it. `between()` runs after each page (the caller's time slicing). The
   * damaged revisions found also go to the `onDamage` listeners, as found by `foundBy`.
   */
  async verify(foundBy: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
    this.#deletes.finish();
    this.flush();
    const own = this.#path !== ":memory:";
    const db = own
      ? new Database(this.#path, { readwrite: true, create: false, safeIntegers: true, strict: true })
      : this.#db;
    try {
      if (own) db.run("PRAGMA cache_size = -2048");
      const report = await verifyHistory(db, opts);
      for (const m of report.damaged) this.reportDamage(m, foundBy);
      return report;
    } finally {
      if (own) db.close();
    }
  }

  /** `read()`, or the error a client gets instead of a damaged row (and the listeners hear of it). */
  #checked<T>(foundBy: string, read: () => T): T | EtcdError {
    try {
      return read();
    } catch (e) {
      if (!(e instanceof ChecksumMismatch)) throw e;
      return this.#damaged(e, foundBy);
    }
  }

  #damaged(m: ChecksumMismatch, foundBy: string): EtcdError {
    this.reportDamage(m, foundBy);
    return corruptStoreError(m);
  }

  /** Watch catch-up: past events in revision order (see EventsQuery), or why not. */
  eventsSince(query: EventsQuery): Event[] | EtcdError {
    return this.#checked(
      "watch",
      () => eventsSince({ db: this.#db, reader: this.#reader, compactRev: this.#progress.compactRev }, query),
    );
  }

  /** Size of the database file in bytes (Status.dbSize). */
  dbSize(): number {
    if (this.#dbSize < 0) this.#dbSize = this.#pragma("page_count") * this.#pageBytes();
    return this.#dbSize;
  }

  /** Bytes of the database file holding data, free pages excluded (Status.dbSizeInUse). */
  dbSizeInUse(): number {
    return (this.#pragma("page_count") - this.#pragma("freelist_count")) * this.#pageBytes();
  }

  #pageBytes(): number {
    if (this.#pageSize < 0) this.#pageSize = this.#pragma("page_size");
    return this.#pageSize;
  }

  /** Tells `fn` each backend commit's duration in seconds (metrics). */
  observeCommit(fn: (seconds: number) => void): void {
    this.#committer.observeCommit = fn;
  }

  /** How many keys exist now (for metrics). */
  keyCount(): number {
    return this.#index.existing;
  }

  /** Raised alarms of `type` (etcd's AlarmType number; NONE = all): the quota check and /health read them. */
  alarms(type: number = ALARM_NONE): RaisedAlarm[] {
    return listAlarms(this.#db, type);
  }

  /** The database file (a snapshot copies it through a connection of its own). */
  path(): string {
    return this.#db.filename;
  }

  /** Pages on SQLite's freelist: space a defrag can give back. */
  freePages(): number {
    return this.#pragma("freelist_count");
  }

  /**
   * One defrag step: moves up to `pages` pages to give free ones back to the file system
   * (incremental vacuum, inside the open transaction; content does not change). Only
   * stores created with auto_vacuum=INCREMENTAL can (see `canVacuumIncrementally`).
   */
  vacuumStep(pages: number): void {
    this.#db.run(`PRAGMA incremental_vacuum(${Math.max(1, Math.floor(pages))})`);
    this.#dbSize = -1;
  }

  /** Whether the file was created with auto_vacuum=INCREMENTAL (stores made before it were not). */
  canVacuumIncrementally(): boolean {
    return this.#pragma("auto_vacuum") === 2;
  }

  /**
   * Rewrites the whole file (VACUUM) with no transaction open, converting it to
   * incremental auto-vacuum; blocks for as long as it takes. Also truncates the WAL.
   */
  vacuumFull(): void {
    this.#deletes.finish();
    this.#committer.outsideTransaction(() => {
      this.#db.run("PRAGMA auto_vacuum = INCREMENTAL");
      this.#db.run("VACUUM");
      this.#truncateWal();
    });
    this.#dbSize = -1;
  }

  /** Commits and checkpoints the WAL into the file, truncating it (after a defrag). */
  checkpoint(): void {
    this.#deletes.finish();
    this.#committer.outsideTransaction(() => this.#truncateWal());
    this.#dbSize = -1;
  }

  /**
   * Checkpoints the WAL and truncates it. That waits for every reader to finish: a read
   * thread's read transaction, up to a second, rather than leaving the WAL as it is. SQLite
   * does not wait for another checkpoint (the checkpointing thread's, wal_checkpointer.ts):
   * it answers busy at once, so that is retried for up to a second too.
   */
  #truncateWal(): void {
    this.#db.run("PRAGMA busy_timeout = 1000");
    try {
      const until = performance.now() + 1000;
      while (pragmaNumber(this.#db, "wal_checkpoint(TRUNCATE)") !== 0 && performance.now() < until) {
        Bun.sleepSync(1);
      }
    } finally {
      this.#db.run("PRAGMA busy_timeout = 0");
    }
  }

  #pragma(name: "page_count" | "page_size" | "freelist_count" | "auto_vacuum"): number {
    return pragmaNumber(this.#db, name);
  }

  #advanceApplied(entry: LogEntry<unknown>): void {
    const p = this.#progress;
    if (entry.index <= p.appliedIndex) {
      throw new Error(`store: entry index ${entry.index} does not follow applied index ${p.appliedIndex}`);
    }
    if (entry.term < p.appliedTerm) {
      throw new Error(`store: entry term ${entry.term} is below applied term ${p.appliedTerm}`);
    }
    p.appliedIndex = entry.index;
    p.appliedTerm = entry.term;
  }
}
