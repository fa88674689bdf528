#!/usr/bin/env bash
# Submits every slurm/ job script to a throw-away single-node Slurm (scripts/slurm-local.sh) and
# checks the job state, the exit code and the output that Slurm records for each outcome of
# tests/slurm/slurm_job.cpp. The daemons are stopped at the end, pass or fail.
#
#   scripts/test-slurm.sh
#
# It includes the cases of a job that Slurm ends with SIGTERM: scancel under both launchers, and
# a one-minute time limit under srun (it adds 60 to 90 s; MPIPOOL_SLURM_SIGNAL_CASES=0 leaves
# them out). The pool has to stop promptly and say how far its map came. Under mpirun, which exits
# 1 itself when it gets SIGTERM, the job script turns that into 143 (slurm/README.md). Three chains
# of slurm/requeue.sbatch run among them: one stopped by the warning signal, one whose chunks all
# outlast its links, and one submitted with options on sbatch's command line, which its second
# link must keep. Slurm runs with MpiDefault=none, as on many sites.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MPIPOOL_BUILD_DIR:-$root/build}"
work="$build/slurm-test"
started=$SECONDS

# A Slurm of its own, beside any that scripts/slurm-local.sh runs by default. Fifteen CPUs on any
# machine: the time-limit jobs, the two chains and two four-rank jobs run at once (their ranks
# mostly wait), and no job script needs --overcommit.
export MPIPOOL_SLURM_DIR="${MPIPOOL_SLURM_TEST_DIR:-${TMPDIR:-/tmp}/mpipool-slurm-test}"
export MPIPOOL_SLURM_PORT="${MPIPOOL_SLURM_TEST_PORT:-16827}"
export MPIPOOL_SLURM_CPUS=17
# Slurm's own default, and many sites': an srun without --mpi starts no PMIx, and Open MPI fails
# in MPI_Init. Every script must ask for PMIx itself.
export MPIPOOL_SLURM_MPI_DEFAULT=none
slurm_local="$root/scripts/slurm-local.sh"
eval "$("$slurm_local" env)"

log="$(mktemp)"
stopper=""
trap '[ -z "$stopper" ] || kill "$stopper" 2>/dev/null || true; "$slurm_local" stop || true; rm -f "$log"' EXIT
"$root/scripts/build.sh" slurm_job journal_job >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
"$slurm_local" start
program="$build/tests/slurm/slurm_job"
rm -rf "$work"
mkdir -p "$work"
# mpirun refuses to start as root unless told; sbatch passes this environment on to the job.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

failures=0
fail() { echo "FAIL $*" >&2; failures=$((failures + 1)); }

# submit NAME SCRIPT [sbatch options] -- [program arguments]: the job id; output in $work/NAME.out.
declare -A job_of
submit() {
  local name="$1" script="$2"; shift 2
  local options=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do options+=("$1"); shift; done
  shift
  job_of[$name]="$(sbatch --parsable --job-name="$name" --output="$work/$name.out" \
                   "${options[@]}" "$root/slurm/$script" "$program" "$@")"
}

