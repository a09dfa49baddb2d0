/**
 * A new cluster's members and the first log of one of them. `serve` bootstraps from
 * `initialRoster` when its data dir has no log; `snapshot restore` writes that same first log
 * beside the store it restores (`writeBootstrapLog`), as etcd's restore writes a WAL, so
 * that the restored data dir starts as a member of the cluster named at restore time with
 * only `--data-dir` and `--name`: later cluster flags are ignored, as for any member that
 * has a log. Without it, a member restored for a 3-member cluster and started without
 * `--initial-cluster` bootstrapped a one-member cluster of its own.
 */
import { MemoryStorage, RawNode } from "../raft/mod.ts";
import type { MemberRecord } from "../store/mvcc.ts";
import { Wal } from "../wal/wal.ts";
import { bootstrapContexts } from "./conf-change.ts";
import type { ServerConfig } from "./config.ts";
import { clusterId, memberId } from "./ids.ts";

/** The members of a new cluster as --initial-cluster names them, with etcd's derived IDs. */
export function initialRoster(
  config: Pick<ServerConfig, "initialCluster" | "initialClusterToken">,
): MemberRecord[] {
  return [...config.initialCluster].map(([name, urls]) => ({
    id: memberId(urls, { clusterToken: config.initialClusterToken }),
    // Client URLs arrive when each member publishes them; names come from the flag, as in etcd.
    name,
    peerUrls: urls,
    clientUrls: [],
    isLearner: false,
  }));
}

/** The identity of `name`'s member in the new cluster of `roster` (config checked it is there). */
export function newClusterIds(
  roster: readonly MemberRecord[],
  name: string,
): { readonly memberId: bigint; readonly clusterId: bigint } {
  const self = roster.find((m) => m.name === name);
  if (self === undefined) throw new Error(`--initial-cluster does not name ${name}`);
  return { memberId: self.id, clusterId: clusterId(roster.map((m) => m.id)) };
}

/**
 * Writes to `walDir` (which must hold no log) the log `self`'s member would persist at its
 * first start in a new cluster of `roster`: the identity as metadata, then what Raft's
 * bootstrap makes its first Ready persist (the members as committed conf changes at term 1).
 */
export function writeBootstrapLog(
  walDir: string,
  roster: readonly MemberRecord[],
  self: { readonly memberId: bigint; readonly clusterId: bigint },
): void {
  if (Wal.exists(walDir)) throw new Error(`wal-dir "${walDir}" holds a log already`);
  const node = new RawNode({
    id: self.memberId,
    peers: roster.map((m) => m.id),
    peerContexts: bootstrapContexts(roster),
    storage: new MemoryStorage(),
  });
  const rd = node.ready();
  if (rd.entries.length !== roster.length || rd.hardState === null) {
    throw new Error(`raft bootstrapped ${rd.entries.length} entries for ${roster.length} members`);
  }
  const wal = Wal.open(walDir, { meta: self });
  try {
    wal.save(rd.entries, rd.hardState);
    wal.syncNow();
  } finally {
    wal.close();
  }
}
