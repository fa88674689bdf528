#!/usr/bin/env bash
# Builds mpipool and its tests with sanitizers, in a build folder of their own, and runs ctest:
#   scripts/sanitize.sh [address|thread] [ctest arguments...]
#   address (default): AddressSanitizer + LeakSanitizer + UndefinedBehaviorSanitizer, built
#                      with clang (GCC takes 1.7 times as long to build them), over the
#                      whole suite, except tests labelled `big`, `scale` or `soak` (the
#                      many-ranks program still runs at the usual rank counts), the examples
#                      (not built), the compile_fail cases, and the failure-point matrix (its
#                      cases run the code of the other suites: test_item_failures,
#                      test_callbacks, crash_in_task, test_isolation).
#                      Build folder: build-asan.
#   thread:            ThreadSanitizer over the thread-heavy suites. Build folder: build-tsan.
# Both run every MPI test at 1, 2 and 5 ranks (the plain suite adds 3).
# Any finding fails its test: UBSan halts (-fno-sanitize-recover), ASan and TSan exit non-zero.
# The sanitizer flags reach the build through CMake cache variables only: CMakeLists.txt knows
# nothing of them. With MPIPOOL_BUILD_DIR set, the folders are $MPIPOOL_BUILD_DIR-asan and -tsan.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mode="address"
case "${1:-}" in
  address|thread) mode="$1"; shift ;;
esac
supp="$root/scripts/sanitizers"

# -g1: line tables for the reports, at a fraction of full debug information's build time.
# AddressSanitizer builds at -O0, half the build time of -O1 (the suite waits more than it
# computes); ThreadSanitizer at -O1, which it needs to run at a usable speed.
common_flags="-fno-omit-frame-pointer -g1"
compiler=()
case "$mode" in
  address)
    build="${MPIPOOL_BUILD_DIR:-$root/build}-asan"
    # clang: GCC's instrumented build of one test (tests/mpi/test_pool.cpp, ASan and UBSan at
    # -O0) takes 32 s where clang's takes 15, and the whole build 282 s where clang's takes 166.
    # GCC's reading of the code is checked by scripts/test.sh and ThreadSanitizer's build.
    MPIPOOL_WITH_CLANG=1 MPIPOOL_WITH_CLANG_SANITIZERS=1 "$root/scripts/install-deps.sh"
    source "$root/scripts/find-clang.sh"
    compiler=(-DCMAKE_CXX_COMPILER="$clang_cxx")
    # A build folder configured with another compiler is configured anew.
    grep -qs "^CMAKE_CXX_COMPILER:[A-Z]*=.*$clang_cxx\$" "$build/CMakeCache.txt" ||
      rm -rf "${build:?}"/CMakeCache.txt "${build:?}"/CMakeFiles
    sanitize="-fsanitize=address,undefined -fno-sanitize-recover=all -O0"
    targets=()                                  # everything: the whole suite
    ctest_selection=(-LE '^(big|scale|soak|groups)$' -E '^(compile_fail|failure_points)[.]')
    configure_extra=(-DMPIPOOL_BUILD_EXAMPLES=OFF)
    ;;
  thread)
    build="${MPIPOOL_BUILD_DIR:-$root/build}-tsan"
    # GCC warns of maybe-uninitialized values in instrumented Boost headers that are not there.
    sanitize="-fsanitize=thread -O1 -Wno-maybe-uninitialized"
    # Not test_mpi_section_multiple: under MPI_THREAD_MULTIPLE two threads are ordered by Open
    # MPI's own (uninstrumented) request completion, which TSan cannot see.
    suites=(test_lifecycle test_callbacks test_streams test_async_result test_progress_failures
            test_mpi_section test_journal)
    targets=("${suites[@]}")
    configure_extra=()
    ctest_selection=(-LE big -R "^($(IFS='|'; echo "${suites[*]}"))\\.[0-9]+ranks\$")
    # The journal shared by several processes is about processes, which TSan does not see; it
    # takes a minute under TSan at 5 ranks, more than the rest of test_journal together.
    export GTEST_FILTER="-Journal.CallsOfSeveralProcessesShareOneFile"
    ;;
esac

# The master alone, one worker, and several oversubscribed.
sanitized_ranks="1;2;5"

"$root/scripts/install-deps.sh"
mkdir -p "$build"
link_extra=""
link_sanitize="$sanitize"
if [ "$mode" = address ]; then
  # clang++ links every program that has C++ in it (the C and Fortran tests too), and takes the
  # sanitizer runtime from CMAKE_CXX_FLAGS, which it is given at the link. In the linker flags,
  # the C and Fortran compilers (GCC's) would take GCC's runtime into their implicit libraries.
  link_sanitize=""
  # Keeps Open MPI's components loaded until exit, so that LeakSanitizer can see into them.
  "$clang_cxx" -O1 -fPIC -c "$supp/keep_loaded.cpp" -o "$build/keep_loaded.o"
  link_extra="$build/keep_loaded.o -Wl,--export-dynamic-symbol=dlclose"
fi
# Ninja builds the named targets side by side; make would build them one after another.
generator=()
if [ "$mode" = thread ]; then
  generator=(-G Ninja)
  grep -qs '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$build/CMakeCache.txt" || rm -rf "${build:?}"/CMakeCache.txt "${build:?}"/CMakeFiles
fi
cmake -S "$root" -B "$build" "${generator[@]}" "${compiler[@]}" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="" \
      -DMPIPOOL_TEST_RANKS="$sanitized_ranks" "${configure_extra[@]}" \
      -DCMAKE_CXX_FLAGS="$sanitize $common_flags" \
      -DCMAKE_EXE_LINKER_FLAGS="$link_sanitize $link_extra" \
      -DCMAKE_SHARED_LINKER_FLAGS="$link_sanitize" >/dev/null
target_args=()
for target in "${targets[@]}"; do target_args+=(--target "$target"); done
cmake --build "$build" -j "$(nproc)" "${target_args[@]}"

source "$root/scripts/mpi-env.sh"
source "$supp/env.sh"
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" "${ctest_selection[@]}" "$@"
