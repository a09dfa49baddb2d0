/**
 * The Watch service: one WatchStream per call, on the member's hub (which serve.ts feeds
 * with applied batches and snapshot installs).
 */
import type { Watch, WatchCreateRequest } from "../../proto/gen/etcdserverpb/rpc_pb.ts";
import { GRPC_OVERHEAD_BYTES, type ImplOf } from "../grpc/server.ts";
import { responseHeader } from "../header.ts";
import type { Member } from "../member.ts";
import { parseGoDuration } from "../../lib/gofmt.ts";
import type { WatchHub } from "../watch/hub.ts";
import { WatchStream } from "../watch/stream.ts";
import type { AuthGuard } from "../auth/guard.ts";
import { Errors } from "../../api/errors.ts";
import { storeRangeEnd } from "../watch/range.ts";

/** etcd's floor for --experimental-watch-progress-notify-interval. */
const MIN_PROGRESS_MS = 100;

export interface WatchDeps {
  readonly member: Member;
  readonly hub: WatchHub;
  /** --max-request-bytes: fragmenting watchers split responses above it (plus gRPC overhead). */
  readonly maxRequestBytes: number;
  /** --experimental-watch-progress-notify-interval, a Go duration ("10m") or milliseconds; 0 disables. */
  readonly progressNotifyInterval?: string | number;
  /** Aborted when the server stops: the hub must not touch the store after it is closed. */
  readonly stopping?: AbortSignal;
  /** Auth: checks each create request (etcd's isWatchPermitted). */
  readonly guard?: AuthGuard;
  /** Filled in for metrics: open streams and the hub's watcher counts. */
  readonly stats?: WatchStats;
}

/** What etcd's watch gauges read (etcd_debugging_mvcc_watch_stream_total, _watcher_total, ...). */
export interface WatchStats {
  streams: number;
  sizes: () => { synced: number; unsynced: number };
}

/** The Watch service over the member's hub. */
export function watchService(deps: WatchDeps): Partial<ImplOf<typeof Watch>> {
  const header = (revision: bigint) => responseHeader(deps.member, revision);
  const { hub } = deps;
  if (deps.stats !== undefined) deps.stats.sizes = () => hub.sizes();
  deps.stopping?.addEventListener("abort", () => hub.close(), { once: true });
  const progressIntervalMs = progressInterval(deps.progressNotifyInterval ?? "10m");
  const maxResponseBytes = deps.maxRequestBytes + GRPC_OVERHEAD_BYTES;
  return {
    async watch(input, out, ctx) {
      const guard = deps.guard;
      const permit = guard === undefined
        ? undefined
        : (c: WatchCreateRequest) => guard.checkWatch(c, ctx)?.message ?? null;
      const stream = new WatchStream(out, { hub, header, maxResponseBytes, progressIntervalMs, permit });
      // After an auth change, watchers whose creator may no longer read their range end.
      const unsubscribe = guard?.onChange(() => {
        const who = ctx.auth;
        if (who === undefined) return;
        stream.cancelWhere(
          Errors.PermissionDenied.message,
          (r) => !guard.stillReadable(who, r.key, storeRangeEnd(r)),
        );
      });
      if (deps.stats !== undefined) deps.stats.streams++;
      try {
        await stream.serve(input, ctx.signal);
      } finally {
        unsubscribe?.();
        if (deps.stats !== undefined) deps.stats.streams--;
      }
    },
  };
}

function progressInterval(v: string | number): number {
  const ms = typeof v === "number" ? v : parseGoDuration(v);
  if (typeof ms !== "number") throw new Error(`invalid watch progress notify interval: ${ms.error}`);
  if (ms <= 0) return 0;
  return Math.max(ms, MIN_PROGRESS_MS);
}
