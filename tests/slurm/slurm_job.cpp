// The program the slurm/ job scripts run in scripts/test-slurm.sh: one mpipool program, one
// mode per outcome that Slurm must record.
//
//   slurm_job succeed [n]            map square over 0..n-1 (default 1000), check and print the sum
//   slurm_job return3                the body returns 3: every rank exits 3
//   slurm_job throw                  item 5 throws and nobody catches it: exit 1, the error on stderr
//   slurm_job segfault               item 3 dereferences a null pointer: the job dies at once
//   slurm_job simulate [items] [ms]  a long map (default 600 items of 100 ms of simulated work),
//                                    for the time-limit and scancel cases
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <ranges>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <mpipool/mpipool.hpp>

std::int64_t square(std::int64_t x) { return x * x; }
MPIPOOL_REGISTER(square);

int fail_at_five(int item) {
  if (item == 5) throw std::runtime_error("item 5 is bad");
  return item;
}
MPIPOOL_REGISTER(fail_at_five);

// A real invalid store, not raise(SIGSEGV); UBSan would report it before the crash, so it is
// told not to look here.
__attribute__((no_sanitize("undefined"))) int segfault_at_three(int item) {
  if (item == 3) {
    // Both volatile: the compiler can neither see that the pointer is null nor drop the store.
    volatile int* volatile nowhere = nullptr;
    *nowhere = item;
  }
  return item;
}
MPIPOOL_REGISTER(segfault_at_three);

// How long one simulated step takes. Set in main before the pool starts: code outside the body
// runs on every rank, so every worker sees the same value.
int step_milliseconds = 100;

// Stands for one step of a long simulation: sleeping keeps the two-core CI machine free for
// the Slurm daemons while the job runs long enough to be signalled.
int simulate(int step) {
  std::this_thread::sleep_for(std::chrono::milliseconds(step_milliseconds));
  return step;
}
MPIPOOL_REGISTER(simulate);

namespace {

int argument(int argc, char** argv, int position, int fallback) {
  return argc > position ? std::stoi(argv[position]) : fallback;
}

int sum_of_squares(mpipool::pool& pool, std::int64_t n) {
  const std::vector<std::int64_t> squares = pool.map(square, std::views::iota(std::int64_t{0}, n));
  const std::int64_t sum = std::accumulate(squares.begin(), squares.end(), std::int64_t{0});
  const std::int64_t expected = (n - 1) * n * (2 * n - 1) / 6;
  std::printf("slurm_job: sum of squares below %lld = %lld (%s) on %zu workers\n",
              static_cast<long long>(n), static_cast<long long>(sum),
              sum == expected ? "correct" : "WRONG", pool.workers());
  return sum == expected ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "succeed";
  // Outside the body: this runs on every rank.
  const int first = argument(argc, argv, 2, mode == "simulate" ? 600 : 1000);
  step_milliseconds = argument(argc, argv, 3, step_milliseconds);
  return mpipool::run(argc, argv, [&](mpipool::pool& pool) {
    if (mode == "succeed") return sum_of_squares(pool, first);
    if (mode == "return3") return sum_of_squares(pool, 100) == 0 ? 3 : 1;
    if (mode == "throw") {
      (void)pool.map(fail_at_five, std::views::iota(0, 10), 1);
      return 0;  // not reached: the remote_error leaves the body
    }
    if (mode == "segfault") {
      (void)pool.map(segfault_at_three, std::views::iota(0, 10), 1);
      return 0;  // not reached
    }
    if (mode == "simulate") {
      // Said before the map starts, so that a test can signal the job in the middle of it.
      std::printf("slurm_job: simulating %d steps of %d ms\n", first, step_milliseconds);
      std::fflush(stdout);
      const std::vector<int> done = pool.map(simulate, std::views::iota(0, first), 1);
      std::printf("slurm_job: %zu of %d steps simulated\n", done.size(), first);
      return done.size() == static_cast<std::size_t>(first) ? 0 : 1;
    }
    std::fprintf(stderr, "slurm_job: unknown mode '%s' (succeed, return3, throw, segfault, simulate)\n",
                 mode.c_str());
    return 2;
  });
}
