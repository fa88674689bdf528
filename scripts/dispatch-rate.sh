#!/usr/bin/env bash
# The master's dispatch rate: bench/dispatch_rate.cpp (maps of a no-op task over ints) at
# several rank counts and chunk sizes, run round-robin REPEATS times; prints the table of
# medians, the master's CPU per chunk as c_m + c_i * chunksize for each rank count, and the
# master's memory (docs/scaling.md explains the columns and the model).
#
#   scripts/dispatch-rate.sh                      # ranks 2,3,5,9,17, 3 repeats
#   scripts/dispatch-rate.sh --ranks 65,257 --repeats 5
#   scripts/dispatch-rate.sh --quick              # ranks 2,3, one short repeat (smoke run)
#   scripts/dispatch-rate.sh --ranks 64 --ranks-per-group 8   # flat and through sub-masters
#                                                 # (groups of 8 with a relay each), interleaved
#   scripts/dispatch-rate.sh --ranks 64 --ranks-per-group 8 --stocking   # and through stocking
#                                                 # sub-masters (pool_options::stock_sub_masters),
#                                                 # sent node-chunks ("8s") and, for comparison,
#                                                 # the caller's chunks one by one ("8u")
#   scripts/dispatch-rate.sh --ranks 64 --ranks-per-group 8 --stocking --messages
#                                                 # instead: rank 0's messages per chunk (one
#                                                 # short map per chunk size, bench/count_messages.cpp)
#
# Environment: MPIPOOL_BENCH_BUILD_DIR (default build-bench, shared with scripts/bench.sh),
# CHUNKSIZES (default 1,4,16,64,256,1024,4096), TARGET_S (seconds per measured map, 0.3),
# MPIRUN_ARGS (extra mpirun arguments, e.g. a hostfile). The raw RESULT lines are kept in
# <build dir>/bench-results/dispatch_rate.txt.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="${MPIPOOL_BENCH_BUILD_DIR:-build-bench}"
[[ "$build" = /* ]] || build="$root/$build"
ranks="2,3,5,9,17"
repeats=3
groupings=(0)  # 0: flat; R: groups of R ranks with a relay each (pool_options::ranks_per_group);
               # Rs: with a stocking sub-master each; Ru: the same, sent no node-chunks
               # (MPIPOOL_NODE_CHUNKS=off)
stocking=0
messages=0
chunksizes="${CHUNKSIZES:-1,4,16,64,256,1024,4096}"
target_s="${TARGET_S:-0.3}"
while [ $# -gt 0 ]; do
  case "$1" in
    --ranks) ranks="$2"; shift ;;
    --repeats) repeats="$2"; shift ;;
    --quick) ranks="2,3"; repeats=1; target_s=0.05 ;;
    --ranks-per-group) groupings=(0 "$2"); shift ;;
    --stocking) stocking=1 ;;
    --messages) messages=1 ;;
    -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "dispatch-rate.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$stocking" = 1 ]; then
  [ "${#groupings[@]}" -gt 1 ] || { echo "dispatch-rate.sh: --stocking needs --ranks-per-group" >&2; exit 2; }
  groupings+=("${groupings[1]}s" "${groupings[1]}u")
fi
# The environment of grouping $1: flat, relays, or stocking sub-masters, with or without
# node-chunks.
grouping_env() {
  local sub_masters=relay node_chunks=on
  [[ "$1" == *[su] ]] && sub_masters=stock
  [[ "$1" == *u ]] && node_chunks=off
  echo "MPIPOOL_RANKS_PER_GROUP=${1%[su]} MPIPOOL_SUB_MASTERS=$sub_masters MPIPOOL_NODE_CHUNKS=$node_chunks"
}
# Its name in what is printed.
grouping_name() {
  case "$1" in
    0) echo "flat" ;;
    *s) echo "groups of ${1%s}, stocking" ;;
    *u) echo "groups of ${1%u}, stocking, no node-chunks" ;;
    *) echo "groups of $1, relays" ;;
  esac
}
MPIPOOL_WITH_BENCHMARKS=1 "$root/scripts/install-deps.sh"
"$root/scripts/build-bench.sh" "$build" bench_dispatch_rate count_messages
# shellcheck disable=SC1091  # what Open MPI needs to run as root and oversubscribed
source "$root/scripts/mpi-env.sh"

if [ "$messages" = 1 ]; then
  # Rank 0's point-to-point messages per chunk: a map per chunk size, no repetitions (the counts
  # are nearly exact), each in a run of its own so that its counts are its own.
  echo "| ranks | grouping | chunksize | chunks | rank 0 sends | receives | sends per chunk | receives per chunk |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|"
  IFS=',' read -r -a rank_list <<<"$ranks"
  IFS=',' read -r -a size_list <<<"$chunksizes"
  for n in "${rank_list[@]}"; do
    for c in "${size_list[@]}"; do
      for group in "${groupings[@]}"; do
        # shellcheck disable=SC2046,SC2086  # the words of grouping_env; MPIRUN_ARGS is a list of words
        if ! out="$(env $(grouping_env "$group") \
                    timeout 600 mpirun -n "$n" ${MPIRUN_ARGS:-} -x LD_PRELOAD="$build/bench/libcount_messages.so" \
                    "$build/bench/bench_dispatch_rate" chunksizes="$c" target_s=0 2>&1)"; then
          printf '%s\n' "$out" >&2
          echo "dispatch-rate.sh: $n ranks ($(grouping_name "$group")), chunksize $c failed" >&2
          exit 1
        fi
        chunks="$(awk '$1 == "RESULT" && $6 == "chunks_mapped" {print $7}' <<<"$out")"
        counts="$(awk '$1 == "MESSAGES" {print $4, $6}' <<<"$out")"
        if [ -z "$chunks" ] || [ -z "$counts" ]; then
          printf '%s\n' "$out" >&2
          echo "dispatch-rate.sh: no chunk count or message count ($n ranks, $(grouping_name "$group"), chunksize $c)" >&2
          exit 1
        fi
        read -r sends receives <<<"$counts"
        how="$(grouping_name "$group")"
        awk -v n="$n" -v how="$how" -v c="$c" -v k="$chunks" -v s="$sends" -v r="$receives" \
          'BEGIN {printf "| %s | %s | %s | %d | %d | %d | %.2f | %.2f |\n", n, how, c, k, s, r, s / k, r / k}'
      done
    done
  done
  exit 0
fi
out="$build/bench-results"
mkdir -p "$out"
results="$out/dispatch_rate.txt"
: >"$results"
IFS=',' read -r -a rank_list <<<"$ranks"
started=$(date +%s)
echo "cores: $(nproc), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((rep = 0; rep < repeats; ++rep)); do
  echo "== repetition $((rep + 1)) of $repeats"
  # Round-robin, one rank count further on each repetition, so drift spreads over all of them.
  for ((k = 0; k < ${#rank_list[@]}; ++k)); do
    n="${rank_list[$(((k + rep) % ${#rank_list[@]}))]}"
    for group in "${groupings[@]}"; do
      # shellcheck disable=SC2046,SC2086  # the words of grouping_env; MPIRUN_ARGS is a list of words
      if ! lines="$(env $(grouping_env "$group") \
                    timeout 600 mpirun -n "$n" ${MPIRUN_ARGS:-} \
                      "$build/bench/bench_dispatch_rate" chunksizes="$chunksizes" target_s="$target_s")"; then
        echo "dispatch-rate.sh: $n ranks ($(grouping_name "$group")) failed" >&2
        exit 1
      fi
      grep '^RESULT ' <<<"$lines" | sed "s/^/$n $group /" >>"$results"
      echo "   $n ranks, $(grouping_name "$group") done"
    done
  done
done

/usr/bin/python3 - "$results" <<'EOF'
import collections, statistics, sys
values = collections.defaultdict(list)
rss = collections.defaultdict(list)
for line in open(sys.argv[1]):
    ranks, group, _, _, workers, _, variant, metric, value = line.split()
    at = (int(ranks), group)  # a rank count, flat ("0") or in groups ("8", "8s", "8u": see groupings)
    if metric == "master_rss_kib":
        rss[at].append(float(value))
    else:
        values[at + (int(variant[2:]), metric)].append(float(value))
med = {key: statistics.median(v) for key, v in values.items()}
name = lambda r, g: (f"{r}" if g == "0" else f"{r}, groups of {g[:-1]}, stocking" if g.endswith("s")
                    else f"{r}, groups of {g[:-1]}, stocking, no node-chunks" if g.endswith("u")
                    else f"{r}, groups of {g}")
print("| ranks | chunksize | chunks/s | items/s | master CPU µs/chunk | caller thread µs/chunk | master CPU share |")
print("|---:|---:|---:|---:|---:|---:|---:|")
rows = sorted({(r, g, c) for r, g, c, _ in med})
for r, g, c in rows:
    v = lambda m: med[(r, g, c, m)]
    print(f"| {name(r, g)} | {c} | {v('chunks_per_s'):,.0f} | {v('items_per_s'):,.0f} | "
          f"{v('master_cpu_us_per_chunk'):.2f} | {v('caller_cpu_us_per_chunk'):.2f} | {v('master_cpu_share'):.2f} |")
print()
print("master CPU per chunk as c_m + c_i * chunksize, from the smallest and largest chunk sizes:")
for r, g in sorted({(r, g) for r, g, _ in rows}):
    xs = [c for rr, gg, c in rows if (rr, gg) == (r, g)]
    if len(xs) < 2:
        continue
    lo, hi = min(xs), max(xs)
    y_lo, y_hi = (med[(r, g, c, 'master_cpu_us_per_chunk')] for c in (lo, hi))
    c_i = (y_hi - y_lo) / (hi - lo)
    print(f"  {name(r, g)} ranks: c_m = {y_lo - c_i * lo:.2f} µs, c_i = {c_i * 1000:.1f} ns per item")
print()
print("master resident memory when the pool has started (median):")
for r, g in sorted(rss):
    print(f"  {name(r, g)} ranks: {statistics.median(rss[(r, g)]) / 1024:.1f} MiB")
EOF
echo "dispatch-rate.sh: $repeats repetition(s) in $(($(date +%s) - started)) s," \
     "load average after: $(cut -d' ' -f1-3 /proc/loadavg); raw lines in $results"
