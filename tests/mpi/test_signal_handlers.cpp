// The crash report borrows the process's fatal-signal handlers only while a pool runs: a code
// that manages MPI itself gets its own handlers back when run(comm, body) returns or throws.
// Each test runs at 1, 2, 3 and 5 ranks.
#include <signal.h>

#include <array>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "faults/crash_report.hpp"
#include "support.hpp"

using mpipool_test::with_pool;

namespace {

constexpr std::array<int, 5> fatal_signals{SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

void own_handler(int) {}

bool handled_by_own_handler(int signal) {
  struct sigaction now {};
  sigaction(signal, nullptr, &now);
  return now.sa_handler == own_handler;
}

// Installs own_handler for every fatal signal for as long as it lives, then puts back what was.
class own_handlers {
 public:
  own_handlers() {
    struct sigaction action {};
    action.sa_handler = own_handler;
    sigemptyset(&action.sa_mask);
    for (std::size_t i = 0; i < fatal_signals.size(); ++i) sigaction(fatal_signals[i], &action, &saved_[i]);
  }
  ~own_handlers() {
    for (std::size_t i = 0; i < fatal_signals.size(); ++i) sigaction(fatal_signals[i], &saved_[i], nullptr);
  }
  own_handlers(const own_handlers&) = delete;
  own_handlers& operator=(const own_handlers&) = delete;

 private:
  std::array<struct sigaction, fatal_signals.size()> saved_{};
};

void expect_own_handlers() {
  for (int signal : fatal_signals) EXPECT_TRUE(handled_by_own_handler(signal)) << "signal " << signal;
}

// Run as a task: how many fatal signals still go to own_handler while the pool runs.
int signals_with_own_handler(int) {
  int count = 0;
  for (int signal : fatal_signals) count += handled_by_own_handler(signal) ? 1 : 0;
  return count;
}

}  // namespace
MPIPOOL_REGISTER(signals_with_own_handler);

TEST(signal_handlers, run_on_a_communicator_reports_crashes_then_restores_the_callers_handlers) {
  own_handlers mine;
  with_pool([](mpipool::pool& pool) {
    // While the pool runs, the crash report has them, on the master and on every worker.
    EXPECT_EQ(signals_with_own_handler(0), 0);
    for (int count : pool.map(signals_with_own_handler, std::vector<int>(8, 0), 1)) EXPECT_EQ(count, 0);
  });
  expect_own_handlers();
}

TEST(signal_handlers, run_on_a_communicator_whose_body_throws_restores_the_callers_handlers) {
  own_handlers mine;
  auto body = [](mpipool::pool&) -> int {
    EXPECT_EQ(signals_with_own_handler(0), 0);  // the crash report has them while the pool runs
    throw std::runtime_error("body failed");
  };
  if (mpipool_test::world_rank() == 0) {
    EXPECT_THROW(with_pool(body), std::runtime_error);
  } else {
    EXPECT_EQ(with_pool(body), 1);
  }
  expect_own_handlers();
}

TEST(signal_handlers, several_pools_one_after_another_each_restore_the_callers_handlers) {
  own_handlers mine;
  for (int round = 0; round < 3; ++round) {
    with_pool([](mpipool::pool& pool) { EXPECT_EQ(pool.apply(signals_with_own_handler, 0), 0); });
    expect_own_handlers();
  }
}

TEST(signal_handlers, nested_crash_reports_keep_the_original_handlers) {
  own_handlers mine;
  {
    const mpipool::detail::crash_report outer(mpipool_test::world_rank(), "outer");
    {
      const mpipool::detail::crash_report inner(mpipool_test::world_rank(), "inner");
      EXPECT_EQ(signals_with_own_handler(0), 0);
    }
    EXPECT_EQ(signals_with_own_handler(0), 0);  // the outer one still reports
  }
  expect_own_handlers();
}
