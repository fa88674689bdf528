// Estimates pi by Monte Carlo: every task draws a batch of random points in the unit square and
// counts those inside the quarter circle. Each batch has its own seed, so the estimate is the
// same whatever the number of ranks.
//
//   mpirun -n 4 ./monte_carlo_pi [samples]
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <numbers>
#include <numeric>
#include <random>
#include <ranges>
#include <vector>

#include <mpi.h>
#include <mpipool/mpipool.hpp>

// Points of batch `seed` that fall inside the quarter circle.
std::int64_t hits_in_batch(std::uint64_t seed, std::int64_t points) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::int64_t hits = 0;
  for (std::int64_t i = 0; i < points; ++i) {
    const double x = unit(rng);
    const double y = unit(rng);
    hits += x * x + y * y <= 1.0;
  }
  return hits;
}
MPIPOOL_REGISTER(hits_in_batch);

int main(int argc, char** argv) {
  const std::int64_t samples = argc > 1 ? std::atoll(argv[1]) : 200'000'000;
  constexpr std::int64_t batch = 1'000'000;
  return mpipool::run(argc, argv, [&](mpipool::pool& pool) {
    const auto start = std::chrono::steady_clock::now();
    const std::int64_t batches = (samples + batch - 1) / batch;
    std::vector<std::tuple<std::uint64_t, std::int64_t>> work;
    for (std::int64_t b = 0; b < batches; ++b)
      work.emplace_back(static_cast<std::uint64_t>(b), std::min(batch, samples - b * batch));
    const std::vector<std::int64_t> hits = pool.starmap(hits_in_batch, work);
    const double pi = 4.0 * static_cast<double>(std::reduce(hits.begin(), hits.end(), std::int64_t{0})) /
                      static_cast<double>(samples);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    int ranks = 1;
    {
      // The pool's progress thread calls MPI meanwhile: it steps aside for our own call.
      const mpipool::mpi_section section(pool);
      MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    }
    std::printf("pi ~= %.6f (error %.1e) from %lld samples in %lld tasks\n", pi,
                std::abs(pi - std::numbers::pi), static_cast<long long>(samples),
                static_cast<long long>(batches));
    std::printf("ranks: %d (%zu worker%s), time: %.3f s\n", ranks, pool.workers(),
                pool.workers() == 1 ? "" : "s", seconds);
    return std::abs(pi - std::numbers::pi) < 0.01 ? 0 : 1;
  });
}
