#!/usr/bin/env bash
# Builds tests/consumer/, one small program, against this checkout the ways a project uses
# mpipool, runs each build at 3 ranks under mpirun and checks what it prints:
#   find_package   against a prefix that `cmake --install` filled from the build folder; also a
#                  shared library built on the static libmpipool.a, and a program run through it
#   pkg-config     the same prefix, compiled with mpicxx and -Wall -Wextra -Werror; the C example
#                  with mpicc, the Fortran example with mpifort (mpipool-fortran.pc)
#   add_subdirectory  mpipool as a subproject, as a shared library, in a parent that sets
#                  nothing (the consumer's CMakeLists.txt checks that mpipool changed nothing)
# First, the README's install recipe is configured (not built): it must need no GoogleTest and
# define the library alone, and scripts/build.sh must leave its build type as it is.
# With --all, also a shared library installed (find_package, pkg-config) and FetchContent.
# Installs from ${MPIPOOL_BUILD_DIR:-build} (building its library first if need be); everything
# else goes to <build>/consumers, which is emptied first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MPIPOOL_BUILD_DIR:-$root/build}"
work="$build/consumers"
all=0
[ "${1:-}" = "--all" ] && all=1

"$root/scripts/build.sh" mpipool >/dev/null
source "$root/scripts/mpi-env.sh"
version="$(sed -nE 's/^#define MPIPOOL_VERSION_(MAJOR|MINOR|PATCH) ([0-9]+)$/\2/p' \
             "$root/include/mpipool/version.hpp" | paste -sd.)"
rm -rf "$work"
mkdir -p "$work"

fail() { echo "consumers: $*" >&2; exit 1; }

# Runs a consumer program at 3 ranks and checks each line it must print.
check_program() {
  local name="$1" program="$2"
  local output="$work/$name.out"
  local status=0
  mpirun -n 3 "$program" >"$output" 2>&1 || status=$?
  [ "$status" = 0 ] || { cat "$output" >&2; fail "$name: exit status $status"; }
  local expected
  for expected in \
      "mpipool $version (" \
      "sum of squares below 1000: 332833500 on 2 workers" \
      "unregistered function: mpipool: consumer_unregistered_triple(int) (type int (*)(int)) is not registered"; do
    grep -qF -- "$expected" "$output" || { cat "$output" >&2; fail "$name: no line with '$expected'"; }
  done
  echo "consumers: $name: ok"
}

# Runs the program that uses mpipool through a shared library (tests/consumer/plugin.cpp).
check_plugin_program() {
  local name="$1" program="$2"
  local output="$work/$name.out"
  local status=0
  mpirun -n 3 "$program" >"$output" 2>&1 || status=$?
  [ "$status" = 0 ] || { cat "$output" >&2; fail "$name: exit status $status"; }
  grep -qF "plugin: sum of cubes below 100: 24502500 on 2 workers" "$output" ||
    { cat "$output" >&2; fail "$name: not the plugin's sum of cubes"; }
  echo "consumers: $name: ok"
}

# Configures and builds the consumer project with the given CMake arguments, then runs it.
check_cmake_consumer() {
  local name="$1"; shift
  cmake -S "$root/tests/consumer" -B "$work/$name" "$@" >"$work/$name.configure.log" 2>&1 ||
    { cat "$work/$name.configure.log" >&2; fail "$name: configure failed"; }
  cmake --build "$work/$name" -j "$(nproc)" >"$work/$name.build.log" 2>&1 ||
    { cat "$work/$name.build.log" >&2; fail "$name: build failed"; }
  check_program "$name" "$work/$name/consumer"
  # The shared library on mpipool is built against a static mpipool only.
  if grep -q "mpipool consumer: mpipool is a STATIC_LIBRARY" "$work/$name.configure.log"; then
    check_plugin_program "$name.plugin" "$work/$name/consumer_via_plugin"
  fi
}

