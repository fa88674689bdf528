// Must not compile: a journal knows its task by name, and a lambda's name is its place in the
// code, which a lambda added above it changes.
#include <mpipool/mpipool.hpp>
#include <vector>

int main(int argc, char** argv) {
  return mpipool::run(argc, argv, [](mpipool::pool& pool) {
    (void)pool.map([](int x) { return x * x; }, std::vector<int>{1, 2}, std::nullopt,
                   mpipool::journal{"run.journal", "squares"});
  });
}