# job_field JOB FIELD: one field of `scontrol show job` (of the first line, for an array).
job_field() { scontrol -o show job "$1" | head -1 | tr ' ' '\n' | sed -n "s/^$2=//p"; }
seconds_of() { local h m s; IFS=: read -r h m s <<<"$1"; echo $((10#$h * 3600 + 10#$m * 60 + 10#$s)); }

# expect NAME STATE EXIT_CODE OUTPUT_REGEX [MAX_SECONDS]: waits for the job, then checks what
# Slurm recorded (EXIT_CODE "*" takes any) and that its output matches the regex.
expect() {
  local name="$1" state="$2" exit_code="$3" pattern="$4" max_seconds="${5:-}"
  local job="${job_of[$name]}" recorded run_time
  recorded="$("$slurm_local" wait "$job" 300)"
  read -r _ got_state got_exit <<<"$recorded"
  run_time="$(seconds_of "$(job_field "$job" RunTime)")"
  echo "$name: job $job $got_state $got_exit in ${run_time} s"
  if [ "$got_state" != "$state" ] || { [ "$exit_code" != "*" ] && [ "$got_exit" != "$exit_code" ]; }; then
    fail "$name: expected $state $exit_code, Slurm recorded $got_state $got_exit"
  elif ! grep -qE -- "$pattern" "$work/$name.out"; then
    fail "$name: the output does not match '$pattern'"
  elif [ -n "$max_seconds" ] && ((run_time > max_seconds)); then
    fail "$name: ran ${run_time} s, more than $max_seconds s"
  else
    return 0
  fi
  sed 's/^/    /' "$work/$name.out" >&2 || true
}

# The chain: a copy of slurm/requeue.sbatch with a one-minute limit and the warning signal 30 s
# before it (which Slurm sends 0 to 30 s in), 4 workers, a map of chain_items items that each
# sleep 20 ms, in chunks of 5: 80 s of work that leaves the cores to other work, so the
# warning stops it at least twice.
chain_items=16000
start_chain() {
  sed -e 's/^#SBATCH --time=.*/#SBATCH --time=1/' -e 's/^#SBATCH --signal=.*/#SBATCH --signal=TERM@30/' \
      -e 's/^#SBATCH --ntasks=.*/#SBATCH --ntasks=5/' -e "s|^#SBATCH --output=.*|#SBATCH --output=$work/chain.out|" \
      "$root/slurm/requeue.sbatch" >"$work/requeue.sbatch"
  rm -f "$work/chain.journal" "$work/chain.out"
  (cd "$work" && sbatch --parsable --job-name=chain requeue.sbatch \
     "$build/tests/journal_job" "$chain_items" 20000 "$work/chain.journal" --chunksize 5 --sleep) >/dev/null
}

# Waits for the chain's last link, then checks: stopped by the signal at least twice, finished
# with exactly an uninterrupted run's results, and the tasks run over all links (the work)
# within 10% of the items.
check_chain() {
  local out="$work/chain.out" deadline=$((SECONDS + 600))
  until grep -qE "^mpipool chain: (finished|link [0-9]+ failed|.*giving up)" "$out" 2>/dev/null; do
    ((SECONDS < deadline)) || break
    sleep 1
  done
  local stops work links
  stops="$(grep -c "stopped by SIGTERM; link" "$out" || true)"
  links="$(grep -c "^mpipool chain: link [0-9]*, job" "$out" || true)"
  work=0
  for tasks in $(sed -n 's/^journal_job: \([0-9]*\) tasks run here$/\1/p' "$out"); do work=$((work + tasks)); done
  echo "chain: $links links, stopped $stops times, $work tasks run for $chain_items items"
  sed 's/^/    /' "$out"
  if ! grep -qE "^journal: $chain_items items, [0-9]+ from the journal, [0-9]+ computed$" "$out" ||
     ! grep -q "^mpipool chain: finished in link" "$out"; then
    fail "chain: did not finish with an uninterrupted run's results"
  elif ((stops < 2)); then
    fail "chain: stopped $stops times, not at least twice"
  elif ((work < chain_items || work * 10 > chain_items * 11)); then
    fail "chain: $work tasks run for $chain_items items, not within 10%"
  fi
}

# A chain submitted with options on sbatch's command line, which override requeue.sbatch's
# #SBATCH lines: 2 ranks, not 4, and another time limit, name, output file, partition and
# account. Link 1 is stopped as soon as its map has begun, by a SIGTERM to its step alone (as
# --signal sends it), and link 2 must run with the same options and finish the map.
chain_options=(--job-name=chain.options --output="$work/chain.options.out" --time=7 --ntasks=2
               --partition=second --account=mpipool-test --mem=300M)
start_chain_with_options() {
  rm -f "$work/chain.options.journal" "$work/chain.options.out"
  job_of[chain.options]="$(cd "$work" && sbatch --parsable "${chain_options[@]}" "$root/slurm/requeue.sbatch" \
     "$build/tests/journal_job" 300 20000 "$work/chain.options.journal" --chunksize 5 --sleep)"
}

# Once results are in the journal (more than its header), the pool runs: SIGTERM to link 1's
# step alone, and the batch shell goes on. Link 1 may have failed already, which ends the chain.
stop_first_link_with_options() {
  local job="${job_of[chain.options]}" deadline=$((SECONDS + 300))
  until (($(stat -c %s "$work/chain.options.journal" 2>/dev/null || echo 0) > 200)); do
    if [ -z "$(squeue -h -j "$job" -t PD,R 2>/dev/null)" ] || ((SECONDS > deadline)); then break; fi
    sleep 0.2
  done
  scancel --signal=TERM "$job" 2>/dev/null || true
}

# Link 1 submits link 2, which must have the options given for link 1 and finish the map.
check_chain_with_options() {
  local out="$work/chain.options.out" job="${job_of[chain.options]}" next field expected got
  "$slurm_local" wait "$job" 120 >/dev/null
  next="$(sed -n 's/^mpipool chain: link 1 stopped by SIGTERM; link 2 is job \([0-9]*\)$/\1/p' "$out")"
  echo "chain.options: link 1 job $job, link 2 job ${next:-none}"
  if [ -z "$next" ]; then
    fail "chain.options: link 1 submitted no link 2"
    sed 's/^/    /' "$out" >&2 || true
    return 0
  fi
  for field in JobName=chain.options NumTasks=2 TimeLimit=00:07:00 Partition=second Account=mpipool-test \
               MinMemoryNode=300M StdOut="$out"; do
    expected="${field#*=}"
    got="$(scontrol show job "$next" | grep -oE "(^| )${field%%=*}=[^ ]*" | head -1 | cut -d= -f2)"
    [ "$got" = "$expected" ] || fail "chain.options: link 2 has ${field%%=*}=$got, not $expected as link 1"
  done
  "$slurm_local" wait "$next" 120 >/dev/null
  grep -q "^mpipool chain: finished in link 2$" "$out" &&
    grep -qE "^journal: 300 items, [0-9]+ from the journal, [0-9]+ computed$" "$out" ||
    { fail "chain.options: link 2 did not finish the map"; sed 's/^/    /' "$out" >&2 || true; }
}

# The chain whose chunks outlast its links: default chunking, 2 workers, 240 items that each
# sleep 250 ms, so that each worker's first chunks (30 items, then 25) take 7.5 s and 6 s, while
# each link is stopped 6 s after it starts (scancel --signal=TERM, what the warning signal does,
# here at a time of the test's choosing). Those chunks never end inside a link: the chain moves
# on only by what the chunks cut short bring back, which must be journaled. About 45 s.
chunk_chain_items=240
start_chunk_chain() {
  sed -e 's/^#SBATCH --time=.*/#SBATCH --time=2/' -e '/^#SBATCH --signal=/d' \
      -e 's/^#SBATCH --ntasks=.*/#SBATCH --ntasks=3/' -e "s|^#SBATCH --output=.*|#SBATCH --output=$work/chunk-chain.out|" \
      "$root/slurm/requeue.sbatch" >"$work/chunk-requeue.sbatch"
  rm -f "$work/chunk-chain.journal" "$work/chunk-chain.out"
  (cd "$work" && MPIPOOL_CHAIN_MAX_LINKS=15 sbatch --parsable --job-name=chunk-chain chunk-requeue.sbatch \
     "$build/tests/journal_job" "$chunk_chain_items" 250000 "$work/chunk-chain.journal" --sleep) >/dev/null
  # Stops each link 6 s after it says it starts, until the chain ends.
  (
    local_deadline=$((SECONDS + 300))
    stopped=""
    while ((SECONDS < local_deadline)); do
      grep -qE "^mpipool chain: (finished|link [0-9]+ failed|.*giving up)" "$work/chunk-chain.out" 2>/dev/null && break
      job="$(sed -n 's/^mpipool chain: link [0-9]*, job \([0-9]*\), starts.*/\1/p' "$work/chunk-chain.out" 2>/dev/null | tail -1 || true)"
      if [ -n "$job" ] && [ "$job" != "$stopped" ]; then
        sleep 6
        scancel --signal=TERM "$job" 2>/dev/null || true
        stopped="$job"
      fi
      sleep 0.2
    done
  ) &
  stopper=$!
}

# Waits for the chunk chain's last link, then checks: finished with exactly an uninterrupted
# run's results; its first link stopped before any chunk had come back, and a later link found
# results in the journal all the same (those of the chunks cut short).
check_chunk_chain() {
  local out="$work/chunk-chain.out" deadline=$((SECONDS + 300))
  until grep -qE "^mpipool chain: (finished|link [0-9]+ failed|.*giving up)" "$out" 2>/dev/null; do
    ((SECONDS < deadline)) || break
    sleep 1
  done
  wait "$stopper" 2>/dev/null || true
  stopper=""
  # (The stop line counts the items of the chunks cut short too, as the load-balance summary does:
  # it cannot tell whether a chunk ended inside a link; the chunks' timing above sees to that.)
  local links stops restored work=0
  links="$(grep -c "^mpipool chain: link [0-9]*, job" "$out" || true)"
  stops="$(grep -c "stopped by SIGTERM; link" "$out" || true)"
  # What link 2 found in the journal: the first "journal:" line after it starts.
  restored="$(awk '/^mpipool chain: link 2, job/ { on = 1 }
                   on && /^journal: stopped by signal/ { print $6; exit }
                   on && /^journal: [0-9]+ items, / { print $4; exit }' "$out")"
  for tasks in $(sed -n 's/^journal_job: \([0-9]*\) tasks run here$/\1/p' "$out"); do work=$((work + tasks)); done
  echo "chunk chain: $links links, stopped $stops times, $work tasks run for $chunk_chain_items items"
  sed 's/^/    /' "$out"
  if ! grep -qE "^journal: $chunk_chain_items items, [0-9]+ from the journal, [0-9]+ computed$" "$out" ||
     ! grep -q "^mpipool chain: finished in link" "$out"; then
    fail "chunk chain: did not finish with an uninterrupted run's results"
  elif ((stops < 2)); then
    fail "chunk chain: stopped $stops times, not at least twice"
  elif [ -z "$restored" ] || ((restored == 0)); then
    fail "chunk chain: its second link found nothing in the journal"
  elif ((work < chunk_chain_items || work * 10 > chunk_chain_items * 11)); then
    fail "chunk chain: $work tasks run for $chunk_chain_items items, not within 10%"
  fi
}

sigterm_line="mpipool: SIGTERM during map of '[^']+': [0-9]+ of [0-9]+ items done"
signal_cases="${MPIPOOL_SLURM_SIGNAL_CASES:-1}"

# First, the slowest: a one-minute time limit ends on slurmctld's 30-s tick, 60 to 90 s in,
# while the other cases run; and a chain of jobs (slurm/requeue.sbatch) whose journaled map
# cannot finish inside one link's limit.
if [ "$signal_cases" = 1 ]; then
  submit srun.time_limit one-node.sbatch --ntasks=2 --time=1 -- simulate 3000 100
  start_chain
  start_chunk_chain
fi

# Every outcome under both launchers, a multi-node script on this one node, and an array.
for launcher in srun mpirun; do
  script=one-node.sbatch
  [ "$launcher" = mpirun ] && script=mpirun.sbatch
  for mode in succeed return3 throw segfault; do
    submit "$launcher.$mode" "$script" -- "$mode"
  done
done
submit multi-node.succeed multi-node.sbatch --nodes=1 -- succeed 2000
# Progress in a Slurm output file: a plain line a second, a last one, and the load balance.
submit srun.progress one-node.sbatch --export=ALL,MPIPOOL_PROGRESS=1,MPIPOOL_PROGRESS_INTERVAL=1 -- simulate 60 100
export SWEEP_VALUES="1000 2000 3000 4000"  # sbatch passes it on to the array's elements
submit array array.sbatch --output="$work/array-%a.out" -- succeed
unset SWEEP_VALUES
start_chain_with_options
stop_first_link_with_options

for launcher in srun mpirun; do
  expect "$launcher.succeed" COMPLETED 0:0 "sum of squares below 1000 = 332833500 [(]correct[)] on 3 workers"
  expect "$launcher.return3" FAILED 3:0 "sum of squares below 100 = 328350 [(]correct[)]"
  expect "$launcher.throw" FAILED 1:0 \
    "mpipool: rank 0 on host [^:]+: mpipool::remote_error: .*item 5 is bad"
  expect "$launcher.segfault" FAILED 139:0 \
    "mpipool: rank [0-9]+ on host [^:]+: process killed by signal 11 [(]SIGSEGV[)] while running item 3 of task segfault_at_three" 10
done
expect multi-node.succeed COMPLETED 0:0 "sum of squares below 2000 = 2664667000 [(]correct[)] on 3 workers"
expect srun.progress COMPLETED 0:0 "mpipool: rank 0: map '[^']+': [0-9]+/60 items [(][0-9.]+%[)], [0-9.]+k? items/s, [0-9.]+ s left"
grep -qE "mpipool: rank 0: map '[^']+': 60/60 items [(]100.0%[)], .*all done in" "$work/srun.progress.out" &&
  grep -q "mpipool:   master: busy" "$work/srun.progress.out" ||
  fail "srun.progress: no last progress line or no load-balance summary"

# Each array element: COMPLETED 0:0, and the sum for its own value.
array_job="${job_of[array]}"
elements="$("$slurm_local" wait "$array_job" 300)"
echo "array: $(tr '\n' ';' <<<"$elements")"
[ "$(grep -c ' COMPLETED 0:0$' <<<"$elements")" = 4 ] || fail "array: not every element COMPLETED 0:0: $elements"
values=(1000 2000 3000 4000)
for index in 0 1 2 3; do
  n="${values[index]}"
  out="$work/array-$index.out"
  grep -q "^array element $index: value $n$" "$out" &&
    grep -qE "sum of squares below $n = $(((n - 1) * n * (2 * n - 1) / 6)) [(]correct[)] on 1 workers" "$out" ||
    { fail "array element $index: wrong output"; sed 's/^/    /' "$out" >&2 || true; }
done

check_chain_with_options

if [ "$signal_cases" = 1 ]; then
  # scancel in the middle of a map, under both launchers: SIGTERM to every step and the batch
  # shell, SIGKILL after KillWait.
  for launcher in srun mpirun; do
    script=one-node.sbatch
    [ "$launcher" = mpirun ] && script=mpirun.sbatch
    name="$launcher.scancel"
    submit "$name" "$script" --ntasks=2 -- simulate 600 100
    until grep -q "^slurm_job: simulating" "$work/$name.out" 2>/dev/null; do
      [ -n "$(squeue -h -j "${job_of[$name]}" -t PD,R 2>/dev/null)" ] || break  # ended early: expect() says how
      sleep 0.2
    done
    scancel "${job_of[$name]}"
    if [ "$launcher" = srun ]; then
      expect "$name" CANCELLED 143:0 "$sigterm_line" 15
    else
      # mpirun stops forwarding the ranks' output when it gets SIGTERM, and kills them a second
      # later: what the ranks print about it may be lost. Its exit code, 1, becomes 143 in the
      # job script.
      expect "$name" CANCELLED 143:0 "CANCELLED AT" 15
    fi
  done
  expect srun.time_limit TIMEOUT 143:0 "$sigterm_line"
  check_chain
  check_chunk_chain
fi

echo "slurm tests: $failures failed, in $((SECONDS - started)) s (signal cases: $([ "$signal_cases" = 1 ] && echo on || echo off))"
[ "$failures" = 0 ]
