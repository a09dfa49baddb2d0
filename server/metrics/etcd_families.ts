/**
 * The rest of the families a fresh etcd 3.4 member exposes (names, types and help texts
 * as etcd's /metrics shows them; bucket layouts too), so a dashboard or alert written for
 * etcd finds every series. `values` gives the ones that mean something here; the others
 * (etcd's v2 store, its gRPC proxy, bbolt's rebalance and spill phases, ...) stay at zero,
 * as they do on an etcd member that does not use them.
 */

import { exponentialBuckets } from "./exposition.ts";

/** One family: a gauge or counter read at scrape time, or a histogram with its buckets. */
export interface FamilySpec {
  readonly name: string;
  readonly type: "counter" | "gauge" | "histogram";
  readonly help: string;
  readonly buckets?: readonly number[];
}

/** The bucket layouts etcd uses, each once. */
const BUCKETS_1 = exponentialBuckets(0.001, 2, 14);
const BUCKETS_2 = exponentialBuckets(1, 2, 24);
const BUCKETS_3 = exponentialBuckets(1, 2, 13);
const BUCKETS_4 = exponentialBuckets(100, 2, 14);
const BUCKETS_5 = exponentialBuckets(0.5, 2, 14);
const BUCKETS_6 = exponentialBuckets(0.1, 2, 13);
const BUCKETS_7 = exponentialBuckets(0.01, 2, 17);
const BUCKETS_8 = exponentialBuckets(0.01, 2, 15);
const BUCKETS_9 = exponentialBuckets(0.1, 2, 10);

