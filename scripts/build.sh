#!/usr/bin/env bash
# Builds everything, incrementally: BPF objects and the ABI table (bpf/Makefile),
# the C test and benchmark programs, the Node-API addon (node-gyp), the TypeScript.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "kindling build: bpf" >&2
make -s -C bpf OUT="$PWD/build/bpf"

echo "kindling build: programs" >&2
mkdir -p build/programs
# A program is one .c file, or a folder of .c and .h files named after it
# (receiver/test/programs/traffic/*.c -> build/programs/traffic); it is
# rebuilt when any of its files is newer than the binary.
for src in receiver/test/programs/*.c receiver/test/programs/*/ bench/programs/*.c bench/programs/*/; do
  if [[ -d "$src" ]]; then
    srcs=("$src"*.c)
    [[ -e "${srcs[0]}" ]] || continue
    out="build/programs/$(basename "$src")"
    if [[ ! -x "$out" || -n "$(find "$src" -maxdepth 1 -name '*.[ch]' -newer "$out" -print -quit)" ]]; then
      cc -O2 -g -Wall -Wextra -Werror -pthread -o "$out" "${srcs[@]}"
    fi
    continue
  fi
  [[ -e "$src" ]] || continue
  out="build/programs/$(basename "$src" .c)"
  if [[ ! -x "$out" || "$src" -nt "$out" ]]; then
    cc -O2 -g -Wall -Wextra -Werror -pthread -o "$out" "$src"
  fi
done

echo "kindling build: native addon" >&2
if [[ ! -f native/build/Makefile ]]; then
  npx --no-install node-gyp configure -C native --loglevel=error
fi
npx --no-install node-gyp build -C native --loglevel=error >/dev/null

echo "kindling build: typescript" >&2
npx --no-install tsc -p tsconfig.json
