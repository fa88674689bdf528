# Sourced by scripts/test-clang.sh and scripts/sanitize.sh: sets clang_cxx to the newest clang++
# installed (clang++-16, then clang++-15, then the default clang++), unless CXX names a clang++
# of the caller's choice (a CXX that is not clang, such as a CI image's g++, is passed over).
# Run scripts/install-deps.sh with MPIPOOL_WITH_CLANG=1 first.
clang_cxx=""
if [ -n "${CXX:-}" ] && "$CXX" --version 2>/dev/null | grep -q clang; then clang_cxx="$CXX"; fi
for _mpipool_candidate in clang++-16 clang++-15 clang++; do
  [ -z "$clang_cxx" ] && command -v "$_mpipool_candidate" >/dev/null && clang_cxx="$_mpipool_candidate"
done
unset _mpipool_candidate
[ -n "$clang_cxx" ] || { echo "mpipool: no clang++ found" >&2; exit 1; }