export const MORE_FAMILIES: readonly FamilySpec[] = [
  { name: "etcd_debugging_auth_revision", type: "gauge", help: "The current revision of auth store." },
  {
    name: "etcd_debugging_disk_backend_commit_rebalance_duration_seconds",
    type: "histogram",
    help: "The latency distributions of commit.rebalance called by bboltdb backend.",
    buckets: BUCKETS_1,
  },
  {
    name: "etcd_debugging_disk_backend_commit_spill_duration_seconds",
    type: "histogram",
    help: "The latency distributions of commit.spill called by bboltdb backend.",
    buckets: BUCKETS_1,
  },
  {
    name: "etcd_debugging_disk_backend_commit_write_duration_seconds",
    type: "histogram",
    help: "The latency distributions of commit.write called by bboltdb backend.",
    buckets: BUCKETS_1,
  },
  {
    name: "etcd_debugging_lease_granted_total",
    type: "counter",
    help: "The total number of granted leases.",
  },
  {
    name: "etcd_debugging_lease_renewed_total",
    type: "counter",
    help: "The number of renewed leases seen by the leader.",
  },
  {
    name: "etcd_debugging_lease_revoked_total",
    type: "counter",
    help: "The total number of revoked leases.",
  },
  {
    name: "etcd_debugging_lease_ttl_total",
    type: "histogram",
    help: "Bucketed histogram of lease TTLs.",
    buckets: BUCKETS_2,
  },
  {
    name: "etcd_debugging_mvcc_db_compaction_keys_total",
    type: "counter",
    help: "Total number of db keys compacted.",
  },
  {
    name: "etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds",
    type: "histogram",
    help: "Bucketed histogram of db compaction pause duration.",
    buckets: BUCKETS_3,
  },
  {
    name: "etcd_debugging_mvcc_db_compaction_total_duration_milliseconds",
    type: "histogram",
    help: "Bucketed histogram of db compaction total duration.",
    buckets: BUCKETS_4,
  },
  {
    name: "etcd_debugging_mvcc_db_total_size_in_bytes",
    type: "gauge",
    help: "Total size of the underlying database physically allocated in bytes.",
  },
  {
    name: "etcd_debugging_mvcc_delete_total",
    type: "counter",
    help: "Total number of deletes seen by this member.",
  },
  {
    name: "etcd_debugging_mvcc_events_total",
    type: "counter",
    help: "Total number of events sent by this member.",
  },
  {
    name: "etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds",
    type: "histogram",
    help: "Bucketed histogram of index compaction pause duration.",
    buckets: BUCKETS_5,
  },
  {
    name: "etcd_debugging_mvcc_pending_events_total",
    type: "gauge",
    help: "Total number of pending events to be sent.",
  },
  {
    name: "etcd_debugging_mvcc_put_total",
    type: "counter",
    help: "Total number of puts seen by this member.",
  },
  {
    name: "etcd_debugging_mvcc_range_total",
    type: "counter",
    help: "Total number of ranges seen by this member.",
  },
  {
    name: "etcd_debugging_mvcc_slow_watcher_total",
    type: "gauge",
    help: "Total number of unsynced slow watchers.",
  },
  {
    name: "etcd_debugging_mvcc_total_put_size_in_bytes",
    type: "gauge",
    help: "The total size of put kv pairs seen by this member.",
  },
  {
    name: "etcd_debugging_mvcc_txn_total",
    type: "counter",
    help: "Total number of txns seen by this member.",
  },
  { name: "etcd_debugging_mvcc_watch_stream_total", type: "gauge", help: "Total number of watch streams." },
  { name: "etcd_debugging_mvcc_watcher_total", type: "gauge", help: "Total number of watchers." },
  {
    name: "etcd_debugging_server_lease_expired_total",
    type: "counter",
    help: "The total number of expired leases.",
  },
  {
    name: "etcd_debugging_snap_save_marshalling_duration_seconds",
    type: "histogram",
    help: "The marshalling cost distributions of save called by snapshot.",
    buckets: BUCKETS_1,
  },
  {
    name: "etcd_debugging_snap_save_total_duration_seconds",
    type: "histogram",
    help: "The total latency distributions of save called by snapshot.",
    buckets: BUCKETS_1,
  },
  { name: "etcd_debugging_store_expires_total", type: "counter", help: "Total number of expired keys." },
  {
    name: "etcd_debugging_store_reads_total",
    type: "counter",
    help: "Total number of reads action by (get/getRecursive), local to this member.",
  },
  {
    name: "etcd_debugging_store_watch_requests_total",
    type: "counter",
    help: "Total number of incoming watch requests (new or reestablished).",
  },
  { name: "etcd_debugging_store_watchers", type: "gauge", help: "Count of currently active watchers." },
  {
    name: "etcd_debugging_store_writes_total",
    type: "counter",
    help: "Total number of writes (e.g. set/compareAndDelete) seen by this member.",
  },
  {
    name: "etcd_disk_backend_defrag_duration_seconds",
    type: "histogram",
    help: "The latency distribution of backend defragmentation.",
    buckets: BUCKETS_6,
  },
  {
    name: "etcd_disk_backend_snapshot_duration_seconds",
    type: "histogram",
    help: "The latency distribution of backend snapshots.",
    buckets: BUCKETS_7,
  },
  {
    name: "etcd_disk_defrag_inflight",
    type: "gauge",
    help: "Whether or not defrag is active on the member. 1 means active, 0 means not.",
  },
  { name: "etcd_disk_wal_write_bytes_total", type: "gauge", help: "Total number of bytes written in WAL." },
  { name: "etcd_grpc_proxy_cache_hits_total", type: "gauge", help: "Total number of cache hits" },
  { name: "etcd_grpc_proxy_cache_keys_total", type: "gauge", help: "Total number of keys/ranges cached" },
  { name: "etcd_grpc_proxy_cache_misses_total", type: "gauge", help: "Total number of cache misses" },
  {
    name: "etcd_grpc_proxy_events_coalescing_total",
    type: "counter",
    help: "Total number of events coalescing",
  },
  {
    name: "etcd_grpc_proxy_watchers_coalescing_total",
    type: "gauge",
    help: "Total number of current watchers coalescing",
  },
  {
    name: "etcd_mvcc_db_open_read_transactions",
    type: "gauge",
    help: "The number of currently open read transactions",
  },
  { name: "etcd_mvcc_delete_total", type: "counter", help: "Total number of deletes seen by this member." },
  {
    name: "etcd_mvcc_hash_duration_seconds",
    type: "histogram",
    help: "The latency distribution of storage hash operation.",
    buckets: BUCKETS_8,
  },
  {
    name: "etcd_mvcc_hash_rev_duration_seconds",
    type: "histogram",
    help: "The latency distribution of storage hash by revision operation.",
    buckets: BUCKETS_8,
  },
  { name: "etcd_mvcc_put_total", type: "counter", help: "Total number of puts seen by this member." },
  { name: "etcd_mvcc_range_total", type: "counter", help: "Total number of ranges seen by this member." },
  { name: "etcd_mvcc_txn_total", type: "counter", help: "Total number of txns seen by this member." },
  {
    name: "etcd_network_client_grpc_received_bytes_total",
    type: "counter",
    help: "The total number of bytes received from grpc clients.",
  },
  {
    name: "etcd_network_client_grpc_sent_bytes_total",
    type: "counter",
    help: "The total number of bytes sent to grpc clients.",
  },
  {
    name: "etcd_server_client_requests_total",
    type: "counter",
    help: "The total number of client requests per client version.",
  },
  {
    name: "etcd_server_go_version",
    type: "gauge",
    help: "Which Go version server is running with. 1 for 'server_go_version' label with current version.",
  },
  {
    name: "etcd_server_heartbeat_send_failures_total",
    type: "counter",
    help: "The total number of leader heartbeat send failures (likely overloaded from slow disk).",
  },
  {
    name: "etcd_server_is_learner",
    type: "gauge",
    help: "Whether or not this member is a learner. 1 if is, 0 otherwise.",
  },
  {
    name: "etcd_server_learner_promote_successes",
    type: "counter",
    help: "The total number of successful learner promotions while this member is leader.",
  },
  {
    name: "etcd_server_quota_backend_bytes",
    type: "gauge",
    help: "Current backend storage quota size in bytes.",
  },
  {
    name: "etcd_server_read_indexes_failed_total",
    type: "counter",
    help: "The total number of failed read indexes seen.",
  },
  {
    name: "etcd_server_slow_read_indexes_total",
    type: "counter",
    help:
      "The total number of pending read indexes not in sync with leader's or timed out read index requests.",
  },
  {
    name: "etcd_server_snapshot_apply_in_progress_total",
    type: "gauge",
    help: "1 if the server is applying the incoming snapshot. 0 if none.",
  },
  {
    name: "etcd_snap_db_fsync_duration_seconds",
    type: "histogram",
    help: "The latency distributions of fsyncing .snap.db file",
    buckets: BUCKETS_1,
  },
  {
    name: "etcd_snap_db_save_total_duration_seconds",
    type: "histogram",
    help: "The total latency distributions of v3 snapshot save",
    buckets: BUCKETS_9,
  },
  {
    name: "etcd_snap_fsync_duration_seconds",
    type: "histogram",
    help: "The latency distributions of fsync called by snap.",
    buckets: BUCKETS_1,
  },
  {
    name: "grpc_server_msg_received_total",
    type: "counter",
    help: "Total number of RPC stream messages received on the server.",
  },
  {
    name: "grpc_server_msg_sent_total",
    type: "counter",
    help: "Total number of gRPC stream messages sent by the server.",
  },
  { name: "grpc_server_started_total", type: "counter", help: "Total number of RPCs started on the server." },
  { name: "process_max_fds", type: "gauge", help: "Maximum number of open file descriptors." },
  { name: "process_virtual_memory_bytes", type: "gauge", help: "Virtual memory size in bytes." },
  {
    name: "process_virtual_memory_max_bytes",
    type: "gauge",
    help: "Maximum amount of virtual memory available in bytes.",
  },
];
