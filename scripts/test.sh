#!/usr/bin/env bash
# The whole test suite, from a fresh machine with only Node and npm: installs what the
# tests need (npm packages, the real etcd/etcdctl from apt for the conformance suites),
# builds the binary, checks formatting, lint and types, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

[ -x node_modules/.bin/bun ] || npm ci --no-audit --no-fund

if ! command -v etcd >/dev/null 2>&1 || ! command -v etcdctl >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing the real etcd and etcdctl (Debian etcd-server, etcd-client) for the conformance suites"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client >/dev/null
  else
    echo "warning: etcd/etcdctl not installed and cannot apt-get them: conformance suites run against etcdts only" >&2
  fi
fi

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian chromium for the web console tests (tests/ui)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null ||
      echo "warning: could not install chromium: the console tests will be skipped" >&2
  else
    echo "warning: chromium not installed and cannot apt-get it: the console tests will be skipped" >&2
  fi
fi

npm run --silent build
bash scripts/tool.sh deno fmt --check
bash scripts/tool.sh deno lint
tsc --noEmit -p .
tsc --noEmit -p server/ui/app # the console's browser code (DOM types)

# bun's summary is " N pass" / " N fail"; also print the plain closing line CI reads.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
bun test "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -E '^ *[0-9]+ pass$' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
failed=$(grep -E '^ *[0-9]+ fail$' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
echo "${passed} passed, ${failed} failed"
if [ "$passed" = 0 ]; then echo "no test ran" >&2; exit 1; fi
exit "$status"
