#!/usr/bin/env bash
# Builds the given benchmark targets (Release, tests and examples off) in the benchmark build
# directory, quietly: the compiler's output is shown only on failure. Shared by scripts/bench.sh,
# scripts/dispatch-rate.sh and bench/imap_memory.sh.
#
#   scripts/build-bench.sh BUILD_DIR TARGET...
#
# MPIPOOL_BENCH_SOURCE_DIR builds another source tree (default: this checkout); scripts/bench.sh
# --compare builds a checkout of another revision with it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source_dir="${MPIPOOL_BENCH_SOURCE_DIR:-$root}"
build="$1"
shift
if ! log="$(cmake -S "$source_dir" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMPIPOOL_BUILD_BENCHMARKS=ON \
              -DMPIPOOL_BUILD_TESTS=OFF -DMPIPOOL_BUILD_EXAMPLES=OFF 2>&1 &&
            cmake --build "$build" -j "$(nproc)" "${@/#/--target=}" 2>&1)"; then
  echo "$log" >&2
  echo "build-bench.sh: could not build $*" >&2
  exit 1
fi
