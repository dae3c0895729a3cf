#!/usr/bin/env bash
# Installs Versity S3 Gateway (Apache 2.0), the S3-compatible server the file-sharing tests run on
# loopback, from the Go module proxy into ~/.cache/meetview/bin. A no-op when it is already there.
set -euo pipefail
VERSION="${VERSITYGW_VERSION:-v1.8.0}"
BIN_DIR="${MEETVIEW_CACHE:-$HOME/.cache/meetview}/bin"
TARGET="$BIN_DIR/versitygw-$VERSION"
if [[ -x "$TARGET" ]]; then
  ln -sf "$TARGET" "$BIN_DIR/versitygw"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "scripts/s3/install.sh: Go is needed to install versitygw (apt-get install golang, or Go from go.dev)" >&2
  exit 1
fi
mkdir -p "$BIN_DIR"
echo "installing versitygw $VERSION from the Go module proxy (about 2 minutes of CPU)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
GOBIN="$tmp" go install "github.com/versity/versitygw/cmd/versitygw@$VERSION"
mv "$tmp/versitygw" "$TARGET"
ln -sf "$TARGET" "$BIN_DIR/versitygw"
echo "versitygw: $TARGET"
