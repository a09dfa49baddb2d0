#!/usr/bin/env bash
# Runs the shared A/B harness (../shared/bench) with the real etcd as A and dist/etcdts as
# B, alternating runs on this machine, and prints the ratios (B/A).
#   bench/compare.sh                      # quick suite, 3 rounds
#   bench/compare.sh --suite memory       # RSS after 100k keys
#   bench/compare.sh --workload 'put-64c put --clients 64 --conns 8 --total 30000'
#   bench/compare.sh --cluster3 --workload '...'   # 3-member etcd vs 3-member etcdts
# Setup once: apt-get install golang-go golang-etcd-server-dev etcd-server etcd-client jq
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shared="$root/../shared/bench"
[ -x "$root/dist/etcdts" ] || (cd "$root" && npm run --silent build)
"$shared/build.sh" >/dev/null
args=("$@")
if [ "${1:-}" = --cluster3 ]; then
  shift
  eps="127.0.0.1:24479,127.0.0.1:24489,127.0.0.1:24499"
  exec "$shared/compare.sh" --a-name etcd3 --a-start etcd3 \
    --b-name etcdts3 --b-start "$root/bench/run-cluster.sh \$BENCH_CLIENT_PORT \$BENCH_DATA_DIR" --b-endpoint "$eps" "$@"
fi
if [ ${#args[@]} -eq 0 ]; then args=(--suite quick --rounds 3); fi
exec "$shared/compare.sh" \
  --a-name etcd --a-start etcd \
  --b-name etcdts \
  --b-start "$root/dist/etcdts serve --data-dir \$BENCH_DATA_DIR --listen-client-urls http://127.0.0.1:\$BENCH_CLIENT_PORT --advertise-client-urls http://127.0.0.1:\$BENCH_CLIENT_PORT --listen-peer-urls http://127.0.0.1:\$BENCH_PEER_PORT --initial-advertise-peer-urls http://127.0.0.1:\$BENCH_PEER_PORT --initial-cluster default=http://127.0.0.1:\$BENCH_PEER_PORT" \
  "${args[@]}"
