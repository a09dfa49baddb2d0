#!/usr/bin/env bash
# Watchers on one key through grpc-proxy versus straight at the member, for etcdts (our
# proxy in front of etcdts) beside etcd 3.4 (etcd's proxy in front of etcd). For each
# path: the most watchers the member had at once (etcd_debugging_mvcc_watcher_total,
# sampled during the run: coalescing shows as 1 instead of W), the member's CPU per
# delivered event (loadgen's server.cpu_ms_per_op) and the proxy's own CPU per event.
# The client side is /work/shared/bench's loadgen (watch-latency mode). Run it on a quiet
# machine; a smoke run: bench/proxy-watch.sh 20 20
#   bench/proxy-watch.sh [watchers=1000] [puts=500] [base-port=25700]
set -euo pipefail
W=${1:-1000}
PUTS=${2:-500}
BASE=${3:-25700}
root="$(cd "$(dirname "$0")/.." && pwd)"
L=${LOADGEN:-/tmp/etcd-bench/bin/loadgen}
export PATH="$root/node_modules/.bin:$PATH"
(cd "$root" && npm run --silent build >/dev/null)
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

wait_port() {
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on $1" >&2
  return 1
}

# Samples the member's watcher gauge until told to stop; prints the highest value seen.
sample_watchers() {
  local url=$1 stop=$2 max=0 v
  while [ ! -e "$stop" ]; do
    v=$(curl -s "$url/metrics" | awk '/^etcd_debugging_mvcc_watcher_total /{print $2}')
    [ -n "$v" ] && [ "${v%.*}" -gt "$max" ] && max=${v%.*}
    sleep 0.2
  done
  echo "$max"
}

run_case() { # kind path endpoint member-url member-pid proxy-pid
  local kind=$1 path=$2 ep=$3 url=$4 mpid=$5 ppid=$6 stop="$work/stop-$1-$2"
  sample_watchers "$url" "$stop" >"$work/max-$kind-$path" &
  local sampler=$! before=0
  [ "$ppid" != - ] && before=$(cpu_ticks "$ppid")
  local json
  json=$("$L" watch-latency --endpoints "$ep" --watchers "$W" --conns 4 --total "$PUTS" \
    --server-pid "$mpid" --tag "server=$kind" --tag "path=$path" --quiet)
  touch "$stop"
  wait "$sampler"
  local proxy_cpu=-
  if [ "$ppid" != - ]; then
    proxy_cpu=$(( ($(cpu_ticks "$ppid") - before) * 1000 / $(getconf CLK_TCK) ))
  fi
  echo "$json" | bun -e '
    const [kind, path, upstream, proxyCpuMs] = process.argv.slice(1);
    const r = JSON.parse(await Bun.stdin.text());
    const events = r.ok;
    const proxy = proxyCpuMs === "-" ? "-" : (Number(proxyCpuMs) / events).toFixed(4);
    console.log([kind.padEnd(7), path.padEnd(6), String(upstream).padStart(9), String(events).padStart(8),
      r.server.cpu_ms_per_op.toFixed(4).padStart(12), proxy.padStart(12), r.lat_ms.p99.toFixed(2).padStart(8)].join("  "));
  ' "$kind" "$path" "$(cat "$work/max-$kind-$path")" "$proxy_cpu"
}

echo "watchers=$W puts=$PUTS"
echo "server   path    upstream    events  member-ms/ev  proxy-ms/ev   p99-ms"
port=$BASE
for kind in etcdts etcd; do
  client=$port peer=$((port + 1)) proxyport=$((port + 2))
  port=$((port + 10))
  if [ "$kind" = etcdts ]; then
    server=("$root/dist/etcdts" serve)
    proxy=("$root/dist/etcdts" grpc-proxy start)
  else
    server=(etcd)
    proxy=(etcd grpc-proxy start)
  fi
  "${server[@]}" --data-dir "$work/$kind.data" --listen-client-urls "http://127.0.0.1:$client" \
    --advertise-client-urls "http://127.0.0.1:$client" --listen-peer-urls "http://127.0.0.1:$peer" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer" --initial-cluster "default=http://127.0.0.1:$peer" \
    >"$work/$kind.log" 2>&1 &
  mpid=$!
  pids+=("$mpid")
  "${proxy[@]}" --endpoints "127.0.0.1:$client" --listen-addr "127.0.0.1:$proxyport" >"$work/$kind-proxy.log" 2>&1 &
  ppid=$!
  pids+=("$ppid")
  wait_port "$client"
  wait_port "$proxyport"
  "$L" health --endpoints "127.0.0.1:$client" --wait 30s >/dev/null 2>&1
  run_case "$kind" direct "127.0.0.1:$client" "http://127.0.0.1:$client" "$mpid" -
  run_case "$kind" proxy "127.0.0.1:$proxyport" "http://127.0.0.1:$client" "$mpid" "$ppid"
done
