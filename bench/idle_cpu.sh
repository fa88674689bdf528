#!/usr/bin/env bash
# Runs bench_idle_cpu at 2 and 3 ranks, REPEATS times each, and prints the median of every figure.
# Several builds (say, before and after a change) are run interleaved, so that the machine's
# slow phases hit them alike:
#
#   bench/idle_cpu.sh before=/path/to/old/bench_idle_cpu after=build-bench/bench/bench_idle_cpu
#
# A label may carry environment settings after a colon: `spin200:MPIPOOL_SPIN_US=200=path`.
# Environment: REPEATS (default 3), RANKS (default "2 3").
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/mpi-env.sh"
repeats="${REPEATS:-3}"
read -r -a rank_counts <<<"${RANKS:-2 3}"
[[ $# -gt 0 ]] || set -- "this=$root/build-bench/bench/bench_idle_cpu"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for ((run = 0; run < repeats; ++run)); do
  for ranks in "${rank_counts[@]}"; do
    for variant in "$@"; do
      label="${variant%%=*}"
      binary="${variant#*=}"
      settings=()
      if [[ "$label" == *:* ]]; then
        settings=("${label#*:}=${binary%%=*}")
        binary="${binary#*=}"
        label="${label%%:*}"
      fi
      line="$(env "${settings[@]}" timeout 120 mpirun -n "$ranks" "$binary")"
      echo "$label $line" | tee -a "$log" >&2
    done
  done
done
python3 - "$log" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    label, *pairs = line.split()
    values = dict(pair.split("=") for pair in pairs)
    runs[(label, values.pop("ranks"))].append({k: float(v) for k, v in values.items()})
keys = ["idle_cpu", "w6_cpu", "master_w6_cpu", "apply_us", "cold_us", "map1_ips"]
print(f"{'variant':<12} {'ranks':>5} " + " ".join(f"{k:>13}" for k in keys))
for (label, ranks), samples in runs.items():
    medians = [statistics.median(s[k] for s in samples) for k in keys]
    print(f"{label:<12} {ranks:>5} " + " ".join(f"{m:>13.4g}" for m in medians))
PY
