#!/usr/bin/env bash
# Offline (air-gapped) build of the mediasoup worker for the installed mediasoup version.
#
#   bash scripts/mediasoup/build-worker.sh [--force]
#
# Result: ${MEETVIEW_CACHE:-$HOME/.cache/meetview}/mediasoup-worker/<version>/mediasoup-worker,
# the path lib/media/workerBin.ts looks up. If mediasoup's own install already obtained a worker
# (node_modules/mediasoup/worker/out/Release/mediasoup-worker) or the cache has one, this is a
# no-op. The worker source comes from the mediasoup npm tarball; it is copied to a temporary build
# directory, its downloaded subprojects are replaced by scripts/mediasoup/subprojects/ (Debian's
# system libraries + two compatibility headers) and scripts/mediasoup/patches/ are applied there.
# node_modules is never modified. See scripts/mediasoup/README.md.
#
# Environment: MEETVIEW_CACHE (cache root), MEDIASOUP_DIR (default <repo>/node_modules/mediasoup),
# BUILD_JOBS (default: number of cores), BUILD_NICE (default 10; 0 on a dedicated CI machine),
# KEEP_BUILD_DIR=1 (keep the temporary build directory).
set -euo pipefail

readonly MESON_VERSION=1.12.1
readonly NINJA_VERSION=1.13.2
readonly DEBIAN_PACKAGES=(g++ pkg-config python3-venv patch libuv1-dev libssl-dev libsrtp2-dev
  libabsl-dev libflatbuffers-dev flatbuffers-compiler)

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/../.." && pwd)"
mediasoup_dir="${MEDIASOUP_DIR:-$repo_root/node_modules/mediasoup}"
cache_root="${MEETVIEW_CACHE:-$HOME/.cache/meetview}"
force=0

log() { printf 'build-worker: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

for arg in "$@"; do
  case "$arg" in
  --force) force=1 ;;
  -h | --help)
    sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *) die "unknown argument: $arg (usage: build-worker.sh [--force])" ;;
  esac
done

[[ -f "$mediasoup_dir/package.json" ]] ||
  die "mediasoup is not installed at $mediasoup_dir (run npm ci first)"

# The version is read without starting node: this path must stay well under a second.
version="$(sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$mediasoup_dir/package.json" | head -n 1)"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || die "cannot read mediasoup's version from $mediasoup_dir/package.json"

bundled="$mediasoup_dir/worker/out/Release/mediasoup-worker"
dest_dir="$cache_root/mediasoup-worker/$version"
dest="$dest_dir/mediasoup-worker"

if ((force == 0)); then
  if [[ -x "$bundled" ]]; then
    echo "mediasoup-worker $version: using the worker from mediasoup's install: $bundled"
    exit 0
  fi
  if [[ -x "$dest" ]]; then
    echo "mediasoup-worker $version: already built: $dest"
    exit 0
  fi
fi

# --- prerequisites ---------------------------------------------------------------------------

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]]; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]} > 0)); then
  die "missing Debian packages; install them with: apt-get install -y ${missing[*]}"
fi
[[ -d "$mediasoup_dir/worker/src" && -f "$mediasoup_dir/worker/meson.build" ]] ||
  die "$mediasoup_dir/worker has no worker source (is this a complete mediasoup npm package?)"

mkdir -p "$dest_dir"

# One build per version at a time (two test runs may both call setup); the second waits, then
# finds the binary.
exec 9>"$cache_root/mediasoup-worker/.build-$version.lock"
if ! flock -n 9; then
  log "another build of mediasoup-worker $version is running; waiting for it"
  flock 9
fi
if ((force == 0)) && [[ -x "$dest" ]]; then
  echo "mediasoup-worker $version: already built: $dest"
  exit 0
fi

start_s=$SECONDS

# --- meson + ninja from PyPI (Debian bookworm's meson 1.0.1 is older than the worker needs) ------

