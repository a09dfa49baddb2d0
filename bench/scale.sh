#!/usr/bin/env bash
# etcd and etcdts at scale on this machine: load N keys × 256 B into each (one after the
# other), RSS after the load; then, with both loaded and running, ROUNDS rounds that
# alternate between them: 1000-key serializable ranges, puts at N keys, `snapshot save`
# (etcdctl for both); then a restart of each to healthy. Prints medians (min..max over the
# rounds) and etcdts/etcd ratios of the medians. Run it on a quiet machine.
#   bench/scale.sh [keys=1000000] [rounds=3] [base-port=25700]
# Alternating matters: on this shared 2-core machine one save of 1M keys took 2.2-3.4 s
# from run to run, so a single sample per server could put the ratio anywhere in 1.0-1.5.
# Needs the shared load generator (../shared/bench: ./build.sh makes
# /tmp/etcd-bench/bin/loadgen), the real etcd and etcdctl 3.4 (/usr/bin/etcd, /usr/bin/etcdctl).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
keys="${1:-1000000}"
rounds="${2:-3}"
base="${3:-25700}"
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

declare -A port pid result
port[etcd]=$base
port[etcdts]=$((base + 10))
data() { echo "$work/$1.data"; }
start() { start_member "$1" "${port[$1]}" "$(data "$1")" --quota-backend-bytes 8589934592; pid[$1]=$member_pid; }
stop() {
  kill -TERM "${pid[$1]}"
  wait "${pid[$1]}" 2>/dev/null || true
}
# record KIND NAME VALUE: one more sample of NAME (space-separated, in round order).
record() { result[$1.$2]="${result[$1.$2]:-}${result[$1.$2]:+ }$3"; }

for kind in etcd etcdts; do
  echo "== $kind: loading $keys keys" >&2
  start "$kind"
  healthy "${port[$kind]}"
  t0=$(now)
  "$loadgen" put --endpoints "127.0.0.1:${port[$kind]}" --clients 64 --conns 8 --total "$keys" \
    --key-space "$keys" --seq-keys --max-duration 30m >"$work/load.json" 2>/dev/null
  record "$kind" load_s "$(secs "$t0" "$(now)")"
  sleep 3
  record "$kind" rss "$(rss_mib "${pid[$kind]}")"
done

for round in $(seq "$rounds"); do
  for kind in etcd etcdts; do
    echo "== round $round: $kind" >&2
    ep="127.0.0.1:${port[$kind]}"
    record "$kind" range1000 "$("$loadgen" range --endpoints "$ep" --consistency s --range-size 1000 \
      --clients 16 --conns 4 --total 2000 --key-space "$keys" --warmup 100 --max-duration 10m 2>/dev/null | rps)"
    record "$kind" put "$("$loadgen" put --endpoints "$ep" --clients 64 --conns 8 --total 30000 \
      --key-space "$keys" --warmup 1000 --max-duration 10m 2>/dev/null | rps)"
    snap="$work/$kind.snap.db"
    rm -f "$snap"
    t0=$(now)
    ETCDCTL_API=3 "$etcdctl_bin" --endpoints "$ep" snapshot save "$snap" >/dev/null 2>&1
    record "$kind" save_s "$(secs "$t0" "$(now)")"
    record "$kind" snap_mib "$(du -m "$snap" | cut -f1)"
    rm -f "$snap"
  done
done

for kind in etcd etcdts; do
  echo "== $kind: restart" >&2
  stop "$kind"
  t0=$(now)
  start "$kind"
  healthy "${port[$kind]}"
  record "$kind" restart_s "$(secs "$t0" "$(now)")"
  sleep 3
  record "$kind" rss_restarted "$(rss_mib "${pid[$kind]}")"
  stop "$kind"
  rm -rf "$(data "$kind")"
done

# median SAMPLES...: the middle sample (the mean of the two middle ones for an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%g", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# shown SAMPLES...: the median, and the range when there is more than one sample.
shown() {
  local m
  m=$(median "$@")
  if [ $# -gt 1 ]; then printf '%s (%s..%s)' "$m" "$(printf '%s\n' "$@" | sort -g | head -1)" "$(printf '%s\n' "$@" | sort -g | tail -1)"
  else printf '%s' "$m"; fi
}
printf '%-38s %26s %26s %7s\n' "$keys keys × 256 B, $rounds rounds" etcd etcdts ratio
row() {
  local e t
  read -ra e <<<"${result[etcd.$2]}"
  read -ra t <<<"${result[etcdts.$2]}"
  printf '%-38s %26s %26s %7s\n' "$1" "$(shown "${e[@]}")" "$(shown "${t[@]}")" \
    "$(echo "$(median "${t[@]}") / $(median "${e[@]}")" | bc -l | xargs printf '%.2f')"
}
row "load, 64 clients (s)" load_s
row "RSS after the load (MiB)" rss
row "1000-key ranges, 16 clients (req/s)" range1000
row "puts at $keys keys, 64 clients (req/s)" put
row "snapshot save, etcdctl (s)" save_s
row "snapshot size (MiB)" snap_mib
row "restart to healthy (s)" restart_s
row "RSS after the restart (MiB)" rss_restarted
