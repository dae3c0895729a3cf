#!/usr/bin/env bash
# Installs everything Meetview needs on a fresh Debian 12 machine, idempotently; caches live outside the
# repository under ${MEETVIEW_CACHE:-$HOME/.cache/meetview}. Safe to run again: finished steps are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

# Debian packages: servers and tools the mesh and the tests run for real, and the mediasoup worker's build deps.
DEB_PACKAGES=(
  redis-server redis-tools
  openjdk-17-jre-headless maven
  g++ make pkg-config python3-venv patch
  libuv1-dev libssl-dev libsrtp2-dev libabsl-dev libflatbuffers-dev flatbuffers-compiler
  chromium chromium-driver fonts-nanum
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  ffmpeg
)
step "Debian packages"
missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} — run as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "all present"
fi
# The Debian redis-server package starts a system instance on 6379; the mesh runs its own, so stop it.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
  systemctl stop redis-server || true
fi

step "npm packages"
if [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
  echo "node_modules up to date"
else
  npm ci --no-audit --no-fund
fi

step "Kafka jars (Maven Central)"
bash scripts/kafka/fetch-jars.sh

step "mediasoup worker"
bash scripts/mediasoup/build-worker.sh

step "tools from the Go module proxy (grpcurl, versitygw) and the WAN link emulator"
# Admin tests call grpcurl; file tests run an S3-compatible server; WAN tests route through linkemu.
bash scripts/grpcurl/install.sh >/dev/null
bash scripts/s3/install.sh
npx tsx regions/launcher/wan/build-linkemu.ts

step "web client (vite build)"
npm run -s build:web

echo
echo "setup done"
