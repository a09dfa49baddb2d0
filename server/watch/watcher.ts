/**
 * One watcher: what it watches and how far it has seen. Owned by its stream (which
 * created it and answers for it) and tracked by the hub (which feeds it events).
 */
import type { EncodedField } from "./encode.ts";
import type { EventFilter } from "./filters.ts";
import { watchIdField } from "./frame.ts";
import type { WatchRange } from "./range.ts";

/**
 * Where the hub hands a watcher's responses: its client stream. The hub never sends to a
 * blocked sink; it parks the watcher as unsynced and catches it up after `wake()`.
 */
export interface WatcherSink {
  /** The client is not reading: send nothing now. */
  readonly blocked: boolean;
  /** One response of events at header revision `header`; all events of a revision at once. */
  sendEvents(w: Watcher, header: EncodedField, events: readonly EncodedField[]): void;
  /** The watcher's start is compacted away: etcd answers compact_revision and cancels. */
  sendCompacted(w: Watcher, compactRevision: bigint): void;
  /** The hub cannot feed the watcher any more (`reason` says why): cancel it. */
  sendCanceled(w: Watcher, reason: string): void;
  /** The watcher caught up with the live stream (a deferred progress answer may now go out). */
  caughtUp(w: Watcher): void;
  /**
   * Writes what was sent since the last flush. The hub calls it once it has handed out an
   * applied batch or a catch-up round, so the events leave in the apply's own turn rather
   * than after the rest of the apply loop's work.
   */
  flush(): void;
}

/** Where a watcher stands in the hub. */
export type WatcherState = "synced" | "unsynced" | "compacted" | "canceled";

/** What a watcher watches and how its responses look; fixed at creation. */
export interface WatcherSpec {
  readonly id: bigint;
  readonly range: WatchRange;
  readonly filter: EventFilter;
  readonly prevKv: boolean;
  readonly progressNotify: boolean;
  readonly fragment: boolean;
}

export class Watcher {
  readonly spec: WatcherSpec;
  readonly sink: WatcherSink;
  /** The lowest revision this watcher has not seen yet: it never receives anything below. */
  minRev = 0n;
  state: WatcherState = "unsynced";
  /** No events went out since the last progress tick (etcd elides progress after events). */
  progressDue = true;
  #idField: Uint8Array | undefined;

  constructor(spec: WatcherSpec, sink: WatcherSink) {
    this.spec = spec;
    this.sink = sink;
  }

  /** The id as an encoded response field, made on the first event (idle watchers cost less without it). */
  get idField(): Uint8Array {
    return this.#idField ??= watchIdField(this.spec.id);
  }

  /**
   * Records that everything below `next` was delivered. Moving backwards would repeat or
   * reorder events: a bug, so it throws rather than corrupt a client's view.
   */
  advance(deliveredRev: bigint, next: bigint): void {
    if (deliveredRev < this.minRev) {
      throw new Error(
        `watch: revision ${deliveredRev} for watcher ${this.spec.id} is below its next ${this.minRev}`,
      );
    }
    if (next <= deliveredRev) {
      throw new Error(`watch: watcher ${this.spec.id} would not move past ${deliveredRev}`);
    }
    this.minRev = next;
  }
}
