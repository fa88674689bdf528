# Sourced by scripts/sanitize.sh: the sanitizer runtime options, read by every rank.
_mpipool_supp="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# clang's runtime names functions with an external program, and clang-16 comes without
# llvm-symbolizer: binutils' addr2line (installed with g++) names the glibc functions that
# lsan.supp matches.
export ASAN_OPTIONS="detect_leaks=1:external_symbolizer_path=$(command -v addr2line)"
export LSAN_OPTIONS="suppressions=$_mpipool_supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="suppressions=$_mpipool_supp/tsan.supp:second_deadlock_stack=1"
unset _mpipool_supp
