#!/usr/bin/env bash
# Runs a 3-member etcdts cluster in the foreground, laid out like the shared harness's
# `etcd3` (client ports P, P+10, P+20; each peer port is its client port + 1), for
# bench/compare.sh --cluster3. Stops every member when it is signalled.
#   bench/run-cluster.sh CLIENT_PORT DATA_DIR
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
port=$1 dir=$2
cluster=""
for i in 0 1 2; do cluster+="m$i=http://127.0.0.1:$((port + 10 * i + 1)),"; done
cluster=${cluster%,}
pids=()
for i in 0 1 2; do
  c=$((port + 10 * i)) p=$((port + 10 * i + 1))
  "$root/dist/etcdts" serve --name "m$i" --data-dir "$dir/m$i" \
    --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
    --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
    --initial-cluster "$cluster" &
  pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null; wait' TERM INT
wait
