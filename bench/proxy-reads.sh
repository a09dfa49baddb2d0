#!/usr/bin/env bash
# More than one core for reads: serializable ranges with 64 clients straight at one etcdts
# member, then through P etcdts grpc-proxy processes in front of it (each proxy its own
# process and event loop, with etcd's serializable-read cache; the clients spread over
# them), alternating R rounds. Prints req/s, p99 and each process's CPU per request.
# The member's one event loop stays the only place writes and linearizable reads are
# served; serializable reads are what extra processes can take. Run it on a quiet machine.
#   bench/proxy-reads.sh [proxies=1] [rounds=3] [base-port=25800]
# Needs the shared load generator (../shared/bench: ./build.sh makes /tmp/etcd-bench/bin/loadgen).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
P=${1:-1}
R=${2:-3}
BASE=${3:-25800}
need_loadgen bench/proxy-reads.sh
need_built
bench_workdir etcdts-proxy-reads

member_port=$BASE
start_member etcdts "$member_port" "$work/member"
member=$member_pid
"$loadgen" health --endpoints "127.0.0.1:$member_port" --wait 60s >/dev/null
proxy_eps=()
proxy_pids=()
for i in $(seq 1 "$P"); do
  port=$((BASE + 10 + i))
  "$bench_root/dist/etcdts" grpc-proxy start --endpoints "127.0.0.1:$member_port" --listen-addr "127.0.0.1:$port" \
    >"$work/proxy-$i.log" 2>&1 &
  proxy_pids+=("$!")
  proxy_eps+=("127.0.0.1:$port")
  "$loadgen" health --endpoints "127.0.0.1:$port" --wait 30s >/dev/null
done
proxies=$(IFS=,; echo "${proxy_eps[*]}")
"$loadgen" put --endpoints "127.0.0.1:$member_port" --clients 16 --conns 4 --total 10000 --key-space 10000 --seq-keys \
  >/dev/null 2>&1

ticks_per_s=$(getconf CLK_TCK)
printf '%-8s %-6s %10s %8s %14s %14s\n' path round req/s p99ms member-cpu/op proxies-cpu/op
for round in $(seq 1 "$R"); do
  for path in direct proxy; do
    ep="127.0.0.1:$member_port"
    [ "$path" = proxy ] && ep=$proxies
    m0=$(cpu_ticks "$member")
    p0=0
    for p in "${proxy_pids[@]}"; do p0=$((p0 + $(cpu_ticks "$p"))); done
    json=$("$loadgen" range --endpoints "$ep" --consistency s --clients 64 --conns 8 --total 40000 \
      --key-space 10000 --warmup 2000 --quiet)
    m1=$(cpu_ticks "$member")
    p1=0
    for p in "${proxy_pids[@]}"; do p1=$((p1 + $(cpu_ticks "$p"))); done
    rps=$(echo "$json" | json_number rps)
    p99=$(echo "$json" | json_number p99)
    n=$(echo "$json" | json_number ok)
    mcpu=$(echo "scale=4; ($m1 - $m0) * 1000 / $ticks_per_s / $n" | bc)
    pcpu=$(echo "scale=4; ($p1 - $p0) * 1000 / $ticks_per_s / $n" | bc)
    printf '%-8s %-6s %10s %8s %14s %14s\n' "$path" "$round" "$rps" "$p99" "${mcpu}ms" "${pcpu}ms"
  done
done
