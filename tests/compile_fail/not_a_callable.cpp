// Must not compile: a number is no task.
#include <mpipool/mpipool.hpp>
#include <vector>

int main(int argc, char** argv) {
  return mpipool::run(argc, argv, [](mpipool::pool& pool) {
    const std::vector<int> results = pool.map(42, std::vector<int>{1, 2});
    return static_cast<int>(results.size());
  });
}
