#!/usr/bin/env bash
# Resident memory of etcdts and the real etcd side by side: idle after start, right after
# each of the quick suite's workloads, and a few seconds later. A fresh server (fresh
# data dir) per workload, as bench/compare.sh runs them. Also the floor of the Bun
# runtime: an empty `Bun.serve` compiled the way dist/etcdts is.
#
#   bench/rss.sh                                   # all workloads, both servers
#   bench/rss.sh --workloads put-64c,range-l-64c --servers etcdts
#   bench/rss.sh --settle 5 --idle-wait 3 -- --experimental-jit-warmup=false
#
# Needs: the shared load generator (Go clientv3 3.4.23): $LOADGEN, else
# /tmp/etcd-bench/bin/loadgen (built by ../shared/bench/build.sh); the real etcd ($ETCD,
# else /usr/bin/etcd) for its column; dist/etcdts (built here when missing). Arguments
# after `--` go to `etcdts serve`. Prints one table row per workload, in MiB (VmRSS of
# the server process, which counts the executable's pages it touched).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
export PATH="$bench_root/node_modules/.bin:$PATH"

servers="etcd,etcdts"
settle=5
idle_wait=3
port=24579
all="put-1c-seq put-64c range-l-64c range-s-64c range100-s-16c watch-100w lease-ka-16c mixed-r4w1-64c"
workloads="$all"
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --workloads) workloads="${2//,/ }"; shift 2 ;;
    --servers) servers="$2"; shift 2 ;;
    --settle) settle="$2"; shift 2 ;;
    --idle-wait) idle_wait="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "rss.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

need_loadgen rss.sh
case ",$servers," in *,etcd,*) need_etcd rss.sh ;; esac
need_built

# The quick suite's loadgen arguments (../shared/bench/workloads/quick.txt), without warm-up.
args_of() {
  case "$1" in
    put-1c-seq) echo "put --clients 1 --conns 1 --total 2000 --seq-keys" ;;
    put-64c) echo "put --clients 64 --conns 8 --total 30000" ;;
    range-l-64c) echo "range --consistency l --clients 64 --conns 8 --total 30000 --preload 10000 --key-space 10000" ;;
    range-s-64c) echo "range --consistency s --clients 64 --conns 8 --total 30000 --preload 10000 --key-space 10000" ;;
    range100-s-16c) echo "range --consistency s --range-size 100 --clients 16 --conns 4 --total 5000 --preload 10000 --key-space 10000" ;;
    watch-100w) echo "watch-latency --watchers 100 --conns 4 --total 1000" ;;
    lease-ka-16c) echo "lease-keepalive --clients 16 --conns 4 --total 60000" ;;
    mixed-r4w1-64c) echo "mixed --rw-ratio 4 --clients 64 --conns 8 --total 30000 --preload 10000 --key-space 10000" ;;
    *) echo "rss.sh: unknown workload $1 (known: $all)" >&2; return 1 ;;
  esac
}

bench_workdir etcdts-rss
tmp=$work
pid=""
stop() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
  fi
}

start() { # server data-dir
  if [ "$1" = etcdts ]; then start_member etcdts "$port" "$2" "${extra[@]}"; else start_member etcd "$port" "$2"; fi
  pid=$member_pid
  "$loadgen" health --endpoints "127.0.0.1:$port" --wait 30s --quiet 2>/dev/null || {
    echo "rss.sh: $1 did not become healthy; log tail:" >&2
    tail -n 20 "$2.log" >&2
    exit 1
  }
}

# The runtime's floor: an empty Bun.serve, compiled as dist/etcdts is.
floor_src="$tmp/floor.ts"
echo 'Bun.serve({ port: 0, fetch: () => new Response("ok") });' >"$floor_src"
bun build --compile --minify --bytecode --format=esm --target=bun "$floor_src" --outfile "$tmp/floor" >/dev/null
"$tmp/floor" &
pid=$!
sleep "$idle_wait"
echo "Bun runtime floor (empty Bun.serve, compiled): $(rss_mib "$pid") MiB"
stop

printf '%-16s' workload
for s in ${servers//,/ }; do printf ' | %-8s idle   after   +%ss' "$s" "$settle"; done
echo
for w in $workloads; do
  read -r -a wargs <<<"$(args_of "$w")"
  printf '%-16s' "$w"
  for s in ${servers//,/ }; do
    dir="$tmp/$s-$w"
    start "$s" "$dir"
    sleep "$idle_wait"
    idle="$(rss_mib "$pid")"
    line="$("$loadgen" "${wargs[@]}" --endpoints "127.0.0.1:$port" --server-pid "$pid" --settle "${settle}s" --quiet)"
    after="$(echo "$line" | json_number rss_kb_after)"
    settled="$(echo "$line" | json_number rss_kb_settled)"
    rps="$(echo "$line" | json_number rps)"
    printf ' | %-6s %6s %7.1f %7.1f' "" "$idle" "$(awk "BEGIN { print ${after:-0} / 1024 }")" \
      "$(awk "BEGIN { print ${settled:-0} / 1024 }")"
    echo "$s $w rps=${rps:-?}" >>"$tmp/rates"
    stop
    rm -rf "$dir"
  done
  echo
done
echo "rates (req/s):"
sed 's/^/  /' "$tmp/rates"