# Installs the library of build folder $1 into prefix $2 and checks what lies there.
install_into() {
  local from="$1" prefix="$2"
  cmake --install "$from" --prefix "$prefix" >"$prefix.install.log"
  local file
  for file in include/mpipool/mpipool.hpp include/mpipool/version.hpp \
              cmake/mpipool/mpipoolConfig.cmake cmake/mpipool/mpipoolConfigVersion.cmake \
              cmake/mpipool/mpipoolTargets.cmake pkgconfig/mpipool.pc 'libmpipool.*'; do
    [ -n "$(find "$prefix" -path "*/$file" -print -quit)" ] || fail "install into $prefix: no $file"
  done
  check_installed_headers "$prefix/include"
}

# The installed headers must be exactly the public ones and the detail/ headers they include,
# directly or not: no header private to the library's sources, and none missing.
check_installed_headers() {
  local include="$1"
  local installed needed queue header next
  installed="$(cd "$include" && find mpipool -type f -not -path 'mpipool/fortran/*' | sort)"  # .mod files aside
  queue="$(cd "$include" && find mpipool -maxdepth 1 -type f -name '*.hpp' | sort)"
  needed=""
  while [ -n "$queue" ]; do
    header="${queue%%$'\n'*}"
    [ "$header" = "$queue" ] && queue="" || queue="${queue#*$'\n'}"
    case $'\n'"$needed"$'\n' in *$'\n'"$header"$'\n'*) continue ;; esac
    needed+="${needed:+$'\n'}$header"
    [ -f "$include/$header" ] || fail "installed headers: $header is included but not installed"
    for next in $(sed -nE 's@^#include ["<](mpipool/[^">]+)[">].*@\1@p' "$include/$header"); do
      queue+="${queue:+$'\n'}$next"
    done
  done
  needed="$(sort <<<"$needed")"
  [ "$installed" = "$needed" ] || {
    diff <(echo "$needed") <(echo "$installed") >&2 || true
    fail "installed headers differ from those the public headers need (< needed, > installed)"
  }
  echo "consumers: $(wc -l <<<"$installed") installed headers, each needed by a public header"
}

# The find_package and pkg-config consumers of an installed prefix.
check_installed() {
  local name="$1" prefix="$2"
  check_cmake_consumer "$name.find_package" -DMPIPOOL_CONSUMER_MODE=find_package \
    -DCMAKE_PREFIX_PATH="$prefix" -DMPIPOOL_CONSUMER_EXPECT_VERSION="$version"
  local pc_dir
  pc_dir="$(dirname "$(find "$prefix" -name mpipool.pc | head -n 1)")"
  export PKG_CONFIG_PATH="$pc_dir"
  [ "$(pkg-config --modversion mpipool)" = "$version" ] || fail "$name: pkg-config gives version $(pkg-config --modversion mpipool)"
  local libdir
  libdir="$(pkg-config --variable=libdir mpipool)"
  # As the README says, with the warnings users turn on: none may come from mpipool's headers or
  # from what they include (Open MPI's C++ bindings, say).
  # shellcheck disable=SC2046  # pkg-config's flags are words
  mpicxx -std=c++20 -Wall -Wextra -Werror "$root/tests/consumer/consumer.cpp" -o "$work/$name.pkg-config" \
    $(pkg-config --cflags --libs mpipool) -Wl,-rpath,"$libdir" || fail "$name.pkg-config: build failed"
  check_program "$name.pkg-config" "$work/$name.pkg-config"
  # The C API from C (compiled by mpicc, linked by mpicxx: the library is C++), and the Fortran
  # module from Fortran, each through pkg-config.
  # shellcheck disable=SC2046
  mpicc -std=c11 -c "$root/examples/c/monte_carlo.c" -o "$work/$name.c.o" $(pkg-config --cflags mpipool) &&
    mpicxx "$work/$name.c.o" -o "$work/$name.c" $(pkg-config --libs mpipool) -Wl,-rpath,"$libdir" ||
    fail "$name.c: build failed"
  run_expecting "$name.c" "pi ~ 3.1" mpirun -n 3 "$work/$name.c" 16 100000
  if pkg-config --exists mpipool-fortran; then
    # shellcheck disable=SC2046
    mpifort -J "$work" "$root/examples/fortran/sweep.f90" -o "$work/$name.fortran" $(pkg-config --cflags --libs mpipool-fortran) \
      -Wl,-rpath,"$libdir" || fail "$name.fortran: build failed"
    run_expecting "$name.fortran" "damping sweep on 2 workers" mpirun -n 3 "$work/$name.fortran"
  else
    fail "$name: no mpipool-fortran.pc installed"
  fi
  unset PKG_CONFIG_PATH
}

