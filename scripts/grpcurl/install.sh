#!/usr/bin/env bash
# Installs grpcurl (used by the Admin API tests and handy for operators) into a cache folder outside the
# repository, from the Go module proxy. A no-op when that version is already there.
#   MEETVIEW_BIN_DIR   where to put it (default ${MEETVIEW_CACHE:-~/.cache/meetview}/bin)
# Prints the binary's path on success.
set -euo pipefail
VERSION=v1.9.3
BIN_DIR=${MEETVIEW_BIN_DIR:-"${MEETVIEW_CACHE:-$HOME/.cache/meetview}/bin"}
TARGET="$BIN_DIR/grpcurl"
STAMP="$BIN_DIR/.grpcurl-$VERSION"
if [[ -x "$TARGET" && -f "$STAMP" ]]; then
  echo "$TARGET"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "grpcurl: Go is needed to build it (apt-get install golang, or https://go.dev/dl); then rerun $0" >&2
  exit 1
fi
mkdir -p "$BIN_DIR"
echo "grpcurl: building $VERSION with go install (about 2 min of CPU)…" >&2
GOBIN="$BIN_DIR" go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$VERSION"
touch "$STAMP"
echo "$TARGET"
