#!/usr/bin/env bash
# Makes a fresh Debian/Ubuntu machine ready to build and run Kindling:
# installs the missing system packages (as root), the npm dependencies, then builds.
#   scripts/setup.sh           what the agent needs
#   scripts/setup.sh --test    plus the real peers the tests drive
set -euo pipefail
cd "$(dirname "$0")/.."

# toolchain for CO-RE BPF objects and the Node-API addon against libbpf
PKGS=(clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool make g++ python3 pkg-config)
# peers the tests and benchmarks drive
TEST_PKGS=(curl util-linux iproute2 nginx wrk prometheus mariadb-server mariadb-client redis-server redis-tools memcached libmemcached-tools dnsmasq-base bind9-dnsutils postgresql postgresql-client openssl)
[[ "${1:-}" == "--test" ]] && PKGS+=("${TEST_PKGS[@]}")

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $EUID -ne 0 ]]; then
    echo "kindling setup: missing system packages: ${missing[*]}" >&2
    echo "  run as root, or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "kindling setup: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "kindling setup: installing npm dependencies" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

bash scripts/build.sh

# the OTLP .proto files the tests' receivers are built on (Debian's opentelemetry-proto)
[[ "${1:-}" == "--test" ]] && bash scripts/fetch-otel-proto.sh
exit 0
