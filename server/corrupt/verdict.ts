/**
 * Which members' data is corrupt, decided from HashKV answers alone (pure, no I/O), so
 * every rule of etcd's corruption checks has a unit test.
 *
 * etcd 3.4's periodic check raises CORRUPT with member ID 0 ("somewhere in the cluster");
 * 3.6 names the members that disagree with a quorum. We do the latter: the alarm then says
 * which member to replace, and with no quorum it still falls back to 0.
 */

/** A HashKV answer: the hash of the history up to a revision. */
export interface HashKv {
  readonly hash: number;
  /** The compact revision the hash was computed under (-1 before the first compaction). */
  readonly compactRevision: bigint;
}

/** The local member's own hash: `revision` is the revision it hashed up to (its head). */
export interface LocalHash extends HashKv {
  readonly revision: bigint;
}

/** A peer's answer to "your HashKV at my revision"; `revision` is the peer's head (its header). */
export interface PeerHash extends HashKv {
  readonly id: bigint;
  readonly revision: bigint;
}

/** The member ID an alarm carries when the corrupt member cannot be told apart. */
export const WHOLE_CLUSTER = 0n;

/**
 * The initial check (before a restarted member serves): the peers whose hash differs
 * from ours at the same revision under the same compaction. A peer compacted differently
 * cannot be compared and is not a mismatch.
 */
export function initialMismatches(local: HashKv, peers: readonly PeerHash[]): PeerHash[] {
  return peers.filter((p) => p.compactRevision === local.compactRevision && p.hash !== local.hash);
}

/** What the leader's periodic check saw. */
export interface PeriodicObservation {
  readonly leaderId: bigint;
  /** The leader's hash before asking the peers. */
  readonly before: LocalHash;
  /** The leader's hash again, after a linearizable read (its head is now at least every peer's). */
  readonly after: LocalHash;
  /** The peers that answered (at `before.revision`). */
  readonly answered: readonly PeerHash[];
  /** Members in the cluster, the leader included (those that did not answer count too). */
  readonly clusterSize: number;
}

/**
 * The leader's periodic check (etcd's checkHashKV): the IDs to raise CORRUPT for, each
 * once; empty when all is well.
 * - the leader's own hash changed while its revisions did not: the leader is corrupt;
 * - a peer ahead of the leader's head or compacted further than the leader: that peer;
 * - peers compacted like the leader whose hash differs: those outside the quorum that
 *   agrees on one hash, or WHOLE_CLUSTER when no hash has a quorum.
 */
export function corruptMembers(o: PeriodicObservation): bigint[] {
  const found = new Set<bigint>();
  const { before, after } = o;
  if (
    before.hash !== after.hash && before.revision === after.revision &&
    before.compactRevision === after.compactRevision
  ) {
    found.add(o.leaderId);
  }
  const comparable: PeerHash[] = [];
  for (const p of o.answered) {
    if (p.revision > after.revision || p.compactRevision > after.compactRevision) found.add(p.id);
    else if (p.compactRevision === before.compactRevision) comparable.push(p);
  }
  const byHash = new Map<number, bigint[]>([[before.hash, [o.leaderId]]]);
  for (const p of comparable) byHash.set(p.hash, [...(byHash.get(p.hash) ?? []), p.id]);
  if (byHash.size > 1) {
    const quorum = Math.floor(o.clusterSize / 2) + 1;
    const majority = [...byHash.values()].find((ids) => ids.length >= quorum);
    if (majority === undefined) found.add(WHOLE_CLUSTER);
    else {
      for (const ids of byHash.values()) {
        if (ids !== majority) { for (const id of ids) found.add(id); }
      }
    }
  }
  return [...found];
}
