#!/usr/bin/env bash
# The soak: 10^6 cheap tasks on 64 oversubscribed ranks through a mix of methods, every result
# checked to come back exactly once (tests/programs/soak.cpp). --ci: 10^5 tasks on 16 ranks.
#   scripts/soak.sh [--ci] [--mode default|isolated|both] [--ranks N] [--tasks N]
# isolated runs with MPIPOOL_ISOLATED=1, where 1 task in 10^4 crashes its worker's helper.
# Exits non-zero when any mode lost, duplicated or mismatched a result.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MPIPOOL_BUILD_DIR:-$root/build}"
ranks=64
tasks=1000000
mode=both
while [[ $# -gt 0 ]]; do
  case "$1" in
    --ci) ranks=16; tasks=100000 ;;
    --mode) mode="$2"; shift ;;
    --ranks) ranks="$2"; shift ;;
    --tasks) tasks="$2"; shift ;;
    *) echo "usage: $0 [--ci] [--mode default|isolated|both] [--ranks N] [--tasks N]" >&2; exit 2 ;;
  esac
  shift
done
case "$mode" in
  default) modes=(default) ;;
  isolated) modes=(isolated) ;;
  both) modes=(default isolated) ;;
  *) echo "$0: --mode is default, isolated or both, not '$mode'" >&2; exit 2 ;;
esac
"$root/scripts/build.sh" soak
source "$root/scripts/mpi-env.sh"
status=0
for m in "${modes[@]}"; do
  environment=(env -u MPIPOOL_ISOLATED)
  [[ $m == isolated ]] && environment=(env MPIPOOL_ISOLATED=1)
  echo "soak: $m mode, $tasks tasks on $ranks ranks"
  "${environment[@]}" mpirun -n "$ranks" --oversubscribe "$build/tests/soak" "$tasks" || {
    echo "soak: $m mode FAILED" >&2
    status=1
  }
done
exit "$status"
