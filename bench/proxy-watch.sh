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
source "$(dirname "$0")/lib.sh"
W=${1:-1000}
PUTS=${2:-500}
BASE=${3:-25700}
need_loadgen bench/proxy-watch.sh
need_etcd bench/proxy-watch.sh
export PATH="$bench_root/node_modules/.bin:$PATH"
# Always rebuilt: the figures are for the source as it is.
(cd "$bench_root" && npm run --silent build >/dev/null)
bench_workdir etcdts-proxy-watch

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
  json=$("$loadgen" watch-latency --endpoints "$ep" --watchers "$W" --conns 4 --total "$PUTS" \
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
  client=$port proxyport=$((port + 2))
  port=$((port + 10))
  if [ "$kind" = etcdts ]; then
    proxy=("$bench_root/dist/etcdts" grpc-proxy start)
  else
    proxy=("$etcd_bin" grpc-proxy start)
  fi
  start_member "$kind" "$client" "$work/$kind.data"
  mpid=$member_pid
  "${proxy[@]}" --endpoints "127.0.0.1:$client" --listen-addr "127.0.0.1:$proxyport" >"$work/$kind-proxy.log" 2>&1 &
  ppid=$!
  wait_port "$client"
  wait_port "$proxyport"
  "$loadgen" health --endpoints "127.0.0.1:$client" --wait 30s >/dev/null 2>&1
  run_case "$kind" direct "127.0.0.1:$client" "http://127.0.0.1:$client" "$mpid" -
  run_case "$kind" proxy "127.0.0.1:$proxyport" "http://127.0.0.1:$client" "$mpid" "$ppid"
done
