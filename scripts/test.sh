#!/usr/bin/env bash
# Quick start 2: builds mpipool and runs the whole test suite (every MPI test at 1, 2, 3 and 5
# ranks). Extra arguments go to ctest, e.g. scripts/test.sh -R serialization
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MPIPOOL_BUILD_DIR:-$root/build}"
"$root/scripts/build.sh"
source "$root/scripts/mpi-env.sh"
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" "$@"
