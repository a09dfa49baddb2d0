#!/usr/bin/env bash
# Regenerates proto/gen/*_pb.ts from proto/**/*.proto. The output is committed so that
# building and testing never need buf; run this after editing a .proto file.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PWD/node_modules/@bufbuild/buf/bin:$PATH"
bash scripts/tool.sh buf --version >/dev/null
rm -rf proto/gen
buf generate
