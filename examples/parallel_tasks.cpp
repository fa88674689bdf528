// A parameter sweep whose every task is a small MPI solver: Jacobi sweeps for -u'' = a sin(pi x)
// on (0, 1) with u(0) = u(1) = 0, the grid split over the task's k ranks, halos exchanged with
// the neighbours. Each result is checked against the same solve done serially on the master.
//
//   mpirun -n 5 build/examples/parallel_tasks      # 4 workers: groups of 2, two tasks at a time
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <numbers>
#include <vector>

#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>
#include <mpipool/mpipool.hpp>

namespace {

constexpr int grid_points = 400;  // interior points
constexpr int sweeps = 2000;

double source(int i, double amplitude) {
  const double x = (i + 1.0) / (grid_points + 1.0);
  return amplitude * std::sin(std::numbers::pi * x);
}

// The points [first, first + count) of the grid, with a halo cell on each side.
struct block {
  int first = 0;
  int count = 0;
};

block block_of(int rank, int ranks) {
  const int base = grid_points / ranks;
  const int extra = grid_points % ranks;
  return {rank * base + std::min(rank, extra), base + (rank < extra ? 1 : 0)};
}

// Jacobi on this rank's block; returns the L2 norm of the whole solution (an allreduce).
double jacobi(const boost::mpi::communicator& group, double amplitude) {
  const block mine = block_of(group.rank(), group.size());
  const double h2 = 1.0 / ((grid_points + 1.0) * (grid_points + 1.0));
  std::vector<double> u(static_cast<std::size_t>(mine.count) + 2, 0.0);
  std::vector<double> next = u;
  const int left = group.rank() - 1;
  const int right = group.rank() + 1 < group.size() ? group.rank() + 1 : -1;
  for (int sweep = 0; sweep < sweeps; ++sweep) {
    // Halos: send my edge values, receive the neighbours' (boundaries stay 0).
    std::vector<boost::mpi::request> pending;
    if (left >= 0) {
      pending.push_back(group.isend(left, 0, u[1]));
      pending.push_back(group.irecv(left, 1, u[0]));
    }
    if (right >= 0) {
      pending.push_back(group.isend(right, 1, u[static_cast<std::size_t>(mine.count)]));
      pending.push_back(group.irecv(right, 0, u[static_cast<std::size_t>(mine.count) + 1]));
    }
    boost::mpi::wait_all(pending.begin(), pending.end());
    for (int i = 1; i <= mine.count; ++i)
      next[static_cast<std::size_t>(i)] =
          0.5 * (u[static_cast<std::size_t>(i) - 1] + u[static_cast<std::size_t>(i) + 1] +
                 h2 * source(mine.first + i - 1, amplitude));
    std::swap(u, next);
  }
  double local = 0;
  for (int i = 1; i <= mine.count; ++i) local += u[static_cast<std::size_t>(i)] * u[static_cast<std::size_t>(i)];
  return std::sqrt(boost::mpi::all_reduce(group, local, std::plus<double>()));
}
MPIPOOL_REGISTER(jacobi);

// The same iteration on one process.
double jacobi_serial(double amplitude) {
  const double h2 = 1.0 / ((grid_points + 1.0) * (grid_points + 1.0));
  std::vector<double> u(grid_points + 2, 0.0), next = u;
  for (int sweep = 0; sweep < sweeps; ++sweep) {
    for (int i = 1; i <= grid_points; ++i)
      next[static_cast<std::size_t>(i)] = 0.5 * (u[static_cast<std::size_t>(i) - 1] + u[static_cast<std::size_t>(i) + 1] +
                                                 h2 * source(i - 1, amplitude));
    std::swap(u, next);
  }
  double sum = 0;
  for (int i = 1; i <= grid_points; ++i) sum += u[static_cast<std::size_t>(i)] * u[static_cast<std::size_t>(i)];
  return std::sqrt(sum);
}

}  // namespace

int main(int argc, char** argv) {
  return mpipool::run(argc, argv, [](mpipool::pool& pool) {
    const int width = pool.workers() >= 2 ? 2 : 1;  // one worker, or one rank: groups of one
    std::vector<double> amplitudes;
    for (int i = 1; i <= 8; ++i) amplitudes.push_back(0.5 * i);
    const std::vector<double> norms = pool.map(mpipool::ranks(width), jacobi, amplitudes);
    int wrong = 0;
    for (std::size_t i = 0; i < amplitudes.size(); ++i) {
      const double expected = jacobi_serial(amplitudes[i]);
      const bool ok = std::abs(norms[i] - expected) <= 1e-12 * std::max(1.0, std::abs(expected));
      wrong += ok ? 0 : 1;
      std::printf("a = %.1f: |u| = %.12f on %d ranks, serial %.12f %s\n", amplitudes[i], norms[i], width, expected,
                  ok ? "(agrees)" : "(DIFFERS)");
    }
    std::printf("%zu solves of %d sweeps on groups of %d ranks: %s\n", amplitudes.size(), sweeps, width,
                wrong == 0 ? "all agree with the serial solve" : "some differ");
    return wrong == 0 ? 0 : 1;
  });
}
