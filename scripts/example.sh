#!/usr/bin/env bash
# Quick start 1: builds mpipool and runs the Monte Carlo example under mpirun.
#   scripts/example.sh [ranks] [samples]      (default: 4 ranks, 200 million samples)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MPIPOOL_BUILD_DIR:-$root/build}"
ranks="${1:-4}"
samples="${2:-200000000}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
"$root/scripts/build.sh" monte_carlo_pi >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
source "$root/scripts/mpi-env.sh"
mpirun -n "$ranks" "$build/examples/monte_carlo_pi" "$samples"
