#!/usr/bin/env bash
# Big reads beside small ones: 1,000 keys of 100 KB (100 MB), then C clients each reading
# the whole range N times at once, while another client reads one small key 200 times a
# second. For etcd and etcdts in turn (R rounds, one fresh member each), prints how long
# the big reads took and what the small reader saw: the worst p99 of its one-second
# windows and its slowest read. Run it on a quiet machine.
#   bench/big-ranges.sh [clients=3] [reads-each=2] [rounds=2] [base-port=25900]
# Needs the shared load generator (../shared/bench: ./build.sh makes /tmp/etcd-bench/bin/loadgen).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
C=${1:-3}
N=${2:-2}
R=${3:-2}
BASE=${4:-25900}
need_loadgen bench/big-ranges.sh
need_etcd bench/big-ranges.sh
need_built
bench_workdir etcdts-big-ranges

# probe EP OUT: one-second windows of small serializable reads until $work/stop exists.
probe() {
  while [ ! -e "$work/stop" ]; do
    "$loadgen" range --endpoints "$1" --consistency s --fixed-key /probe --clients 1 --rate 200 \
      --total 1000000 --max-duration 1s --quiet >>"$2" 2>/dev/null || true
  done
}

printf '%-7s %-6s %12s %14s %12s\n' server round big-reads-s probe-p99-ms probe-max-ms
for round in $(seq 1 "$R"); do
  for kind in etcd etcdts; do
    port=$((BASE + 10 * round))
    ep="127.0.0.1:$port"
    data="$work/$kind-$round"
    start_member "$kind" "$port" "$data"
    pid=$member_pid
    "$loadgen" health --endpoints "$ep" --wait 60s >/dev/null 2>&1
    "$loadgen" put --endpoints "$ep" --clients 4 --conns 2 --total 1000 --key-space 1000 --seq-keys \
      --val-size 102400 --quiet >/dev/null
    # Warm: one big read and some small ones before measuring.
    "$loadgen" range --endpoints "$ep" --consistency s --fixed-key /b/ --fixed-prefix --clients 1 --total 1 \
      --quiet >/dev/null
    rm -f "$work/stop" "$work/probe.json"
    probe "$ep" "$work/probe.json" &
    probe_pid=$!
    sleep 2
    started=$(date +%s.%N)
    "$loadgen" range --endpoints "$ep" --consistency s --fixed-key /b/ --fixed-prefix --clients "$C" --conns "$C" \
      --total $((C * N)) --quiet >"$work/big.json"
    ended=$(date +%s.%N)
    sleep 1
    touch "$work/stop"
    wait "$probe_pid"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    took=$(echo "$ended - $started" | bc)
    p99=$(jq -s 'map(.lat_ms.p99) | max' "$work/probe.json")
    max=$(jq -s 'map(.lat_ms.max) | max' "$work/probe.json")
    printf '%-7s %-6s %12.2f %14.1f %12.1f\n' "$kind" "$round" "$took" "$p99" "$max"
  done
done
