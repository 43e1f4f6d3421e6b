#!/usr/bin/env bash
# Fetches the OpenTelemetry protocol definitions (.proto files) that the test
# receivers in receiver/test/helpers/otlp.ts are built on, into build/otel-proto/:
#   build/otel-proto/opentelemetry/proto/collector/trace/v1/trace_service.proto
#   build/otel-proto/opentelemetry/proto/collector/metrics/v1/metrics_service.proto ...
#
# They come from Debian trixie's `opentelemetry-proto` package. Bookworm does not
# ship it, so the package is downloaded through a private apt state directory:
# the system's sources, lists, caches and dpkg status are read-only inputs here
# and are never changed. The files are never committed (build/ is ignored).
#
#   scripts/fetch-otel-proto.sh          fetch unless already present (idempotent)
#   scripts/fetch-otel-proto.sh --force  fetch again
#
# Environment: KINDLING_DEBIAN_MIRROR (default http://deb.debian.org/debian),
# KINDLING_OTEL_PROTO_SUITE (default trixie).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly OUT="build/otel-proto"
readonly PKG="opentelemetry-proto"
readonly MIRROR="${KINDLING_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
readonly SUITE="${KINDLING_OTEL_PROTO_SUITE:-trixie}"
readonly KEYRING="/usr/share/keyrings/debian-archive-keyring.gpg"
# the files the receivers load; their presence means "already fetched"
readonly NEEDED=(
  opentelemetry/proto/collector/trace/v1/trace_service.proto
  opentelemetry/proto/collector/metrics/v1/metrics_service.proto
)

die() { echo "fetch-otel-proto: $*" >&2; exit 1; }
log() { echo "fetch-otel-proto: $*" >&2; }

present() {
  local f
  for f in "${NEEDED[@]}"; do [[ -f "$OUT/$f" ]] || return 1; done
}

if [[ "${1:-}" != "--force" ]] && present; then
  log "already present in $OUT ($(cat "$OUT/.version" 2>/dev/null || echo 'version unknown'))"
  exit 0
fi

for tool in apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || die "needs '$tool' (a Debian-family system); cannot fetch $PKG"
done
[[ -r "$KEYRING" ]] || die "missing $KEYRING: install the debian-archive-keyring package"
[[ $EUID -eq 0 ]] || log "warning: not root; apt-get may refuse to write its private state (run as root if this fails)"

work="$(mktemp -d "${TMPDIR:-/tmp}/kindling-otel-proto.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# apt downloads as the unprivileged _apt user: it must be able to reach the dirs
chmod 755 "$work"
mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/cache" "$work/prefs.d" "$work/extract"
echo "deb [signed-by=$KEYRING] $MIRROR $SUITE main" >"$work/sources.list"
if [[ -r /var/lib/dpkg/status ]]; then cp /var/lib/dpkg/status "$work/status"; else : >"$work/status"; fi
: >"$work/preferences"

# every path apt would write to points into $work; the system's pins are ignored
# too, so they cannot hide the trixie candidate
apt_private=(
  -o "Dir::Etc::SourceList=$work/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::Etc::Preferences=$work/preferences"
  -o "Dir::Etc::PreferencesParts=$work/prefs.d"
  -o "Dir::State::Lists=$work/lists"
  -o "Dir::State::status=$work/status"
  -o "Dir::Cache=$work/cache"
  -o "Dir::Cache::Archives=$work/archives"
  -o "APT::Get::List-Cleanup=0"
  -o "Acquire::Languages=none"
)

start=$SECONDS
log "reading the $SUITE package index from $MIRROR (private apt state in $work)"
if ! apt-get "${apt_private[@]}" -qq update >"$work/update.log" 2>&1; then
  cat "$work/update.log" >&2
  die "apt-get update for $SUITE failed (is $MIRROR reachable?)"
fi
# apt-get update exits 0 even when a source failed; say so plainly instead
if grep -qE '^(W|E): (Failed|Some index)' "$work/update.log"; then
  cat "$work/update.log" >&2
  die "could not read the $SUITE index from $MIRROR"
fi

log "downloading $PKG"
if ! (cd "$work/archives" && apt-get "${apt_private[@]}" -qq download "$PKG") >"$work/download.log" 2>&1; then
  cat "$work/download.log" >&2
  die "apt-get download $PKG from $SUITE failed"
fi
deb="$(find "$work/archives" -maxdepth 1 -name "${PKG}_*.deb" | head -n 1)"
[[ -n "$deb" ]] || die "apt-get download reported success but left no ${PKG}_*.deb"
version="$(dpkg-deb -f "$deb" Version)"

dpkg-deb -x "$deb" "$work/extract"
src="$work/extract/usr/include/opentelemetry"
[[ -d "$src/proto" ]] || die "$PKG $version has no usr/include/opentelemetry/proto/ (package layout changed?)"

# build the tree beside the target and rename it into place, so an interrupted
# run never leaves a half-filled $OUT that looks complete
mkdir -p "$(dirname "$OUT")"
staged="$OUT.tmp.$$"
rm -rf "$staged"
mkdir -p "$staged"
cp -a "$src" "$staged/opentelemetry"
echo "$PKG $version ($SUITE)" >"$staged/.version"
rm -rf "$OUT"
mv "$staged" "$OUT"
present || die "fetched $PKG $version but $OUT lacks ${NEEDED[*]}"

count="$(find "$OUT" -name '*.proto' | wc -l)"
log "placed $count .proto files from $PKG $version in $OUT in $((SECONDS - start)) s"
