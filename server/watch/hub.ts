/**
 * The watchable store (etcd's watchableStore): every watcher of every stream, in one of
 * two groups. Synced watchers are at the head and get each applied revision's events
 * pushed as it is applied; unsynced ones (started in the past, or parked because their
 * client stopped reading) are caught up from the store's history, then rejoin the synced
 * group. A slow client therefore costs a revision number per watcher, never a queue.
 */
import { Errors, type EtcdError, isEtcdError } from "../../api/errors.ts";
import type { ResponseHeader } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { Event } from "../../proto/gen/mvccpb/kv_pb.ts";
import type { EventsQuery } from "../../store/events.ts";
import { type EncodedField, encodeEvent, encodeHeader, RevisionEvents } from "./encode.ts";
import { filtersAny, passes } from "./filters.ts";
import { bytesKey, rangeContains, storeRangeEnd } from "./range.ts";
import type { Watcher, WatcherSink } from "./watcher.ts";

/** The store as the hub reads it. */
export interface HistorySource {
  currentRevision(): bigint;
  compactRevision(): bigint;
  eventsSince(q: EventsQuery): Event[] | EtcdError;
}

/** Applied events as the apply loop reports them (server/member.ts's AppliedBatch). */
export interface AppliedEvents {
  readonly events: readonly Event[];
}

export interface WatchHubOptions {
  /** Response headers at a revision (cluster, member, term). */
  readonly header: (revision: bigint) => ResponseHeader;
  /** Most distinct revisions in one catch-up response (etcd: 1000). */
  readonly maxRevisionsPerCatchUp?: number;
  /** Most unsynced watchers caught up per turn of the event loop (etcd: 512). */
  readonly maxWatchersPerSync?: number;
}

/** All watchers of this member and the two ways events reach them. */
export class WatchHub {
  readonly #store: HistorySource;
  readonly #header: (revision: bigint) => ResponseHeader;
  readonly #maxRevs: number;
  readonly #maxWatchers: number;
  /** Synced single-key watchers by key. */
  readonly #byKey = new Map<string, Set<Watcher>>();
  /** Synced range and from-key watchers (tested one by one: typically few). */
  readonly #ranges = new Set<Watcher>();
  readonly #unsynced = new Set<Watcher>();
  /** Sinks sent to by the notify or catch-up round in progress; flushed when it ends. */
  readonly #touched = new Set<WatcherSink>();
  #syncScheduled = false;
  #closed = false;

  constructor(store: HistorySource, opts: WatchHubOptions) {
    this.#store = store;
    this.#header = opts.header;
    this.#maxRevs = opts.maxRevisionsPerCatchUp ?? 1000;
    this.#maxWatchers = opts.maxWatchersPerSync ?? 512;
  }

  /** The revision new watchers start after and progress answers report. */
  currentRevision(): bigint {
    return this.#store.currentRevision();
  }

