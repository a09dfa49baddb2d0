/** Cluster-wide questions the cluster tests ask over gRPC. */
import { Maintenance } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { Client } from "../../client/mod.ts";

/** Index (into `endpoints`) of the member that says it leads, or -1. */
export async function leaderIndex(endpoints: readonly string[]): Promise<number> {
  for (let i = 0; i < endpoints.length; i++) {
    const c = new Client({ endpoints: [endpoints[i]], callTimeoutMs: 1000 });
    try {
      const s = await c.service(Maintenance).status({});
      if (s.leader !== 0n && s.leader === s.header!.memberId) return i;
    } catch {
      // a dead or partitioned member
    } finally {
      c.close();
    }
  }
  return -1;
}
