/**
 * The contract between the store and what applies requests to it. The store owns the
 * batch (one transaction, the applied index and term, rollback, damage found on the way);
 * an `Applier`, given the store's parts, turns one request into writes and a reply. The
 * store knows no request or reply schema: `R` and `Resp` are the applier's own (the
 * server's are etcd's InternalRaftRequest and etcdserverpb replies, server/apply/).
 */
import type { Database } from "bun:sqlite";
import type { EtcdError } from "../api/errors.ts";
import type { Event } from "../proto/gen/mvccpb/kv_pb.ts";
import type { RaisedAlarms } from "./alarm.ts";
import type { KeyIndex, RevisionKey } from "./key_index.ts";
import type { WrittenKvs } from "./read_workers.ts";
import type { MemberChange } from "./members.ts";
import type { KvReader } from "./reader.ts";
import type { WriteStatements } from "./writer.ts";

/** A committed log entry to apply; `request: null` is an empty or conf-change entry. */
export interface LogEntry<R> {
  readonly index: bigint;
  readonly term: bigint;
  readonly request: R | null;
  /** The membership change of a conf-change entry. */
  readonly memberChange?: MemberChange;
}

/** The result of applying one log entry: the reply for the waiting caller and the events to publish. */
export type ApplyOutcome<Resp> =
  | {
    ok: true;
    /** The store revision after this entry. */
    revision: bigint;
    response: Resp | null;
    /** Every change of this entry's revision, in order, prevKv filled (empty if nothing changed). */
    events: Event[];
  }
  | {
    ok: false;
    error: EtcdError;
    /** What the entry changed all the same (it read a damaged row: see MvccStore), if anything. */
    events?: Event[];
  };

/** The store's revision counters, mutated only by the apply path. */
export interface Revisions {
  currentRev: bigint;
  /** etcd's compactMainRev: -1 before the first compaction. */
  compactRev: bigint;
}

/** The revisions a read is checked against. */
export interface ReadView {
  /** What a read with revision 0 sees; includes the open write's own changes. */
  readonly rev: bigint;
  /** etcd's compactMainRev: -1 before the first compaction. */
  readonly compactRev: bigint;
}

/** What a read outside the apply loop gets: verified rows, at the revisions of its start. */
export interface ReadDeps {
  readonly reader: KvReader;
  readonly view: ReadView;
  /** For a read-only txn run through the write path (which must change nothing). */
  readonly writeStatements: WriteStatements;
  /**
   * The rows of `revs` (in key order) encoded as RangeResponse `kvs` by a read worker, or
   * null where the caller reads them itself (MvccStore decides which reads go).
   */
  readonly encodeKvs: (revs: readonly RevisionKey[], values: boolean) => Promise<WrittenKvs | null>;
  /** The compaction revision now, which a read that waited may find moved past its own. */
  readonly compactRevNow: () => bigint;
}

/** Everything an applier may touch, inside the batch's transaction. */
export interface ApplyDeps {
  readonly db: Database;
  readonly reader: KvReader;
  readonly writeStatements: WriteStatements;
  /** Which revisions each key has (compaction trims it). */
  readonly index: KeyIndex;
  /** The raised alarms the gate checks (cached; invalidated when an alarm entry applies). */
  readonly alarms: RaisedAlarms;
  readonly revisions: Revisions;
  hasLease(id: bigint): boolean;
  /** Index of the entry being applied. */
  appliedIndex(): bigint;
  /**
   * Compacts at `rev`: in effect at once; the key index's walk and the deletes of the
   * dropped rows of `history` now or over later turns (compaction_deletes.ts).
   */
  compact(rev: bigint): void;
}

/** Applies one request inside the batch's transaction. */
export type Applier<R, Resp> = (deps: ApplyDeps, request: R) => ApplyOutcome<Resp>;
