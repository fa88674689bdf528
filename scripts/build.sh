#!/usr/bin/env bash
# Configures and builds mpipool into ${MPIPOOL_BUILD_DIR:-build}. Extra arguments are build targets.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MPIPOOL_BUILD_DIR:-$root/build}"
"$root/scripts/install-deps.sh"
# RelWithDebInfo with line tables only (-g1): backtraces name files and lines, and the build
# takes half the time of full debug information.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE="${MPIPOOL_BUILD_TYPE:-RelWithDebInfo}" \
      -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" >/dev/null
targets=()
for target in "$@"; do targets+=(--target "$target"); done
cmake --build "$build" -j "$(nproc)" "${targets[@]}"
