// A program that uses mpipool as a project outside it would: built against an installed
// mpipool (find_package, pkg-config) and as a subproject (add_subdirectory, FetchContent).
// scripts/test-consumers.sh runs it at 3 ranks and checks every line it prints.
#include <cstdio>
#include <numeric>
#include <ranges>
#include <vector>

#include <mpipool/mpipool.hpp>

int square(int x) { return x * x; }
MPIPOOL_REGISTER(square);

// Not registered on purpose: the error names it only if the program was linked with the
// symbol export (-rdynamic) that the package hands on.
int consumer_unregistered_triple(int x) { return 3 * x; }

int main(int argc, char** argv) {
  return mpipool::run(argc, argv, [](mpipool::pool& pool) {
    std::printf("mpipool %s (%d)\n", MPIPOOL_VERSION_STRING, MPIPOOL_VERSION);
    const std::vector<int> squares = pool.map(square, std::views::iota(0, 1000));
    std::printf("sum of squares below 1000: %ld on %zu workers\n",
                std::accumulate(squares.begin(), squares.end(), 0L), pool.workers());
    try {
      pool.map(consumer_unregistered_triple, {1, 2, 3});
      std::printf("unregistered function: accepted\n");
    } catch (const mpipool::registration_error& error) {
      std::printf("unregistered function: %s\n", error.what());
    }
    return 0;
  });
}
