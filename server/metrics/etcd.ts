/**
 * etcd's metrics, by etcd's names and help texts, for what operators alert on. Gauges and
 * totals are read from the member and store at scrape time; durations are observed through
 * the single optional callback each hot path offers (WAL fsync, backend commit, peer round
 * trip, gRPC call finished).
 */
import * as fs from "node:fs";
import { Code } from "../../api/errors.ts";
import type { HandledCall } from "../grpc/server.ts";
import { idHex } from "../ids.ts";
import { CLUSTER_VERSION, SERVER_VERSION } from "../../api/version.ts";
import { CounterVec, exponentialBuckets, Histogram, type Labels, Registry } from "./exposition.ts";
import { MORE_FAMILIES } from "./etcd_families.ts";

/** What the metrics read from the running member. */
export interface MetricsSource {
  readonly member: {
    readonly memberId: bigint;
    readonly leaderId: bigint;
    readonly isLeader: boolean;
    readonly leaderChanges: number;
    readonly raftIndex: bigint;
    readonly appliedIndex: bigint;
    readonly pendingProposals: number;
    readonly failedProposals: number;
    readonly isLearner?: boolean;
  };
  /** Open watch streams and watchers (server/services/watch.ts fills it in). */
  readonly watch?: {
    readonly streams: number;
    readonly sizes: () => { readonly synced: number; readonly unsynced: number };
  };
  /** --quota-backend-bytes as applied (etcd_server_quota_backend_bytes). */
  readonly quotaBackendBytes?: number;
  readonly store: {
    dbSize(): number;
    dbSizeInUse(): number;
    keyCount(): number;
    currentRevision(): bigint;
    compactRevision(): bigint;
  };
}

/** The metrics of one server and the observers its hot paths call. */
export interface EtcdMetrics {
  readonly registry: Registry;
  readonly observeHandled: (call: HandledCall) => void;
  readonly observeWalSync: (seconds: number) => void;
  readonly observeBackendCommit: (seconds: number) => void;
  readonly observePeerRoundTrip: (to: bigint, seconds: number) => void;
  /** Counts an apply slower than --experimental-warning-apply-duration. */
  readonly countSlowApply: () => void;
  /** Counts a /health answer (etcd_server_health_success / _failures). */
  readonly countHealth: (healthy: boolean) => void;
}

const CODE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(Code).map(([name, code]) => [code, name]),
);

const GRPC_TYPES: Readonly<Record<string, string>> = {
  unary: "unary",
  server_streaming: "server_stream",
  client_streaming: "client_stream",
  bidi_streaming: "bidi_stream",
};