venv="$cache_root/mediasoup-worker/tools/meson-$MESON_VERSION-ninja-$NINJA_VERSION"
mkdir -p "$(dirname "$venv")"
(
  # Builds of two mediasoup versions may run at once; they share this venv.
  flock 8
  if [[ ! -f "$venv/.complete" ]]; then
    log "installing meson $MESON_VERSION and ninja $NINJA_VERSION into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --disable-pip-version-check --no-input -q \
      "meson==$MESON_VERSION" "ninja==$NINJA_VERSION"
    touch "$venv/.complete"
  fi
) 8>"$venv.lock"
export PATH="$venv/bin:$PATH"

# --- unpack the worker source into a temporary build directory ---------------------------------

build_root="$(mktemp -d "${TMPDIR:-/tmp}/mediasoup-worker-$version.XXXXXX")"
cleanup() {
  local rc=$?
  if [[ "${KEEP_BUILD_DIR:-0}" == 1 ]] || ((rc != 0)); then
    log "build directory kept: $build_root"
  else
    rm -rf "$build_root"
  fi
  rm -f "$dest_dir"/.mediasoup-worker.tmp.*
}
trap cleanup EXIT

src="$build_root/worker"
log "copying the worker source of mediasoup $version to $src"
mkdir -p "$src"
# out/ would be a previous in-tree build; none of it is needed.
tar -C "$mediasoup_dir/worker" --exclude=./out -cf - . | tar -C "$src" -xf -

# Every downloaded subproject is replaced by a local one (Debian's libraries). catch2 (tests) and
# wingetopt (Windows) are not used by this build; their wraps go too so nothing can be fetched.
rm -rf "$src/subprojects"
mkdir -p "$src/subprojects"
cp -R "$script_dir/subprojects/." "$src/subprojects/"

for patch_file in "$script_dir"/patches/*.patch; do
  log "applying $(basename "$patch_file")"
  patch -d "$src" -p1 --forward --batch --quiet <"$patch_file" ||
    die "$(basename "$patch_file") does not apply to mediasoup $version's worker; update it"
done

# --- configure and compile -----------------------------------------------------------------------

jobs="${BUILD_JOBS:-$(nproc)}"
nice_level="${BUILD_NICE:-10}"
log "meson setup (meson $(meson --version), ninja $(ninja --version))"
(cd "$src" && nice -n "$nice_level" meson setup --wrap-mode=nodownload --buildtype=release -Db_ndebug=true \
  --prefix "$build_root/install" "$build_root/out" . >"$build_root/setup.log" 2>&1) || {
  tail -n 40 "$build_root/setup.log" >&2
  die "meson setup failed (full log: $build_root/setup.log)"
}

log "compiling mediasoup-worker with $jobs jobs (a few minutes)"
(cd "$build_root/out" && nice -n "$nice_level" meson compile -j "$jobs" mediasoup-worker \
  >"$build_root/compile.log" 2>&1) || {
  grep -E -B2 -A8 'error|FAILED' "$build_root/compile.log" | head -n 80 >&2 || true
  die "compilation failed (full log: $build_root/compile.log)"
}

built="$build_root/out/mediasoup-worker"
[[ -x "$built" ]] || die "meson compile succeeded but $built is missing"
if ldd "$built" | grep -q 'not found'; then
  ldd "$built" >&2
  die "the built worker has unresolved shared libraries"
fi

# --- install atomically ---------------------------------------------------------------------------

# A rename within one directory is atomic: readers see no binary or the whole binary.
tmp="$dest_dir/.mediasoup-worker.tmp.$$"
cp "$built" "$tmp"
chmod 0755 "$tmp"
{
  echo "mediasoup $version worker, built offline by scripts/mediasoup/build-worker.sh"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -srm), in $((SECONDS - start_s)) s"
  echo "meson $MESON_VERSION, ninja $NINJA_VERSION"
  echo "patches: $(cd "$script_dir/patches" && ls -- *.patch | tr '\n' ' ')"
  echo "Debian packages:"
  dpkg-query -W -f='  ${Package} ${Version}\n' "${DEBIAN_PACKAGES[@]}"
} >"$dest_dir/build-info.txt"
mv -f "$tmp" "$dest"

echo "mediasoup-worker $version: built in $((SECONDS - start_s)) s: $dest"
