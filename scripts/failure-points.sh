#!/usr/bin/env bash
# Runs the failure-point matrix (tests/programs/failure_points.cpp, every failure mode in
# MPIPOOL_FAILURE_MODES, at 1, 2 and 5 ranks) through ctest, and prints one line per test:
# the failure point, the mode, the ranks, its outcome and ctest's seconds. Extra arguments go
# to ctest, e.g. scripts/failure-points.sh -R isolated. Exits non-zero when any test failed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MPIPOOL_BUILD_DIR:-$root/build}"
"$root/scripts/build.sh" failure_points
source "$root/scripts/mpi-env.sh"
log="$(mktemp)"
tests="$(mktemp)"
trap 'rm -f "$log" "$tests"' EXIT
status=0
ctest --test-dir "$build" -j "$(nproc)" -R '^failure_points[.]' "$@" >"$log" 2>&1 || status=$?
# Which tests must end the job (their command is the expected-failure runner) and which must
# exit 0 after checking the call's error and the pool's next call.
ctest --test-dir "$build" -R '^failure_points[.]' --show-only=json-v1 "$@" >"$tests"
python3 - "$log" "$tests" <<'PYTHON'
import json, re, sys
log, tests = sys.argv[1], sys.argv[2]
aborts = {t["name"] for t in json.load(open(tests))["tests"]
          if any("ExpectFailure.cmake" in a for a in t.get("command", []))}
rows = []
for line in open(log):
    m = re.search(r"Test +#\d+: (failure_points\.(\w+)\.(\w+)\.(\d+)ranks) \.+\**\s*(.+?)\s+([0-9.]+) sec", line)
    if not m:
        continue
    name, mode, point, ranks, result, seconds = m.groups()
    if name in aborts:
        expected = "job aborted, naming the rank"
    elif point.endswith("_callback_throws"):
        expected = "reported, ignored, call completes"
    elif point.startswith("initializer_"):
        expected = "initializer_error, next pool runs"
    else:
        expected = "error on the call, pool goes on"
    outcome = expected if result.startswith("Passed") else f"FAILED ({result.strip()}), expected: {expected}"
    rows.append((point, mode, int(ranks), outcome, float(seconds)))
rows.sort()
print(f"| {'failure point':<30} | {'mode':<8} | ranks | {'outcome':<33} | seconds |")
print(f"|{'-' * 32}|{'-' * 10}|-------|{'-' * 35}|---------|")
for point, mode, ranks, outcome, seconds in rows:
    print(f"| {point:<30} | {mode:<8} | {ranks:>5} | {outcome:<33} | {seconds:>7.2f} |")
failed = sum(1 for row in rows if row[3].startswith("FAILED"))
slowest = max((row[4] for row in rows), default=0.0)
print(f"{len(rows)} tests, {failed} failed, slowest {slowest:.2f} s")
PYTHON
if [[ $status -ne 0 ]]; then
  grep -E "Failed|Timeout|Not Run" "$log" || true
fi
exit "$status"
