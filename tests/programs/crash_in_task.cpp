// A task that kills its process at item 3 (abort, segfault or exit, by argv[1]). The job must
// end promptly with a non-zero exit and a message naming the rank, the task and the item.
#include <cstdlib>
#include <csignal>
#include <cstring>
#include <ranges>
#include <string>

#include <mpipool/mpipool.hpp>

int die_at_three(int item, int how) {
  if (item == 3) {
    if (how == 0) std::abort();
    if (how == 1) std::raise(SIGSEGV);
    std::exit(0);
  }
  return item;
}
MPIPOOL_REGISTER(die_at_three);

int main(int argc, char** argv) {
  const std::string how = argc > 1 ? argv[1] : "abort";
  const int code = how == "abort" ? 0 : how == "segfault" ? 1 : 2;
  return mpipool::run(argc, argv, [code](mpipool::pool& pool) {
    std::vector<std::tuple<int, int>> items;
    for (int i = 0; i < 8; ++i) items.emplace_back(i, code);
    (void)pool.starmap(die_at_three, items, 1);
    return 0;  // not reached
  });
}
