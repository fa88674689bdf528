#!/usr/bin/env bash
# The side-by-side benchmarks: mpipool, multiprocessing.Pool(2), ProcessPoolExecutor(2),
# mpi4py.futures (3 ranks) and a raw MPI request/reply loop, on workloads W1-W6 (defined in
# bench/RESULTS.md), interleaved round-robin per repetition; then the chunk codec
# micro-benchmarks. Prints the table of medians and the ratios of the performance targets.
#
#   scripts/bench.sh               # full run: REPEATS (default 3) repetitions, under 10 minutes;
#                                  # writes bench/RESULTS.md and bench/results.png
#   scripts/bench.sh --quick       # one small repetition, under a minute (CI smoke run); writes
#                                  # only into the build directory
#   scripts/bench.sh --repeats 5
# Then bench_parallel_tasks (16 ranks): parallel tasks of mixed widths against FIFO grouping.
#
#   scripts/bench.sh --compare REV [--quick] [--repeats N] [--with-peers]
# Comparing builds: checks REV out into a temporary git worktree, builds its benchmarks (with
# REV's own CMake files) in <build dir>-compare-<short REV>/build, and runs mpipool's sessions
# (bench_workloads at 3 ranks on W1-W4 and at 2 ranks on W1/W2; bench_dispatch_rate at 2 ranks)
# for the working tree and for REV, interleaved in every repetition. Prints the table of medians
# (REV, working tree, their ratio) and writes it to <build dir>/bench-results/compare.md; the
# Python peers join the round-robin only with --with-peers. Writes nothing into the checkout.
#
# Environment: MPIPOOL_BENCH_BUILD_DIR (default build-bench), REPEATS.
# The raw result lines, the micro-benchmarks' output, the table and the plot of every run are
# kept in <build dir>/bench-results/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="${MPIPOOL_BENCH_BUILD_DIR:-build-bench}"
[[ "$build" = /* ]] || build="$root/$build"
repeats="${REPEATS:-3}"
quick=0
compare_rev=""
with_peers=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; repeats=1 ;;
    --repeats) repeats="$2"; shift ;;
    --compare) compare_rev="$2"; shift ;;
    --with-peers) with_peers=1 ;;
    -h|--help) sed -n '2,24p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$with_peers" = 1 ] && [ -z "$compare_rev" ]; then
  echo "bench.sh: --with-peers goes with --compare (a plain run always has the peers)" >&2
  exit 2
fi
started=$(date +%s)
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

# The same settings for every system (their meaning: bench/bench_common.hpp); a later key=value
# overrides an earlier one.
if [ "$quick" = 1 ]; then
  settings=(target_s=0.03 max_items=200000 default_items=100000 w3_tasks=20 w4_stride=20 w6_sleep_s=0.02 idle_s=0.5)
  w5_items=100000
  micro_min_time=0.01
else
  settings=(target_s=0.3 max_items=4000000 default_items=1000000 w3_tasks=200 w4_stride=1 w6_sleep_s=0.2 idle_s=3)
  w5_items=2000000
  micro_min_time=0.2
fi
python=/usr/bin/python3  # Debian's, which has python3-mpi4py and python3-matplotlib

MPIPOOL_WITH_BENCHMARKS=1 "$root/scripts/install-deps.sh"
if [ -n "$compare_rev" ]; then
  # shellcheck source=scripts/bench-compare.sh
  source "$root/scripts/bench-compare.sh"
  exit 0
fi
targets=(bench_workloads bench_raw_mpi bench_imap_memory bench_micro_chunks bench_parallel_tasks bench_c_api_map
         bench_fortran_map)
"$root/scripts/build-bench.sh" "$build" "${targets[@]}"
# shellcheck disable=SC1091  # what Open MPI needs to run as root and oversubscribed
source "$root/scripts/mpi-env.sh"
bin="$build/bench"
out="$build/bench-results"
mkdir -p "$out"
results="$out/results.txt"
: >"$results"

# Runs one system's session; its RESULT lines go to the results file, a failure stops the run.
session() {
  local name="$1"; shift
  local lines
  if ! lines="$(timeout 300 "$@")"; then
    echo "bench.sh: $name failed: $*" >&2
    exit 1
  fi
  grep '^RESULT ' <<<"$lines" | tee -a "$results"
}
mpipool_3() { session mpipool-3 mpirun -n 3 "$bin/bench_workloads" "${settings[@]}"; }
# Isolated workers (each worker's tasks in a helper process) on the workloads that show what
# isolation costs: W1 at chunksize 1 and default chunking, W2 and W4.
mpipool_3_isolated() {
  session mpipool-3-isolated mpirun -n 3 "$bin/bench_workloads" "${settings[@]}" isolated=1 workloads=W1,W2,W4 chunksizes=1 w4_chunksizes=0
}
mpipool_2() { session mpipool-2 mpirun -n 2 "$bin/bench_workloads" "${settings[@]}" workloads=W1,W2 chunksizes=1 default_items=0; }
raw_3() { session raw-3 mpirun -n 3 "$bin/bench_raw_mpi" "${settings[@]}"; }
raw_2() { session raw-2 mpirun -n 2 "$bin/bench_raw_mpi" "${settings[@]}" workloads=W1,W2; }
mp_pool() { session mp.Pool "$python" bench/python_peers.py mp_pool "${settings[@]}"; }
ppe() { session ProcessPoolExecutor "$python" bench/python_peers.py ppe "${settings[@]}"; }
mpi4py() { session mpi4py mpirun -n 3 "$python" -m mpi4py.futures bench/python_peers.py mpi4py "${settings[@]}"; }
# W5: mpipool's part is bench_imap_memory (4 ranks: the pool and an idle rank for the baseline).
w5_mpipool() {
  local line
  line="$(timeout 300 mpirun -n 4 "$bin/bench_imap_memory" "$w5_items" fast)" || { echo "bench.sh: bench_imap_memory failed" >&2; exit 1; }
  local growth seconds
  growth="$(sed -n 's/.*growth_mib=\([^ ]*\).*/\1/p' <<<"$line")"
  seconds="$(sed -n 's/.*seconds=\([^ ]*\).*/\1/p' <<<"$line")"
  printf 'RESULT mpipool 2 W5 stream growth_mib %s\nRESULT mpipool 2 W5 stream seconds %s\n' "$growth" "$seconds" | tee -a "$results"
}
w5_mp_pool() { session W5-mp.Pool "$python" bench/python_peers.py w5_mp_pool items="$w5_items"; }
w5_ppe() { session W5-ProcessPoolExecutor "$python" bench/python_peers.py w5_ppe items="$w5_items"; }
w5_mpi4py() { session W5-mpi4py mpirun -n 3 "$python" -m mpi4py.futures bench/python_peers.py w5_mpi4py items="$w5_items"; }

systems=(mpipool_3 mp_pool raw_3 mpipool_3_isolated ppe mpipool_2 mpi4py raw_2 w5_mpipool w5_mp_pool)
for ((rep = 0; rep < repeats; ++rep)); do
  echo "== repetition $((rep + 1)) of $repeats"
  echo "REPEAT $((rep + 1))" >>"$results"
  # Round-robin, starting one system further on each repetition, so that no system always
  # runs first (or right after the same neighbour).
  for ((k = 0; k < ${#systems[@]}; ++k)); do
    "${systems[$(((k + rep) % ${#systems[@]}))]}"
  done
done
# The executors submit the whole input of W5 up front (GiBs, tens of seconds): once, full run only.
if [ "$quick" = 0 ]; then
  w5_ppe
  w5_mpi4py
fi

echo "== micro-benchmarks"
"$bin/bench_micro_chunks" --benchmark_min_time="$micro_min_time" \
  --benchmark_out="$out/micro_chunks.json" --benchmark_out_format=json

# Parallel tasks: a mix of 1-, 2-, 4- and 8-rank tasks under the pool's policy and under plain
# FIFO grouping, interleaved in one run; 16 ranks, oversubscribed (the tasks sleep).
echo "== parallel tasks"
parallel_settings=(tasks=120 repeats=3)
[ "$quick" = 1 ] && parallel_settings=(tasks=24 repeats=1)
timeout 300 mpirun -n 16 "$bin/bench_parallel_tasks" "${parallel_settings[@]}" | grep -v '^RESULT ' |
  tee "$out/parallel_tasks.txt"

# The C API and the Fortran module beside the C++ API, on W1 at chunksize 1000 and 1.
echo "== C and Fortran"
language_items=200000
[ "$quick" = 1 ] && language_items=20000
timeout 300 mpirun -n 3 "$bin/bench_c_api_map" items="$language_items" repeats="$((quick == 1 ? 1 : 5))" |
  grep -v '^RESULT ' | tee "$out/c_api_map.txt"
timeout 300 mpirun -n 3 "$bin/bench_fortran_map" | tee "$out/fortran_map.txt"

elapsed=$(($(date +%s) - started))
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
command="scripts/bench.sh"
[ "$quick" = 1 ] && command="scripts/bench.sh --quick"
[ "$quick" = 0 ] && [ "$repeats" != 3 ] && command="scripts/bench.sh --repeats $repeats"
report=(--results "$results" --micro "$out/micro_chunks.json" --command "$command" --repeats "$repeats"
        --seconds "$elapsed" --load "$load_before" --load-after "$load_after" --settings "${settings[*]}"
        --table "$out/table.md" --png "$out/results.png")
[ "$quick" = 0 ] && report+=(--results-md bench/RESULTS.md --copy-png bench/results.png)
"$python" bench/report.py "${report[@]}"
echo "bench.sh: done in ${elapsed} s (load average before: $load_before, after: $load_after)"
