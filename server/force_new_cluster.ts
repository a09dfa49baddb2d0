/**
 * `--force-new-cluster`: disaster recovery when a cluster has lost its quorum for good. A
 * surviving member restarts as a cluster of one with its data, revisions and IDs intact,
 * the way etcd's restartAsStandaloneNode does it: through the log. Entries the log holds
 * past its commit index are dropped (nobody can commit them now); conf change entries that
 * remove every other member are appended and declared committed, so the apply loop applies
 * them like any other membership change: Raft's voters shrink to this member, which elects
 * itself, and the store's roster loses the others (their IDs can never come back). The
 * operator then grows the cluster again with `member add` and new members started with
 * `--initial-cluster-state existing`.
 *
 * Run on every start with the flag, as etcd does: leave it off once the cluster has
 * members again, or they are removed again.
 */
import { confChangeFor } from "./conf-change.ts";
import type { Entry, HardState, Wal } from "../wal/wal.ts";
import { ConfChangeType, decodeConfChange, encodeConfChange, EntryType } from "../raft/mod.ts";

/** What forcing did, for the log. */
export interface ForcedRestart {
  /** The commit index afterwards: the last of the appended entries. */
  readonly commit: number;
  /** The members removed, by ID. */
  readonly removed: readonly bigint[];
  /** Uncommitted entries dropped from the log's tail. */
  readonly discarded: number;
}

/**
 * The entries that make `self` the only member, following the log's committed `entries`
 * (after its snapshot, whose membership is `atSnapshot`): this member added first if the
 * log does not have it (Raft must never be left without a voter), then every other
 * member removed, in ID order, all in the last term.
 */
export function standaloneEntries(
  log: { atSnapshot: readonly bigint[]; entries: readonly Entry[]; hardState: HardState },
  self: bigint,
): Entry[] {
  const ids = new Set(log.atSnapshot);
  for (const e of log.entries) {
    if (e.type !== EntryType.EntryConfChange) continue;
    const cc = decodeConfChange(e.data);
    if (cc.type === ConfChangeType.ConfChangeRemoveNode) ids.delete(cc.nodeId);
    else if (cc.type !== ConfChangeType.ConfChangeUpdateNode) ids.add(cc.nodeId);
  }
  const changes = [];
  if (!ids.has(self)) {
    // etcd's placeholder URL: the operator corrects it with `member update`.
    const member = {
      id: self,
      name: "",
      peerUrls: ["http://localhost:2380"],
      clientUrls: [],
      isLearner: false,
    };
    changes.push(confChangeFor({ kind: "add", member }));
  }
  const others = [...ids].filter((id) => id !== self).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const id of others) changes.push(confChangeFor({ kind: "remove", id }));
  const { term, commit } = log.hardState;
  return changes.map((cc, i) => ({
    index: commit + 1 + i,
    term,
    type: EntryType.EntryConfChange,
    data: encodeConfChange(cc),
  }));
}

/**
 * Rewrites `wal`'s tail so that the member restarts alone (see the module's comment), and
 * makes it durable. `members` is the store's roster, the membership at the snapshot when
 * the log's snapshot mark predates recording it. Reopen the log afterwards: its replay
 * still shows what it held before.
 */
export function forceStandalone(wal: Wal, members: () => readonly { id: bigint }[]): ForcedRestart {
  const { snapshot, hardState, entries, meta } = wal.replay;
  if (meta === null) throw new Error("force-new-cluster: the log does not say which member it belongs to");
  // The store never applies past the commit index, nor does the log snapshot past it.
  const commit = hardState.commit > snapshot.index ? hardState.commit : snapshot.index;
  const committed = entries.filter((e) => e.index <= commit);
  const atSnapshot = snapshot.index === 0
    ? []
    : snapshot.confState !== undefined
    ? [...snapshot.confState.voters, ...snapshot.confState.learners]
    : members().map((m) => m.id);
  const append = standaloneEntries(
    { atSnapshot, entries: committed, hardState: { ...hardState, commit } },
    meta.memberId,
  );
  const last = append.length > 0 ? append[append.length - 1].index : commit;
  wal.save(append, { ...hardState, commit: last });
  wal.syncNow();
  const removed = append.map((e) => decodeConfChange(e.data))
    .filter((cc) => cc.type === ConfChangeType.ConfChangeRemoveNode)
    .map((cc) => cc.nodeId);
  return { commit: last, removed, discarded: entries.length - committed.length };
}
