# Sourced by the bench scripts: what they need, one member started the same way, their
# scratch directory, and the processes they start (all stopped when the script exits).
bench_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
loadgen="${LOADGEN:-/tmp/etcd-bench/bin/loadgen}"
etcd_bin="${ETCD_BIN:-${ETCD:-/usr/bin/etcd}}"

# need_loadgen NAME: stops NAME with a clear message when the shared load generator is missing.
need_loadgen() {
  if [ ! -x "$loadgen" ]; then
    echo "$1: no load generator at $loadgen; build it with ../shared/bench/build.sh (needs golang-go" \
      "and golang-etcd-server-dev), or point LOADGEN at a built loadgen" >&2
    exit 1
  fi
}

# need_etcd NAME: stops NAME when the real etcd is missing.
need_etcd() {
  [ -x "$etcd_bin" ] || { echo "$1: etcd not found at $etcd_bin (apt-get install etcd-server, or set ETCD_BIN)" >&2; exit 1; }
}

# need_built: builds dist/etcdts when it is missing.
need_built() {
  [ -x "$bench_root/dist/etcdts" ] || (cd "$bench_root" && PATH="$bench_root/node_modules/.bin:$PATH" npm run --silent build)
}

# bench_workdir PREFIX: sets $work to a fresh directory; when the script exits, the
# processes it left running in the background are stopped and the directory removed.
bench_workdir() {
  work="$(mktemp -d "/tmp/$1.XXXXXX")"
  trap bench_cleanup EXIT
}

bench_cleanup() {
  local p
  for p in $(jobs -p); do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}

# start_member KIND PORT DATA [more flags...]: a single etcd or etcdts member serving
# 127.0.0.1:PORT (peer PORT+1) in the background, logging to DATA.log; sets $member_pid.
start_member() {
  local kind=$1 port=$2 data=$3 peer="http://127.0.0.1:$(($2 + 1))"
  shift 3
  local args=(--data-dir "$data" --listen-client-urls "http://127.0.0.1:$port"
    --advertise-client-urls "http://127.0.0.1:$port" --listen-peer-urls "$peer"
    --initial-advertise-peer-urls "$peer" --initial-cluster "default=$peer")
  if [ "$kind" = etcd ]; then
    "$etcd_bin" "${args[@]}" "$@" >>"$data.log" 2>&1 &
  else
    "$bench_root/dist/etcdts" serve "${args[@]}" "$@" >>"$data.log" 2>&1 &
  fi
  member_pid=$!
}

# cpu_ticks PID: the process's user + system CPU so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# rss_mib PID: the process's resident memory in MiB ("?" once it is gone).
rss_mib() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"; }

# json_number NAME < LINE: the first number under "NAME" in a loadgen JSON line.
json_number() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
