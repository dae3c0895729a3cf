#!/usr/bin/env bash
# Fetches the pinned Kafka jars (pom.xml beside this script) from Maven Central into
#   ${MEETVIEW_CACHE:-$HOME/.cache/meetview}/kafka/<version>/lib
# Idempotent: a marker written after a complete fetch makes a second run a no-op.
# The local mesh launcher (regions/launcher) runs brokers and MirrorMaker 2 from that folder.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")"
cache="${MEETVIEW_CACHE:-$HOME/.cache/meetview}"
dest="$cache/kafka/$version"
marker="$dest/.complete"

if [[ -f "$marker" ]] && [[ "$(cat "$marker")" == "$(sha256sum "$here/pom.xml" | cut -d' ' -f1)" ]]; then
  echo "kafka $version jars: already in $dest/lib"
  exit 0
fi

command -v mvn >/dev/null || { echo "fetch-jars: mvn not found (apt-get install maven)" >&2; exit 1; }
command -v java >/dev/null || { echo "fetch-jars: java not found (apt-get install openjdk-17-jre-headless)" >&2; exit 1; }

echo "kafka $version jars: fetching into $dest/lib (Maven Central)"
start=$(date +%s)
# Fetch into a temporary folder, then swap it in, so an interrupted run never leaves a half folder
# that looks complete.
tmp="$dest/lib.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
mvn -q -B -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies -DoutputDirectory="$tmp" -DincludeScope=runtime
count=$(find "$tmp" -name '*.jar' | wc -l)
if [[ "$count" -lt 50 ]]; then
  echo "fetch-jars: only $count jars fetched into $tmp; expected about 100" >&2
  exit 1
fi
rm -rf "$dest/lib"
mv "$tmp" "$dest/lib"
trap - EXIT
sha256sum "$here/pom.xml" | cut -d' ' -f1 >"$marker"
echo "kafka $version jars: $count jars in $dest/lib ($(($(date +%s) - start)) s)"
