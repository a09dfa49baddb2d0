/**
 * Joining an existing cluster (--initial-cluster-state existing): ask the peers named in
 * --initial-cluster for the membership, and find ourselves in it by our peer URLs, as
 * etcd's GetClusterFromRemotePeers does. The member must have been added first
 * (`member add`), which is where its ID was chosen.
 */
import type { MemberRecord } from "../store/mvcc.ts";
import { MEMBERS_PATH, type PeerTls } from "./peer.ts";
import { peerFetch } from "./peer_dial.ts";

/** What a joining member learns from the cluster. */
export interface Joined {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  readonly members: readonly MemberRecord[];
}

interface MemberJson {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

/** Asks each peer URL in turn; an error value names why none answered usefully. */
export async function joinCluster(
  opts: {
    peerUrls: readonly string[];
    selfPeerUrls: readonly string[];
    timeoutMs: number;
    /** Bun fetch's `tls` option for https peers. */
    tls?: PeerTls["client"];
  },
): Promise<Joined | Error> {
  let lastError = "no peer URLs to ask";
  const self = [...opts.selfPeerUrls].sort().join(",");
  for (const url of opts.peerUrls) {
    if (opts.selfPeerUrls.includes(url)) continue;
    try {
      const r = await peerFetch(
        url.replace(/\/$/, "") + MEMBERS_PATH,
        { signal: AbortSignal.timeout(opts.timeoutMs) },
        opts.tls,
      );
      if (!r.ok) {
        lastError = `${url} answered ${r.status}`;
        continue;
      }
      const cid = r.headers.get("X-Etcd-Cluster-ID");
      const members = ((await r.json()) as MemberJson[]).map((m): MemberRecord => ({
        id: BigInt(`0x${m.id}`),
        name: m.name,
        peerUrls: m.peerURLs,
        clientUrls: m.clientURLs,
        isLearner: m.isLearner,
      }));
      const me = members.find((m) => [...m.peerUrls].sort().join(",") === self);
      if (cid === null || me === undefined) {
        return new Error(
          `error validating peerURLs: member with peer URLs ${self} is not in the cluster (add it with 'member add' first)`,
        );
      }
      return { clusterId: BigInt(`0x${cid}`), memberId: me.id, members };
    } catch (e) {
      lastError = `${url}: ${(e as Error).message}`;
    }
  }
  return new Error(`cannot fetch cluster info from peer urls: ${lastError}`);
}
