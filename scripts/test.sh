#!/usr/bin/env bash
# The whole test suite, from a fresh machine with only Node and npm: installs what the
# tests need (npm packages; from apt the real etcd/etcdctl, chromium, the Python gateway clients),
# builds the binary, checks formatting, lint and types, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

[ -x node_modules/.bin/bun ] || npm ci --no-audit --no-fund

# apt_install WHY PACKAGE...: installs Debian packages the tests need (as root, with apt),
# or says which tests will be skipped without them.
apt_install() {
  local why=$1
  shift
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing $* for $why"
    [ -n "${apt_updated:-}" ] || apt-get update -qq
    apt_updated=1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null ||
      echo "warning: could not install $*: $why will be skipped" >&2
  else
    echo "warning: $* not installed and cannot apt-get them: $why will be skipped" >&2
  fi
}

command -v etcd >/dev/null 2>&1 && command -v etcdctl >/dev/null 2>&1 ||
  apt_install "the conformance suites against the real etcd" etcd-server etcd-client
# Under CI the suites must run against the real etcd too: stop here rather than pass on half.
if [ -n "${CI:-}" ] && [ "${CI}" != false ] && [ "${CI}" != 0 ] &&
  ! { [ -x /usr/bin/etcd ] && [ -x /usr/bin/etcdctl ]; } && [ -z "${ETCD_BIN:-}" ]; then
  echo "error: CI needs the real etcd (/usr/bin/etcd, /usr/bin/etcdctl) for the conformance suites" >&2
  exit 1
fi
command -v chromium >/dev/null 2>&1 ||
  apt_install "the web console tests (tests/ui)" chromium
[ -x /usr/sbin/dnsmasq ] ||
  apt_install "the DNS SRV discovery tests (tests/cluster/discovery_srv.test.ts)" dnsmasq-base
[ -f /usr/lib/python3/dist-packages/tooz/tests/test_coordination.py ] &&
  /usr/bin/python3 -c "import pytest, oslotest, testtools, etcd3gw" 2>/dev/null ||
  apt_install "the gateway clients' own suites (tests/gateway/python_clients.test.ts)" \
    python3-etcd3gw python3-tooz python3-pytest python3-oslotest python3-testtools

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