/** Builds the registry of one server. */
export function etcdMetrics(src: MetricsSource, opts: { readonly extensive?: boolean } = {}): EtcdMetrics {
  const r = new Registry();
  const { member, store } = src;
  const started = Date.now() / 1000;
  let healthOk = 0;
  let healthFailed = 0;
  let slowApplies = 0;

  r.gauge(
    "etcd_server_has_leader",
    "Whether or not a leader exists. 1 is existence, 0 is not.",
    () => member.leaderId === 0n ? 0 : 1,
  );
  r.gauge(
    "etcd_server_is_leader",
    "Whether or not this member is a leader. 1 if is, 0 otherwise.",
    () => member.isLeader ? 1 : 0,
  );
  r.counter(
    "etcd_server_leader_changes_seen_total",
    "The number of leader changes seen.",
    () => member.leaderChanges,
  );
  r.gauge(
    "etcd_server_id",
    "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
    () => [
      [{ server_id: idHex(member.memberId) }, 1],
    ],
  );
  // etcd declares these two as gauges despite the _total names: they are Raft indexes.
  r.gauge(
    "etcd_server_proposals_committed_total",
    "The total number of consensus proposals committed.",
    () => Number(member.raftIndex),
  );
  r.gauge(
    "etcd_server_proposals_applied_total",
    "The total number of consensus proposals applied.",
    () => Number(member.appliedIndex),
  );
  r.gauge(
    "etcd_server_proposals_pending",
    "The current number of pending proposals to commit.",
    () => member.pendingProposals,
  );
  r.counter(
    "etcd_server_proposals_failed_total",
    "The total number of failed proposals seen.",
    () => member.failedProposals,
  );
  r.gauge(
    "etcd_server_version",
    "Which version is running. 1 for 'server_version' label with current version.",
    () => [
      [{ server_version: SERVER_VERSION }, 1],
    ],
  );
  r.gauge(
    "etcd_cluster_version",
    "Which version is running. 1 for 'cluster_version' label with current cluster version",
    () => [[{ cluster_version: CLUSTER_VERSION }, 1]],
  );
  r.counter(
    "etcd_server_slow_apply_total",
    "The total number of slow apply requests (likely overloaded from slow disk).",
    () => slowApplies,
  );
  r.counter("etcd_server_health_success", "The total number of successful health checks", () => healthOk);
  r.counter("etcd_server_health_failures", "The total number of failed health checks", () => healthFailed);
  r.gauge(
    "etcd_mvcc_db_total_size_in_bytes",
    "Total size of the underlying database physically allocated in bytes.",
    () => store.dbSize(),
  );
  r.gauge(
    "etcd_mvcc_db_total_size_in_use_in_bytes",
    "Total size of the underlying database logically in use in bytes.",
    () => store.dbSizeInUse(),
  );
  r.gauge("etcd_debugging_mvcc_keys_total", "Total number of keys.", () => store.keyCount());
  r.gauge(
    "etcd_debugging_mvcc_current_revision",
    "The current revision of store.",
    () => Number(store.currentRevision()),
  );
  r.gauge(
    "etcd_debugging_mvcc_compact_revision",
    "The revision of the last compaction in store.",
    () => Number(store.compactRevision()),
  );

  // etcd's bucket layouts: disk latencies from 1 ms, peer round trips from 100 µs.
  const diskBuckets = exponentialBuckets(0.001, 2, 14);
  const walFsync = r.histogram(
    "etcd_disk_wal_fsync_duration_seconds",
    "The latency distributions of fsync called by WAL.",
    diskBuckets,
  );
  const backendCommit = r.histogram(
    "etcd_disk_backend_commit_duration_seconds",
    "The latency distributions of commit called by backend.",
    diskBuckets,
  );
  const peerRtt = r.histogram(
    "etcd_network_peer_round_trip_time_seconds",
    "Round-Trip-Time histogram between peers",
    exponentialBuckets(0.0001, 2, 14),
    { labelled: true },
  );
  const handled = r.add(
    new CounterVec(
      "grpc_server_handled_total",
      "Total number of RPCs completed on the server, regardless of success or failure.",
    ),
  );
  // etcd exports this one only with --metrics=extensive; the console charts latency from it always.
  const handling = r.add(
    new Histogram(
      "grpc_server_handling_seconds",
      "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      true,
    ),
    { internal: opts.extensive !== true },
  );

  // Calls by method, for the per-method counters etcd keeps (mvcc's put/range/txn/delete, grpc_server_*).
  const calls = new Map<string, { labels: Labels; n: number; stream: boolean }>();
  const kv = (method: string) => () => calls.get(`/etcdserverpb.KV/${method}`)?.n ?? 0;
  const perMethod = () => [...calls.values()].map((c) => [c.labels, c.n] as const);
  const byType = () => {
    let unary = 0;
    let stream = 0;
    for (const c of calls.values()) c.stream ? stream += c.n : unary += c.n;
    return [
      [{ client_api_version: "3.4", type: "unary" }, unary],
      [{ client_api_version: "3.4", type: "stream" }, stream],
    ] as const;
  };
  const values: Record<string, () => number | Iterable<readonly [Labels, number]>> = {
    etcd_mvcc_put_total: kv("Put"),
    etcd_mvcc_range_total: kv("Range"),
    etcd_mvcc_txn_total: kv("Txn"),
    etcd_mvcc_delete_total: kv("DeleteRange"),
    etcd_debugging_mvcc_put_total: kv("Put"),
    etcd_debugging_mvcc_range_total: kv("Range"),
    etcd_debugging_mvcc_txn_total: kv("Txn"),
    etcd_debugging_mvcc_delete_total: kv("DeleteRange"),
    etcd_server_client_requests_total: byType,
    grpc_server_started_total: perMethod,
    grpc_server_msg_received_total: perMethod,
    grpc_server_msg_sent_total: perMethod,
    etcd_debugging_mvcc_db_total_size_in_bytes: () => store.dbSize(),
    etcd_debugging_mvcc_watch_stream_total: () => src.watch?.streams ?? 0,
    etcd_debugging_mvcc_watcher_total: () => {
      const s = src.watch?.sizes();
      return s === undefined ? 0 : s.synced + s.unsynced;
    },
    etcd_debugging_mvcc_slow_watcher_total: () => src.watch?.sizes().unsynced ?? 0,
    etcd_server_quota_backend_bytes: () => src.quotaBackendBytes ?? 2 ** 31,
    etcd_server_is_learner: () => member.isLearner === true ? 1 : 0,
    // Not Go: the label names the runtime that serves instead.
    etcd_server_go_version: () => [[{ server_go_version: `bun${Bun.version}` }, 1]],
    process_max_fds: () => procLimit("Max open files"),
    process_virtual_memory_bytes: () => procStatField(23),
    process_virtual_memory_max_bytes: () => procLimit("Max address space"),
  };
  for (const f of MORE_FAMILIES) {
    if (f.type === "histogram") r.histogram(f.name, f.help, f.buckets ?? []);
    else r[f.type](f.name, f.help, values[f.name] ?? (() => 0));
  }

  r.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  });
  r.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", () => process.memoryUsage.rss());
  r.gauge(
    "process_start_time_seconds",
    "Start time of the process since unix epoch in seconds.",
    () => Math.floor(started),
  );
  r.gauge("process_open_fds", "Number of open file descriptors.", () => {
    try {
      return fs.readdirSync("/proc/self/fd").length;
    } catch {
      return NaN;
    }
  });

  return {
    registry: r,
    observeHandled(call) {
      const c = calls.get(call.path);
      if (c !== undefined) c.n++;
      else calls.set(call.path, { labels: grpcLabels(call), n: 1, stream: call.kind !== "unary" });
      const key = `${call.path}\0${call.code}`;
      handled.inc(key, () => grpcLabels(call, CODE_NAMES[call.code] ?? String(call.code)));
      handling.observe(call.seconds, call.path, () => grpcLabels(call));
    },
    observeWalSync: (s) => walFsync.observe(s),
    observeBackendCommit: (s) => backendCommit.observe(s),
    observePeerRoundTrip: (to, s) => {
      const hex = idHex(to);
      peerRtt.observe(s, hex, () => ({ To: hex }));
    },
    countSlowApply: () => void slowApplies++,
    countHealth(healthy) {
      if (healthy) healthOk++;
      else healthFailed++;
    },
  };
}

/** A soft limit from /proc/self/limits ("unlimited" as Prometheus' Go client shows it). */
function procLimit(name: string): number {
  try {
    const line = fs.readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith(name));
    const soft = line?.slice(26).trim().split(/\s+/)[0];
    return soft === "unlimited" ? 2 ** 64 : Number(soft);
  } catch {
    return NaN;
  }
}

/** Field `n` of /proc/self/stat, numbered as proc(5) numbers them (23: vsize). */
function procStatField(n: number): number {
  try {
    const stat = fs.readFileSync("/proc/self/stat", "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[n - 3]);
  } catch {
    return NaN;
  }
}

function grpcLabels(call: HandledCall, code?: string): Record<string, string> {
  const [, service = "", method = ""] = call.path.split("/");
  const labels: Record<string, string> = {
    grpc_type: GRPC_TYPES[call.kind] ?? call.kind,
    grpc_service: service,
    grpc_method: method,
  };
  if (code !== undefined) labels.grpc_code = code;
  return labels;
}
