#!/usr/bin/env bash
# Installs the Debian packages mpipool needs, if any are missing. Non-interactive, idempotent,
# and silent when everything is already there.
set -euo pipefail

# ninja-build: scripts/sanitize.sh builds its chosen ThreadSanitizer targets side by side with it.
packages=(cmake g++ gfortran make ninja-build openmpi-bin libopenmpi-dev libboost-mpi-dev
          libboost-serialization-dev libgtest-dev)
# The benchmarks (scripts/bench.sh): Google Benchmark, and the Python peers and the plot.
[ "${MPIPOOL_WITH_BENCHMARKS:-0}" = 1 ] && packages+=(libbenchmark-dev python3 python3-mpi4py python3-matplotlib)
# scripts/trace-plot.py, which draws a trace of a run.
[ "${MPIPOOL_WITH_PLOTS:-0}" = 1 ] && packages+=(python3 python3-matplotlib)
# scripts/test-clang.sh: Debian's newest clang (clang-16 on Debian 12), or the distribution's
# default clang where the package lists have none of these versions.
clang_versions=(clang-16 clang-15)
# Each reads the whole answer before grep looks at it: under pipefail, `apt-cache ... | grep -q`
# fails whenever grep stops reading first (apt-cache then dies of SIGPIPE).
installed() { local status; status="$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" || return 1; grep -q "install ok installed" <<<"$status"; }
installable() { local policy; policy="$(apt-cache policy "$1" 2>/dev/null)" || return 1; grep -q '^ *Candidate: [0-9]' <<<"$policy"; }
newest_clang() {
  local candidate
  for candidate in "${clang_versions[@]}"; do installed "$candidate" && { echo "$candidate"; return; }; done
  for candidate in "${clang_versions[@]}"; do installable "$candidate" && { echo "$candidate"; return; }; done
  echo clang
}
# The sanitizer runtimes of that clang (scripts/sanitize.sh address): libclang-rt-16-dev for
# clang-16, libclang-rt-dev for the default clang.
sanitizer_runtime_of() { [ "$1" = clang ] && echo libclang-rt-dev || echo "libclang-rt-${1#clang-}-dev"; }
clang_package=""
if [ "${MPIPOOL_WITH_CLANG:-0}" = 1 ]; then
  clang_package="$(newest_clang)"
  packages+=("$clang_package")
  [ "${MPIPOOL_WITH_CLANG_SANITIZERS:-0}" = 1 ] && packages+=("$(sanitizer_runtime_of "$clang_package")")
fi
# A throw-away Slurm (scripts/slurm-local.sh): munge, slurmctld, slurmd, the clients, the PMIx plugin.
[ "${MPIPOOL_WITH_SLURM:-0}" = 1 ] && packages+=(slurm-wlm munge)

missing=()
for package in "${packages[@]}"; do
  installed "$package" || missing+=("$package")
done
# The default clang (clang-14 on Debian 12, which cannot build libstdc++ 12's ranges) may be
# installed while the package lists, empty on a fresh machine, know no newer one: look again
# after an update.
if [ "$clang_package" = clang ]; then
  missing+=(clang)
  [ "${MPIPOOL_WITH_CLANG_SANITIZERS:-0}" = 1 ] && missing+=(libclang-rt-dev)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "mpipool: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "mpipool: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# munge's and slurmd's install scripts start the system daemons where they can; scripts/slurm-local.sh
# runs its own, so a policy-rc.d (if there is none) forbids that for the time of the install.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ "${MPIPOOL_WITH_SLURM:-0}" = 1 ] && [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod 755 "$policy" && made_policy=1
fi
trap '[ "$made_policy" = 1 ] && $sudo rm -f "$policy"' EXIT
$sudo apt-get update -qq
# A fresh machine's package lists are empty until the update: look for a versioned clang again.
if [ "$clang_package" = clang ]; then
  clang_package="$(newest_clang)"
  for i in "${!missing[@]}"; do
    [ "${missing[$i]}" = clang ] && missing[i]="$clang_package"
    [ "${missing[$i]}" = libclang-rt-dev ] && missing[i]="$(sanitizer_runtime_of "$clang_package")"
  done
fi
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
