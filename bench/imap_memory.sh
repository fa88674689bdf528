#!/usr/bin/env bash
# The master's peak RSS during imap over 1, 2 and 4 million items of 1 KiB, with a fast and with
# a slow consumer, as growth over the peak RSS of an idle MPI rank of the same job. Builds
# bench_imap_memory, runs every configuration REPEATS times (each its own mpirun: peak RSS never
# goes down within a process), prints the medians and checks the targets:
#   - growth at most 16 MiB in every configuration;
#   - flat: the growth at the largest length within 10% of the growth at the smallest, per consumer.
# Ends with PASS or FAIL; exits non-zero on FAIL or if a run fails.
#
# Environment:
#   MPIPOOL_BENCH_BUILD_DIR  build directory, relative to the repository root (default build-bench)
#   REPEATS                  runs per configuration (default 3)
#   SLOW_REPEATS             runs per slow-consumer configuration (default REPEATS; a slow
#                            run of 4M items takes about 40 s)
#   ITEMS                    the lengths, smallest first (default "1000000 2000000 4000000")
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MPIPOOL_BENCH_BUILD_DIR:-build-bench}"
[[ "$build" = /* ]] || build="$root/$build"
repeats="${REPEATS:-3}"
slow_repeats="${SLOW_REPEATS:-$repeats}"
read -r -a lengths <<<"${ITEMS:-1000000 2000000 4000000}"
ranks=4  # master, 2 workers, the idle rank
growth_limit_mib=16
flat_tolerance=0.10

"$root/scripts/install-deps.sh"
"$root/scripts/build-bench.sh" "$build" bench_imap_memory
# shellcheck disable=SC1091  # sets what Open MPI needs to run as root and oversubscribed
source "$root/scripts/mpi-env.sh"
program="$build/bench/bench_imap_memory"

# The value of key=... in a line printed by bench_imap_memory.
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
# The median of numbers given as arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A growth master idle seconds runs
for consumer in fast slow; do
  count=$repeats
  [ "$consumer" = slow ] && count=$slow_repeats
  for n in "${lengths[@]}"; do
    for ((i = 1; i <= count; i++)); do
      if ! line="$(mpirun -n "$ranks" "$program" "$n" "$consumer")"; then
        echo "FAIL: mpirun -n $ranks bench_imap_memory $n $consumer failed" >&2
        exit 1
      fi
      echo "$line"
      key="$consumer $n"
      growth[$key]+="$(field growth_mib "$line") "
      master[$key]+="$(field master_peak_mib "$line") "
      idle[$key]+="$(field idle_peak_mib "$line") "
      seconds[$key]+="$(field seconds "$line") "
      runs[$key]=$count
    done
  done
done

# shellcheck disable=SC2086  # the arrays hold space-separated lists of numbers
med() { median ${1}; }

echo
echo "Median over the runs; MiB = 2^20 bytes; growth = master peak - idle rank's peak."
printf '%-9s %-8s %5s %12s %10s %12s %16s %9s\n' items consumer runs "master peak" "idle peak" "growth" "growth min-max" seconds
declare -A median_growth
for consumer in fast slow; do
  for n in "${lengths[@]}"; do
    key="$consumer $n"
    median_growth[$key]="$(med "${growth[$key]}")"
    # shellcheck disable=SC2086
    range="$(printf '%s\n' ${growth[$key]} | sort -g | sed -n '1p;$p' | paste -sd- -)"
    printf '%-9s %-8s %5s %12.2f %10.2f %12.2f %16s %9.2f\n' "$n" "$consumer" "${runs[$key]}" \
      "$(med "${master[$key]}")" "$(med "${idle[$key]}")" "${median_growth[$key]}" "$range" "$(med "${seconds[$key]}")"
  done
done

echo
verdict=PASS
check() {  # check DESCRIPTION CONDITION(awk expression, true = pass)
  if awk "BEGIN { exit !($2) }"; then echo "ok    $1"; else echo "MISS  $1"; verdict=FAIL; fi
}
for consumer in fast slow; do
  for n in "${lengths[@]}"; do
    g="${median_growth[$consumer $n]}"
    check "growth $g MiB <= $growth_limit_mib MiB ($n items, $consumer)" "$g <= $growth_limit_mib"
  done
  first="${lengths[0]}"
  last="${lengths[${#lengths[@]} - 1]}"
  g1="${median_growth[$consumer $first]}"
  g2="${median_growth[$consumer $last]}"
  change="$(awk "BEGIN { printf \"%+.1f\", ($g2 - $g1) / $g1 * 100 }")"
  check "flat: growth at $last items ($g2 MiB) within 10% of $first items ($g1 MiB): ${change}% ($consumer)" \
    "($g2 - $g1) <= $flat_tolerance * $g1 && ($g1 - $g2) <= $flat_tolerance * $g1"
done
echo "$verdict"
[ "$verdict" = PASS ]