# Runs a command and checks that it succeeds and prints `expected`.
run_expecting() {
  local name="$1" expected="$2"; shift 2
  local output="$work/$name.out" status=0
  "$@" >"$output" 2>&1 || status=$?
  [ "$status" = 0 ] || { cat "$output" >&2; fail "$name: exit status $status"; }
  grep -qF -- "$expected" "$output" || { cat "$output" >&2; fail "$name: no line with '$expected'"; }
  echo "consumers: $name: ok"
}

# The README's install recipe: the library only (and its Fortran module, where a Fortran compiler
# is found), in Release, without GoogleTest.
check_install_recipe() {
  local recipe="$work/recipe"
  cmake -S "$root" -B "$recipe" -DCMAKE_BUILD_TYPE=Release -DMPIPOOL_BUILD_TESTS=OFF \
        -DMPIPOOL_BUILD_EXAMPLES=OFF -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON >"$recipe.configure.log" 2>&1 ||
    { cat "$recipe.configure.log" >&2; fail "install recipe: configure failed (without GoogleTest)"; }
  local targets
  targets="$(cmake --build "$recipe" --target help | sed -nE 's/^\.\.\. ([^ ]+).*/\1/p' |
             grep -vxE 'all|clean|depend|edit_cache|rebuild_cache|install(/local|/strip)?|list_install_components|mpipool|mpipool_fortran|.*[.](o|i|s)' || true)"
  [ -z "$targets" ] || fail "install recipe: builds more than the library: ${targets//$'\n'/ }"
  # As scripts/example.sh would, on a Release folder: it must stay Release.
  MPIPOOL_BUILD_DIR="$recipe" "$root/scripts/build.sh" help >/dev/null
  grep -qx 'CMAKE_BUILD_TYPE:STRING=Release' "$recipe/CMakeCache.txt" ||
    fail "install recipe: scripts/build.sh changed the build type to $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$recipe/CMakeCache.txt")"
  echo "consumers: install recipe: the library alone, without GoogleTest, stays Release: ok"
}

start=$SECONDS
check_install_recipe
install_into "$build" "$work/prefix"
check_installed installed "$work/prefix"
check_cmake_consumer add_subdirectory -DMPIPOOL_CONSUMER_MODE=add_subdirectory \
  -DMPIPOOL_SOURCE_DIR="$root" -DBUILD_SHARED_LIBS=ON
if [ "$all" = 1 ]; then
  cmake -S "$root" -B "$work/shared-build" -DBUILD_SHARED_LIBS=ON -DMPIPOOL_BUILD_TESTS=OFF \
        -DMPIPOOL_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build "$work/shared-build" -j "$(nproc)" >/dev/null
  install_into "$work/shared-build" "$work/prefix-shared"
  check_installed installed-shared "$work/prefix-shared"
  check_cmake_consumer fetch_content -DMPIPOOL_CONSUMER_MODE=fetch_content -DMPIPOOL_SOURCE_DIR="$root"
fi
echo "consumers: all passed in $((SECONDS - start)) s"
