#!/usr/bin/env bash
# Configures and builds mpipool into ${MPIPOOL_BUILD_DIR:-build}. Extra arguments are build targets.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MPIPOOL_BUILD_DIR:-$root/build}"
"$root/scripts/install-deps.sh"
# RelWithDebInfo with line tables only (-g1): backtraces name files and lines, and the build
# takes half the time of full debug information. A folder configured already keeps its build
# type (one configured for Release and installed from stays Release), unless
# MPIPOOL_BUILD_TYPE names one.
build_type=()
if [ -n "${MPIPOOL_BUILD_TYPE:-}" ] || ! grep -q '^CMAKE_BUILD_TYPE:.*=.' "$build/CMakeCache.txt" 2>/dev/null; then
  build_type=(-DCMAKE_BUILD_TYPE="${MPIPOOL_BUILD_TYPE:-RelWithDebInfo}")
fi
cmake -S "$root" -B "$build" "${build_type[@]}" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" >/dev/null
targets=()
for target in "$@"; do targets+=(--target "$target"); done
cmake --build "$build" -j "$(nproc)" "${targets[@]}"
