/**
 * etcd's state machine over the store: committed requests applied (apply.ts), reads served
 * outside the log (ranges and read-only txns), and the auth rules whose rows the store
 * keeps. The member's apply loop feeds it; the services read through it. The store itself
 * knows no request or reply (store/applier.ts).
 */
import type { EtcdError } from "../../api/errors.ts";
import type { InternalRaftRequest } from "../../proto/gen/etcdserverpb/raft_internal_pb.ts";
import type {
  RangeRequest,
  RangeResponse,
  TxnRequest,
  TxnResponse,
} from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import type { Applier, LogEntry, MvccStore } from "../../store/mvcc.ts";
import type { LeaseChange } from "../../store/lease.ts";
import { RevisionWrite } from "../../store/writer.ts";
import { AuthStore } from "../auth/store.ts";
import { type Outcome, requestApplier, type Response } from "./apply.ts";
import { executeRange, executeRangeInSteps } from "./range.ts";
import { applyTxn, isReadOnly } from "./txn.ts";

/** A committed log entry as the apply loop hands it over. */
export type Entry = LogEntry<InternalRaftRequest>;

export class StateMachine {
  readonly store: MvccStore;
  /** The replicated users, roles and auth flag; read-only outside the apply loop. */
  readonly auth: AuthStore;
  readonly #apply: Applier<InternalRaftRequest, Response>;
  readonly #leaseListeners: ((c: LeaseChange) => void)[] = [];
  #observeApply: ((request: InternalRaftRequest, ms: number) => void) | null = null;

  constructor(store: MvccStore) {
    this.store = store;
    this.auth = new AuthStore(store.authTables);
    const apply = requestApplier({
      auth: this.auth,
      leaseChanged: (c) => {
        for (const l of this.#leaseListeners) l(c);
      },
    });
    this.#apply = (deps, request) => {
      if (this.#observeApply === null) return apply(deps, request);
      const started = performance.now();
      const outcome = apply(deps, request);
      this.#observeApply(request, performance.now() - started);
      return outcome;
    };
  }

  /** Applies committed entries in order, in one store transaction (MvccStore.applyBatch). */
  applyBatch(entries: readonly Entry[]): Outcome[] {
    return this.store.applyBatch(entries, this.#apply);
  }

  /**
   * Replaces the store with the copy at `src` (a snapshot from the leader): the auth image
   * is read again, since users, roles and the flag came with the copy.
   */
  installCopy(src: string): void {
    this.store.installCopy(src);
    this.auth.reload();
  }

  /** Serves a range at the head or a retained revision (serializable reads call this directly). */
  range(req: RangeRequest): RangeResponse | EtcdError {
    return this.store.read("range", (d) => executeRange(d.reader, req, d.view));
  }

  /**
   * `range`, reading the rows a statement at a time with `between()` after each (see
   * KvReader.revisionsInSteps): the state it answers is the one at the call.
   */
  rangeInSteps(req: RangeRequest, between: () => Promise<void> | null): Promise<RangeResponse | EtcdError> {
    return this.store.readInSteps("range", (d) => executeRangeInSteps(d, req, between));
  }

  /**
   * Serves a read-only txn (see `isReadOnly`) without going through the log, as etcd does
   * for serializable ones and, after a read index, linearizable ones.
   */
  readTxn(req: TxnRequest): TxnResponse | EtcdError {
    if (!isReadOnly(req)) throw new Error("store: readTxn given a txn that may write");
    return this.store.read("txn", (d) => {
      const w = new RevisionWrite(d.writeStatements, d.reader, d.view.rev);
      const env = { reader: d.reader, compactRev: d.view.compactRev, hasLease: () => false };
      const resp = applyTxn(env, w, req);
      if (w.changed()) throw new Error("store: a read-only txn changed the store");
      return resp;
    });
  }

  /** Subscribes to lease changes as entries are applied (the lessor's feed). */
  onLeaseChange(listener: (c: LeaseChange) => void): void {
    this.#leaseListeners.push(listener);
  }

  /** Told how long each request took to apply, in ms (--experimental-warning-apply-duration). */
  observeApply(fn: (request: InternalRaftRequest, ms: number) => void): void {
    this.#observeApply = fn;
  }
}
