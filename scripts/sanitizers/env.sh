# Sourced by scripts/sanitize.sh: the sanitizer runtime options, read by every rank.
_mpipool_supp="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export ASAN_OPTIONS="detect_leaks=1"
export LSAN_OPTIONS="suppressions=$_mpipool_supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="suppressions=$_mpipool_supp/tsan.supp:second_deadlock_stack=1"
unset _mpipool_supp
