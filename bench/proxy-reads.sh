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
P=${1:-1}
R=${2:-3}
BASE=${3:-25800}
root="$(cd "$(dirname "$0")/.." && pwd)"
L=${LOADGEN:-/tmp/etcd-bench/bin/loadgen}
if [ ! -x "$L" ]; then
  echo "bench/proxy-reads.sh: no load generator at $L; build it with ../shared/bench/build.sh (or set LOADGEN)" >&2
  exit 1
fi
[ -x "$root/dist/etcdts" ] || (cd "$root" && PATH="$root/node_modules/.bin:$PATH" npm run --silent build)
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }

member_port=$BASE
"$root/dist/etcdts" serve --data-dir "$work/member" --listen-client-urls "http://127.0.0.1:$member_port" \
  --advertise-client-urls "http://127.0.0.1:$member_port" --listen-peer-urls "http://127.0.0.1:$((BASE + 1))" \
  >"$work/member.log" 2>&1 &
member=$!
pids+=("$member")
"$L" health --endpoints "127.0.0.1:$member_port" --wait 60s >/dev/null
proxy_eps=()
proxy_pids=()
for i in $(seq 1 "$P"); do
  port=$((BASE + 10 + i))
  "$root/dist/etcdts" grpc-proxy start --endpoints "127.0.0.1:$member_port" --listen-addr "127.0.0.1:$port" \
    >"$work/proxy-$i.log" 2>&1 &
  pids+=("$!")
  proxy_pids+=("$!")
  proxy_eps+=("127.0.0.1:$port")
  "$L" health --endpoints "127.0.0.1:$port" --wait 30s >/dev/null
done
proxies=$(IFS=,; echo "${proxy_eps[*]}")
"$L" put --endpoints "127.0.0.1:$member_port" --clients 16 --conns 4 --total 10000 --key-space 10000 --seq-keys \
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
    json=$("$L" range --endpoints "$ep" --consistency s --clients 64 --conns 8 --total 40000 \
      --key-space 10000 --warmup 2000 --quiet)
    m1=$(cpu_ticks "$member")
    p1=0
    for p in "${proxy_pids[@]}"; do p1=$((p1 + $(cpu_ticks "$p"))); done
    rps=$(echo "$json" | field rps)
    p99=$(echo "$json" | sed -n 's/.*"p99":\([0-9.]*\).*/\1/p')
    n=$(echo "$json" | field ok)
    mcpu=$(echo "scale=4; ($m1 - $m0) * 1000 / $ticks_per_s / $n" | bc)
    pcpu=$(echo "scale=4; ($p1 - $p0) * 1000 / $ticks_per_s / $n" | bc)
    printf '%-8s %-6s %10s %8s %14s %14s\n' "$path" "$round" "$rps" "$p99" "${mcpu}ms" "${pcpu}ms"
  done
done
