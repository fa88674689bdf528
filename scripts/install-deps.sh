#!/usr/bin/env bash
# Installs the Debian packages mpipool needs, if any are missing. Non-interactive, idempotent,
# and silent when everything is already there.
set -euo pipefail

packages=(cmake g++ make openmpi-bin libopenmpi-dev libboost-mpi-dev libboost-serialization-dev
          libgtest-dev)
# The benchmarks (scripts/bench.sh): Google Benchmark, and the Python peers and the plot.
[ "${MPIPOOL_WITH_BENCHMARKS:-0}" = 1 ] && packages+=(libbenchmark-dev python3 python3-mpi4py python3-matplotlib)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "mpipool: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "mpipool: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
