/**
 * The maintenance machinery of a running member, built once at startup: the quota that
 * guards writes, the defragmenter, the auto compactor and the health verdict of alarms.
 */
import { create } from "@bufbuild/protobuf";
import { isEtcdError } from "../api/errors.ts";
import { InternalRaftRequestSchema } from "../proto/gen/etcdserverpb/raft_internal_pb.ts";
import { AlarmType, CompactionRequestSchema } from "../proto/gen/etcdserverpb/rpc_pb.ts";
import type { MvccStore } from "../store/mvcc.ts";
import { CompactionPolicy, parseRetention, startCompactor } from "./compactor.ts";
import type { ServerConfig } from "./config.ts";
import { Defragmenter } from "./defrag.ts";
import { log } from "./log.ts";
import type { Member } from "./member.ts";
import { MAX_QUOTA_BYTES, Quota } from "./quota.ts";

/** What serve.ts wires in. */
export interface Maintenance {
  readonly quota: Quota;
  readonly defragmenter: Defragmenter;
  /** For /health: an alarm makes the member unhealthy, as in etcd. */
  unhealthyReason(): string | null;
  stop(): void;
}

/** Starts quota, defrag and auto compaction for a member; throws on a bad flag value. */
export function startMaintenance(
  config: ServerConfig,
  deps: { readonly store: MvccStore; readonly member: Member },
): Maintenance {
  const { store, member } = deps;
  const retention = parseRetention(config.autoCompactionMode, config.autoCompactionRetention);
  if (retention instanceof Error) throw retention;
  if (config.quotaBackendBytes > MAX_QUOTA_BYTES) {
    log.warn("quota exceeds the maximum value", {
      "quota-size-bytes": config.quotaBackendBytes,
      "quota-maximum-size-bytes": MAX_QUOTA_BYTES,
    });
  }
  const quota = new Quota({ store, member, bytes: config.quotaBackendBytes });
  const compactor = retention === null ? null : startCompactor(
    new CompactionPolicy(retention, {
      rev: () => store.currentRevision(),
      isLeader: () => member.isLeader,
      now: () => performance.now(),
      async compact(rev) {
        log.info(`starting auto ${retention.mode} compaction`, { revision: rev });
        const o = await member.propose(
          create(InternalRaftRequestSchema, {
            compaction: create(CompactionRequestSchema, { revision: rev }),
          }),
        );
        const err = isEtcdError(o) ? o : o.ok ? null : o.error;
        if (err === null) log.info(`completed auto ${retention.mode} compaction`, { revision: rev });
        else log.warn(`failed auto ${retention.mode} compaction`, { revision: rev, error: err.message });
        return err;
      },
    }),
    (e) => log.error("auto compaction failed", { error: String(e) }),
  );
  return {
    quota,
    defragmenter: new Defragmenter(store),
    unhealthyReason() {
      const alarms = store.alarms();
      return alarms.length === 0 ? null : `ALARM ${AlarmType[alarms[0].alarm]}`;
    },
    stop() {
      compactor?.stop();
    },
  };
}