  /** Counts for tests and metrics. */
  sizes(): { synced: number; unsynced: number } {
    let synced = this.#ranges.size;
    for (const s of this.#byKey.values()) synced += s.size;
    return { synced, unsynced: this.#unsynced.size };
  }

  /**
   * Starts feeding `w` from `startRev` (0 = after the current revision). A start in the
   * past makes it unsynced: history is replayed from the store first.
   */
  add(w: Watcher, startRev: bigint): void {
    const cur = this.#store.currentRevision();
    if (startRev === 0n || startRev > cur) {
      w.minRev = startRev > cur + 1n ? startRev : cur + 1n;
      this.#addSynced(w);
    } else {
      w.minRev = startRev;
      w.state = "unsynced";
      this.#unsynced.add(w);
      this.#scheduleSync();
    }
  }

  /** Stops feeding `w`. Idempotent. */
  remove(w: Watcher): void {
    if (w.state === "synced") this.#removeSynced(w);
    else if (w.state === "unsynced") this.#unsynced.delete(w);
    w.state = "canceled";
  }

  /** Whether `w` has seen everything up to the current revision (progress may be reported). */
  isSynced(w: Watcher): boolean {
    return w.state === "synced";
  }

  /**
   * The store was replaced by a leader's snapshot: the revisions after `previousRevision`
   * never passed through `notify`, so every synced watcher reads them from the store.
   */
  resync(previousRevision: bigint): void {
    const synced = [...this.#ranges];
    for (const set of this.#byKey.values()) synced.push(...set);
    for (const w of synced) {
      this.#removeSynced(w);
      if (w.minRev <= previousRevision) w.minRev = previousRevision + 1n;
      w.state = "unsynced";
      this.#unsynced.add(w);
    }
    this.#scheduleSync();
  }

  /** A sink stopped being blocked: catch its parked watchers up. */
  wake(): void {
    this.#scheduleSync();
  }

  /** Stops catch-up work (the server is stopping). */
  close(): void {
    this.#closed = true;
  }

  /**
   * The live feed: an applied batch's events, in revision order. Each synced watcher gets
   * one response per revision holding all its events of that revision.
   */
  notify(batch: AppliedEvents): void {
    const events = batch.events;
    let i = 0;
    while (i < events.length) {
      const rev = events[i].kv!.modRevision;
      let j = i + 1;
      while (j < events.length && events[j].kv!.modRevision === rev) j++;
      if (j < events.length && events[j].kv!.modRevision < rev) {
        throw new Error(`watch: applied events go back from revision ${rev}`);
      }
      this.#notifyRevision(
        new RevisionEvents(rev, i === 0 && j === events.length ? events : events.slice(i, j)),
      );
      i = j;
    }
    this.#flushTouched();
  }

  #notifyRevision(rev: RevisionEvents): void {
    const header = { value: undefined as EncodedField | undefined };
    if (rev.events.length === 1) {
      // The common case: one event, so each watcher's share is that event; no grouping.
      const key = rev.events[0].kv!.key;
      const set = this.#byKey.get(bytesKey(key));
      if (set !== undefined) { for (const w of set) this.#deliverLive(w, rev, SINGLE, header); }
      for (const w of this.#ranges) {
        if (rangeContains(w.spec.range, key)) this.#deliverLive(w, rev, SINGLE, header);
      }
      return;
    }
    const shares = new Map<Watcher, number[]>();
    for (let i = 0; i < rev.events.length; i++) {
      const key = rev.events[i].kv!.key;
      const set = this.#byKey.get(bytesKey(key));
      if (set !== undefined) { for (const w of set) share(shares, w, i); }
      for (const w of this.#ranges) if (rangeContains(w.spec.range, key)) share(shares, w, i);
    }
    for (const [w, idx] of shares) this.#deliverLive(w, rev, idx, header);
  }

  #deliverLive(
    w: Watcher,
    rev: RevisionEvents,
    idx: readonly number[],
    header: { value: EncodedField | undefined },
  ): void {
    if (rev.revision < w.minRev) return; // joined after this revision was read from history
    if (w.sink.blocked) {
      // Park it: it will read this revision and later ones from the store once the client reads again.
      this.#removeSynced(w);
      w.minRev = rev.revision;
      w.state = "unsynced";
      this.#unsynced.add(w);
      return;
    }
    let out: readonly EncodedField[];
    if (idx.length === rev.events.length && !filtersAny(w.spec.filter)) {
      out = rev.all(w.spec.prevKv); // the common case: shared, nothing to allocate per watcher
    } else {
      const some: EncodedField[] = [];
      for (const i of idx) {
        if (passes(w.spec.filter, rev.events[i])) some.push(rev.encoded(i, w.spec.prevKv));
      }
      out = some;
    }
    w.advance(rev.revision, rev.next);
    if (out.length === 0) return; // everything filtered out: etcd sends nothing
    header.value ??= encodeHeader(this.#header(rev.revision));
    w.sink.sendEvents(w, header.value, out);
    this.#touched.add(w.sink);
  }

  #flushTouched(): void {
    for (const sink of this.#touched) sink.flush();
    this.#touched.clear();
  }

  #addSynced(w: Watcher): void {
    w.state = "synced";
    if (w.spec.range.kind !== "key") {
      this.#ranges.add(w);
      return;
    }
    let set = this.#byKey.get(w.spec.range.keyString);
    if (set === undefined) this.#byKey.set(w.spec.range.keyString, set = new Set());
    set.add(w);
  }

  #removeSynced(w: Watcher): void {
    if (w.spec.range.kind !== "key") {
      this.#ranges.delete(w);
      return;
    }
    const set = this.#byKey.get(w.spec.range.keyString);
    if (set === undefined) return;
    set.delete(w);
    if (set.size === 0) this.#byKey.delete(w.spec.range.keyString);
  }

  #scheduleSync(): void {
    if (this.#syncScheduled || this.#closed || this.#unsynced.size === 0) return;
    this.#syncScheduled = true;
    setImmediate(() => this.#sync());
  }

  /** One round of catch-up; another follows (next turn) while readable watchers remain. */
  #sync(): void {
    this.#syncScheduled = false;
    if (this.#closed) return;
    const cur = this.#store.currentRevision();
    let done = 0;
    let more = false;
    const round = new CatchUpRound();
    for (const w of this.#unsynced) {
      if (w.sink.blocked) continue;
      if (done === this.#maxWatchers) {
        more = true;
        break;
      }
      done++;
      this.#catchUp(w, cur, round);
      if (w.state === "unsynced" && !w.sink.blocked) more = true;
    }
    this.#flushTouched();
    if (more) this.#scheduleSync();
  }

  #catchUp(w: Watcher, cur: bigint, round: CatchUpRound): void {
    if (w.minRev > cur) {
      this.#rejoin(w);
      return;
    }
    const r = round.history(w, () =>
      this.#store.eventsSince({
        key: w.spec.range.key,
        rangeEnd: storeRangeEnd(w.spec.range),
        fromRev: w.minRev,
        toRev: cur,
        prevKv: w.spec.prevKv,
        limit: this.#maxRevs,
      }));
    if (isEtcdError(r)) {
      this.#unsynced.delete(w);
      if (r.message === Errors.Compacted.message) {
        w.state = "compacted";
        w.sink.sendCompacted(w, this.#store.compactRevision());
      } else {
        // A damaged stored revision (the store raised CORRUPT): the watcher cannot be
        // caught up truthfully, so it ends, telling the client why.
        w.state = "canceled";
        w.sink.sendCanceled(w, r.message);
      }
      return;
    }
    // A full batch may have stopped short of `cur`: report only what it covers.
    const last = r.length > 0 ? r[r.length - 1].kv!.modRevision : cur;
    const partial = r.length > 0 && last < cur && distinctRevisions(r) >= this.#maxRevs;
    const upTo = partial ? last : cur;
    const out: EncodedField[] = [];
    let prev = w.minRev;
    for (const ev of r) {
      const evRev = ev.kv!.modRevision;
      if (evRev < prev || evRev > cur) {
        throw new Error(`watch: history returned revision ${evRev} out of order`);
      }
      prev = evRev;
      if (passes(w.spec.filter, ev)) out.push(round.encoded(ev));
    }
    if (r.length > 0) w.advance(r[0].kv!.modRevision, upTo + 1n);
    else w.minRev = cur + 1n;
    if (out.length > 0) {
      w.sink.sendEvents(w, round.header(upTo, this.#header), out);
      this.#touched.add(w.sink);
    }
    if (!partial) this.#rejoin(w);
  }

  #rejoin(w: Watcher): void {
    this.#unsynced.delete(w);
    this.#addSynced(w);
    w.sink.caughtUp(w);
  }
}

const SINGLE: readonly number[] = [0];

/**
 * One catch-up round's reads and encodings, shared: watchers parked together (e.g. the
 * watchers of one stream whose client was slow) ask for the same history, which is then
 * read from the store and encoded once rather than once per watcher.
 */
class CatchUpRound {
  readonly #histories = new Map<string, Event[] | EtcdError>();
  readonly #encoded = new Map<Event, EncodedField>();
  readonly #headers = new Map<bigint, EncodedField>();

  /** `w`'s history from its next revision, read by `read` unless an equal watcher read it. */
  history(w: Watcher, read: () => Event[] | EtcdError): readonly Event[] | EtcdError {
    const r = w.spec.range;
    // Unambiguous: fixed fields first, then the start key by its length, then the end.
    const key = `${r.kind}|${w.minRev}|${w.spec.prevKv}|${r.keyString.length}|${r.keyString}${
      bytesKey(r.end)
    }`;
    let h = this.#histories.get(key);
    if (h === undefined) this.#histories.set(key, h = read());
    return h;
  }

  encoded(ev: Event): EncodedField {
    let e = this.#encoded.get(ev);
    if (e === undefined) this.#encoded.set(ev, e = encodeEvent(ev));
    return e;
  }

  header(revision: bigint, make: (revision: bigint) => ResponseHeader): EncodedField {
    let h = this.#headers.get(revision);
    if (h === undefined) this.#headers.set(revision, h = encodeHeader(make(revision)));
    return h;
  }
}

function share(shares: Map<Watcher, number[]>, w: Watcher, i: number): void {
  const s = shares.get(w);
  if (s === undefined) shares.set(w, [i]);
  else s.push(i);
}

function distinctRevisions(events: readonly Event[]): number {
  let n = 0;
  let last = -1n;
  for (const ev of events) {
    if (ev.kv!.modRevision !== last) {
      n++;
      last = ev.kv!.modRevision;
    }
  }
  return n;
}
