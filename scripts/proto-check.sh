#!/usr/bin/env bash
# Fails when proto/gen does not match what the .proto files generate, or when buf lint finds a problem.
set -euo pipefail
cd "$(dirname "$0")/.."
npx buf lint proto
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npx buf generate proto --template proto/buf.gen.yaml -o "$tmp"
if ! diff -ru proto/gen "$tmp/proto/gen"; then
  echo "proto/gen is out of date with the .proto files: run \`npm run proto:gen\` and commit the result" >&2
  exit 1
fi
echo "proto: lint clean, generated code up to date"
