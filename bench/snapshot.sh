#!/usr/bin/env bash
# Snapshot save and restore of N keys × 256 B against the real etcd 3.4, same machine (see
# bench/snapshot-bench.ts). Run it when the machine is quiet.
#   bench/snapshot.sh [keys=100000] [value-bytes=256] [base-port=25600]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="$root/node_modules/.bin:$PATH"
(cd "$root" && npm run --silent build >/dev/null)
exec bun "$root/bench/snapshot-bench.ts" "$@"
