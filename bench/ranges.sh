#!/usr/bin/env bash
# Large ranges and the read threads: loads N keys × 256 B into etcd and into etcdts once,
# then alternates rounds of R-key serializable ranges (16 clients) against etcd, etcdts
# with its default read threads and etcdts with none (--experimental-read-threads 0),
# each a fresh start on the same data. Prints each run, then the medians and the
# etcdts/etcd ratios of each round. Run it on a quiet machine.
#   bench/ranges.sh [keys=300000] [range-size=1000] [rounds=3] [base-port=26100]
# Needs the shared load generator (../shared/bench: ./build.sh makes
# /tmp/etcd-bench/bin/loadgen) and the real etcd 3.4 (/usr/bin/etcd).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
keys="${1:-300000}"
size="${2:-1000}"
rounds="${3:-3}"
base="${4:-26100}"
need_loadgen bench/ranges.sh
need_etcd bench/ranges.sh
need_built
bench_workdir etcdts-ranges

ep="127.0.0.1:$base"
healthy() { "$loadgen" health --endpoints "$ep" --wait 300s >/dev/null 2>&1; }
stop() {
  kill -TERM "$member_pid"
  wait "$member_pid" 2>/dev/null || true
}

# run KIND LABEL [flags...]: one fresh start on KIND's data; writes "LABEL rps p99 cpu/op"
# to $work/line. Run in this shell, not in $(...): its member stays one of this script's
# jobs (stopped on exit) and a failure stops the script.
run() {
  local kind=$1 label=$2
  shift 2
  start_member "$kind" "$base" "$work/$kind.data" --quota-backend-bytes 8589934592 "$@"
  healthy
  local args=(--endpoints "$ep" --consistency s --range-size "$size" --clients 16 --conns 4 --key-space "$keys")
  "$loadgen" range "${args[@]}" --total 300 >/dev/null 2>&1
  "$loadgen" range "${args[@]}" --total 3000 --warmup 200 --server-pid "$member_pid" 2>/dev/null >"$work/run.json"
  jq -r --arg l "$label" '"\($l) \(.rps) \(.lat_ms.p99) \(.server.cpu_ms_per_op)"' "$work/run.json" >"$work/line"
  stop
}

for kind in etcd etcdts; do
  echo "== loading $keys keys into $kind" >&2
  start_member "$kind" "$base" "$work/$kind.data" --quota-backend-bytes 8589934592
  healthy
  "$loadgen" put --endpoints "$ep" --clients 64 --conns 8 --total "$keys" --key-space "$keys" --seq-keys \
    --max-duration 30m >/dev/null 2>&1
  stop
done

printf '%-8s %-14s %10s %10s %12s\n' round server "req/s" "p99 ms" "cpu ms/op" | tee "$work/runs.txt"
for round in $(seq 1 "$rounds"); do
  for server in etcd etcdts etcdts-loop; do
    case $server in
      etcd) run etcd etcd ;;
      etcdts) run etcdts etcdts ;;
      etcdts-loop) run etcdts etcdts-loop --experimental-read-threads 0 ;;
    esac
    read -r label rps p99 cpu <"$work/line"
    if [ -z "${cpu:-}" ] || [ "$(echo "$rps > 0" | bc)" != 1 ]; then
      echo "bench/ranges.sh: round $round, $server: no rate measured ($(cat "$work/line"))" >&2
      exit 1
    fi
    printf '%-8s %-14s %10.1f %10.1f %12.3f\n' "$round" "$label" "$rps" "$p99" "$cpu" | tee -a "$work/runs.txt"
  done
done

echo
echo "$keys keys × 256 B, $size-key serializable ranges, 16 clients, $rounds rounds:"
# Medians by server (a plain sort: mawk has no asort), and each round's etcdts/etcd.
awk 'function median(list,   v, n, i, j, t) {
    n = split(list, v, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
    return v[int((n + 1) / 2)]
  }
  NR > 1 { rps[$2] = rps[$2] " " $3; if ($2 == "etcd") e[$1] = $3; else r[$2] = r[$2] " " sprintf("%.2f", $3 / e[$1]) }
  END {
    for (s in rps) printf "%-14s median %8.1f req/s%s\n", s, median(rps[s]), (s == "etcd" ? "" : "   etcdts/etcd by round:" r[s])
  }' "$work/runs.txt" | sort
