#!/usr/bin/env bash
# Runs a pinned tool that lives outside package.json: deno (fmt/lint) or buf (proto generation).
# They are not dependencies because the npm registry reachable here serves only their linux-x64
# platform packages, so a lock file that names them cannot pass `npm ci`. Installed on first
# use into node_modules without touching package.json or the lock.
#   scripts/tool.sh deno fmt --check
set -euo pipefail
cd "$(dirname "$0")/.."
tool="$1"
shift
case "$tool" in
  deno) pkg="deno@2.9.6"; bin="node_modules/deno/deno" ;;
  buf) pkg="@bufbuild/buf@1.75.0"; bin="node_modules/@bufbuild/buf/bin/buf" ;;
  *) echo "tool.sh: unknown tool $tool" >&2; exit 2 ;;
esac
if [ ! -x "$bin" ]; then
  npm install --no-save --no-package-lock --no-audit --no-fund "$pkg" >/dev/null 2>&1 || npm install --no-save --no-package-lock "$pkg"
fi
exec "$bin" "$@"
