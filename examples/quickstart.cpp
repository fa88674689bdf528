// The README's first example: map a registered function and apply a capture-less lambda.
#include <cstdio>
#include <numeric>
#include <ranges>
#include <vector>

#include <mpipool/mpipool.hpp>

int square(int x) { return x * x; }
MPIPOOL_REGISTER(square);

int main(int argc, char** argv) {
  // The master runs the body; the workers serve tasks until the body returns.
  return mpipool::run(argc, argv, [](mpipool::pool& pool) {
    std::vector<int> squares = pool.map(square, std::views::iota(0, 1000));
    auto sum = pool.apply_async([](int a, int b) { return a + b; }, 2, 3);
    const long total = std::accumulate(squares.begin(), squares.end(), 0L);
    std::printf("sum of squares below 1000: %ld, 2 + 3 = %d, on %zu workers\n", total, sum.get(),
                pool.workers());
    return total == 332833500L && sum.get() == 5 ? 0 : 1;
  });
}
