# shellcheck shell=bash disable=SC2154,SC2054  # scripts/bench.sh sets the variables; commas separate settings' lists
# scripts/bench.sh --compare REV: sourced by scripts/bench.sh, after its arguments and settings
# (build, settings, quick, repeats, with_peers, python, started, load_before). Runs mpipool's
# sessions for the working tree and for REV, interleaved, and prints the table of both builds.

if ! rev_full="$(git -C "$root" rev-parse --verify --quiet "$compare_rev^{commit}")"; then
  echo "bench.sh: --compare $compare_rev is not a revision of this repository" >&2
  exit 2
fi
rev_short="$(git -C "$root" rev-parse --short "$rev_full")"
# A fixed place per revision, so that its build directory is reused and ccache finds its objects.
compare_dir="$build-compare-$rev_short"
rev_source="$compare_dir/source"
rev_build="$compare_dir/build"
remove_rev_source() {
  git -C "$root" worktree remove --force "$rev_source" 2>/dev/null || rm -rf "$rev_source"
  git -C "$root" worktree prune
}
remove_rev_source  # a run that was killed may have left it
trap remove_rev_source EXIT
mkdir -p "$compare_dir"
git -C "$root" worktree add --quiet --detach "$rev_source" "$rev_full"

# Only the targets that REV has too.
compare_targets=()
for target in bench_workloads bench_dispatch_rate; do
  grep -qw "$target" "$rev_source/bench/CMakeLists.txt" && compare_targets+=("$target")
done
if [ "${compare_targets[0]:-}" != bench_workloads ]; then
  echo "bench.sh: $rev_short has no bench_workloads to compare" >&2
  exit 1
fi
echo "== building the working tree and $rev_short (${compare_targets[*]})"
"$root/scripts/build-bench.sh" "$build" "${compare_targets[@]}"
MPIPOOL_BENCH_SOURCE_DIR="$rev_source" "$root/scripts/build-bench.sh" "$rev_build" "${compare_targets[@]}"
# shellcheck disable=SC1091  # what Open MPI needs to run as root and oversubscribed
source "$root/scripts/mpi-env.sh"

out="$build/bench-results"
mkdir -p "$out"
results="$out/compare-results.txt"
: >"$results"
# The label in the RESULT lines and the directory of the programs, per build.
labels=(work "$rev_short")
bins=("$build/bench" "$rev_build/bench")

if [ "$quick" = 1 ]; then
  dispatch_settings=(target_s=0.03 max_items=200000 chunksizes=1,64,1024)
else
  dispatch_settings=(target_s=0.3 chunksizes=1,64,1024)
fi
# The sessions, each given a build's program directory, each stopped after 300 s. Both builds read the working tree's
# bench/w4_durations.json (the working directory), so that W4's tasks are the same.
workloads_3() {
  timeout 300 mpirun -n 3 "$1/bench_workloads" "${settings[@]}" workloads=W1,W2,W3,W4 chunksizes=1 w4_chunksizes=0,1
}
workloads_2() { timeout 300 mpirun -n 2 "$1/bench_workloads" "${settings[@]}" workloads=W1,W2 chunksizes=1 default_items=0; }
dispatch_2() { timeout 300 mpirun -n 2 "$1/bench_dispatch_rate" "${dispatch_settings[@]}"; }
sessions=(workloads_3 workloads_2)
[ "${compare_targets[1]:-}" = bench_dispatch_rate ] && sessions+=(dispatch_2)

# Runs one session of build k; its RESULT lines go to the results file as mpipool@<label>.
run_build() {
  local session="$1" k="$2" lines
  if ! lines="$("$session" "${bins[$k]}")"; then
    echo "bench.sh: $session of ${labels[$k]} failed" >&2
    exit 1
  fi
  grep '^RESULT ' <<<"$lines" | sed "s/^RESULT mpipool /RESULT mpipool@${labels[$k]} /" | tee -a "$results"
}
# The Python peers (--with-peers): the same workloads, once per repetition, as a yardstick of
# the machine's drift.
peer_settings=("${settings[@]}" workloads=W1,W2,W3,W4 chunksizes=1)
peers() {
  local lines
  lines="$(timeout 300 "$python" bench/python_peers.py mp_pool "${peer_settings[@]}" &&
           timeout 300 "$python" bench/python_peers.py ppe "${peer_settings[@]}" &&
           timeout 300 mpirun -n 3 "$python" -m mpi4py.futures bench/python_peers.py mpi4py "${peer_settings[@]}")" ||
    { echo "bench.sh: a Python peer failed" >&2; exit 1; }
  grep '^RESULT ' <<<"$lines" | tee -a "$results"
}

for ((rep = 0; rep < repeats; ++rep)); do
  echo "== repetition $((rep + 1)) of $repeats"
  echo "REPEAT $((rep + 1))" >>"$results"
  # Each session for both builds back to back, the sessions one further on and the other build
  # first on every repetition, so that neither build always runs first.
  for ((s = 0; s < ${#sessions[@]}; ++s)); do
    session="${sessions[$(((s + rep) % ${#sessions[@]}))]}"
    for k in $((rep % 2)) $((1 - rep % 2)); do
      run_build "$session" "$k"
    done
  done
  if [ "$with_peers" = 1 ]; then peers; fi
done

elapsed=$(($(date +%s) - started))
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
command="scripts/bench.sh --compare $compare_rev"
[ "$quick" = 1 ] && command+=" --quick"
[ "$quick" = 0 ] && [ "$repeats" != 3 ] && command+=" --repeats $repeats"
[ "$with_peers" = 1 ] && command+=" --with-peers"
"$python" bench/compare_report.py --results "$results" --base "mpipool@$rev_short" --new mpipool@work \
  --command "$command" --repeats "$repeats" --seconds "$elapsed" --load "$load_before" --load-after "$load_after" \
  --settings "${settings[*]}" --markdown "$out/compare.md"
echo "bench.sh: done in ${elapsed} s (load average before: $load_before, after: $load_after); table in $out/compare.md"
