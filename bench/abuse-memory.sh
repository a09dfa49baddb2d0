#!/usr/bin/env bash
# Issue 19's abuse table for etcdts and for the real etcd 3.4: for each probe, the
# server's RSS idle, its peak over idle, RSS after the abuse over idle, and another
# client's p99 latency meanwhile (tests/abuse/measure.ts). It runs the abuse suites once
# per server; against etcd, their etcdts-specific assertions (GOAWAY codes, answers) may
# fail: only the rows are printed. Needs dist/etcdts built and etcd on the PATH.
# Run: bash bench/abuse-memory.sh   (a few minutes; heavy: run it alone on a quiet machine)
set -uo pipefail
cd "$(dirname "$0")/.."
SUITES=(tests/h2/flood.test.ts tests/h2/unread.test.ts tests/gateway/limits.test.ts)
for target in etcdts etcd; do
  echo "## $target"
  echo "| probe | idle | peak | after | other client |"
  echo "|---|---|---|---|---|"
  for suite in "${SUITES[@]}"; do
    ABUSE_TARGET=$target bun test "$suite" 2>&1 | grep -E '^\| ' || echo "| $suite | no rows |"
  done
  echo
done
