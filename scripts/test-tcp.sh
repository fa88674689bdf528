#!/usr/bin/env bash
# The test suite with every message over TCP (Open MPI's ob1 with the tcp and self transports,
# no shared memory, no doorbells), as between nodes. Reuses the build of scripts/test.sh (builds it if it is
# not there) and runs the MPI tests at 2 and 5 ranks, less those labelled big (one rank sends
# nothing, and the compile_fail cases only build); extra arguments go to ctest, e.g.
# scripts/test-tcp.sh -R pool
# Environment: MPIPOOL_BUILD_DIR (default build); MPIPOOL_TCP_INTERFACES, the interfaces TCP may
# use (default lo: one machine standing in for several).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MPIPOOL_BUILD_DIR:-$root/build}"
[ -f "$build/CTestTestfile.cmake" ] || "$root/scripts/build.sh"
# shellcheck disable=SC1091
source "$root/scripts/mpi-env.sh"
export OMPI_MCA_pml=ob1                # not UCX, which would bypass the BTLs
export OMPI_MCA_btl=tcp,self           # no vader (shared memory)
export OMPI_MCA_btl_tcp_if_include="${MPIPOOL_TCP_INTERFACES:-lo}"
export OMPI_MCA_oob_tcp_if_include="${MPIPOOL_TCP_INTERFACES:-lo}"
# Ranks on other nodes share no doorbell page with the master: they wait by polling. Turning the
# doorbells off makes every rank take that path here.
export MPIPOOL_DOORBELL=off
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" -LE 'big|groups' -R '[.](2|5)ranks$' "$@"
