#!/usr/bin/env bash
# The suite built with clang (Debian's newest: clang-16 on Debian 12, installed if missing), then
# every test once, less those labelled big, scale and soak: at 2 and 5 ranks over TCP
# (scripts/test-tcp.sh on this build: no shared memory, as between nodes), every other test
# (1 and 3 ranks, unit tests, compile-fail cases, examples) as usual, but for the failure-point
# matrix, which runs at 2 and 5 ranks only. scripts/test.sh runs all of them with GCC. Built
# without optimization or debug information (with assertions), which halves the build: the point
# is another compiler's reading of the code (argument order, overloads, templates), not its speed.
# About 4.5 minutes on two busy cores, from scratch.
# Extra arguments go to ctest, e.g. scripts/test-clang.sh -R pool
# Environment: MPIPOOL_CLANG_BUILD_DIR (default build-clang); CXX, a clang++ of your choice.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MPIPOOL_CLANG_BUILD_DIR:-$root/build-clang}"
# With the sanitizer runtimes that scripts/sanitize.sh needs: .ci/run runs this first, before
# the Slurm test's own install runs beside the sanitizer step, and two apt-gets at once fail.
MPIPOOL_WITH_CLANG=1 MPIPOOL_WITH_CLANG_SANITIZERS=1 "$root/scripts/install-deps.sh"
source "$root/scripts/find-clang.sh"
echo "test-clang.sh: $("$clang_cxx" --version | head -n 1)"
cmake -S "$root" -B "$build" -DCMAKE_CXX_COMPILER="$clang_cxx" -DCMAKE_BUILD_TYPE=Debug \
      -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g0" >/dev/null
cmake --build "$build" -j "$(nproc)"
(
  # shellcheck disable=SC1091
  source "$root/scripts/mpi-env.sh"
  ctest --test-dir "$build" --output-on-failure -j "$(nproc)" -LE 'big|scale|soak|groups' \
        -E '[.](2|5)ranks$|^failure_points[.]' "$@"
)
MPIPOOL_BUILD_DIR="$build" "$root/scripts/test-tcp.sh" "$@"
