// Must not compile: a lambda that captures cannot be rebuilt on another rank.
#include <mpipool/mpipool.hpp>
#include <vector>

int main(int argc, char** argv) {
  const int offset = 3;
  return mpipool::run(argc, argv, [&](mpipool::pool& pool) {
    (void)pool.map([offset](int x) { return x + offset; }, std::vector<int>{1, 2});
  });
}
