#!/usr/bin/env bash
# etcd and etcdts at scale, one after the other on this machine: load N keys × 256 B, RSS
# after the load, 1000-key serializable ranges and puts at N keys, `snapshot save`, and a
# restart to healthy. Prints one table with etcdts/etcd ratios. Run it on a quiet machine.
#   bench/scale.sh [keys=1000000] [base-port=25700]
# Needs the shared load generator (../shared/bench: ./build.sh makes
# /tmp/etcd-bench/bin/loadgen), the real etcd and etcdctl 3.4 (/usr/bin/etcd, /usr/bin/etcdctl).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
keys="${1:-1000000}"
base="${2:-25700}"
etcdctl_bin="${ETCDCTL_BIN:-/usr/bin/etcdctl}"
need_loadgen bench/scale.sh
need_etcd bench/scale.sh
[ -x "$etcdctl_bin" ] || { echo "bench/scale.sh: $etcdctl_bin not found (apt-get install etcd-client)" >&2; exit 1; }
need_built
bench_workdir etcdts-scale

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l | xargs printf '%.2f'; }
rps() { json_number rps; }

healthy() { "$loadgen" health --endpoints "127.0.0.1:$1" --wait 300s >/dev/null 2>&1; }

stop() {
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
}

declare -A result
for kind in etcd etcdts; do
  port=$base
  [ "$kind" = etcdts ] && port=$((base + 10))
  data="$work/$kind.data"
  ep="127.0.0.1:$port"
  echo "== $kind: $keys keys" >&2
  start_member "$kind" "$port" "$data" --quota-backend-bytes 8589934592
  pid=$member_pid
  healthy "$port"
  t0=$(now)
  "$loadgen" put --endpoints "$ep" --clients 64 --conns 8 --total "$keys" --key-space "$keys" --seq-keys \
    --max-duration 30m >"$work/load.json" 2>/dev/null
  result[$kind.load_s]=$(secs "$t0" "$(now)")
  sleep 3
  result[$kind.rss]=$(rss_mib "$pid")
  result[$kind.range1000]=$("$loadgen" range --endpoints "$ep" --consistency s --range-size 1000 --clients 16 \
    --conns 4 --total 2000 --key-space "$keys" --warmup 100 --max-duration 10m 2>/dev/null | rps)
  result[$kind.put]=$("$loadgen" put --endpoints "$ep" --clients 64 --conns 8 --total 30000 --key-space "$keys" \
    --warmup 1000 --max-duration 10m 2>/dev/null | rps)
  t0=$(now)
  ETCDCTL_API=3 "$etcdctl_bin" --endpoints "$ep" snapshot save "$work/$kind.snap.db" >/dev/null 2>&1
  result[$kind.save_s]=$(secs "$t0" "$(now)")
  result[$kind.snap_mib]=$(du -m "$work/$kind.snap.db" | cut -f1)
  stop
  t0=$(now)
  start_member "$kind" "$port" "$data" --quota-backend-bytes 8589934592
  pid=$member_pid
  healthy "$port"
  result[$kind.restart_s]=$(secs "$t0" "$(now)")
  sleep 3
  result[$kind.rss_restarted]=$(rss_mib "$pid")
  stop
  rm -rf "$data" "$work/$kind.snap.db"
done

ratio() { echo "${result[etcdts.$1]} / ${result[etcd.$1]}" | bc -l | xargs printf '%.2f'; }
printf '%-40s %10s %10s %7s\n' "$keys keys × 256 B" etcd etcdts ratio
row() { printf '%-40s %10s %10s %7s\n' "$1" "${result[etcd.$2]}" "${result[etcdts.$2]}" "$(ratio "$2")"; }
row "load, 64 clients (s)" load_s
row "RSS after the load (MiB)" rss
row "1000-key ranges, 16 clients (req/s)" range1000
row "puts at $keys keys, 64 clients (req/s)" put
row "snapshot save (s)" save_s
row "snapshot size (MiB)" snap_mib
row "restart to healthy (s)" restart_s
row "RSS after the restart (MiB)" rss_restarted
