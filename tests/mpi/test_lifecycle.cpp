// close / terminate / join with Python's state rules, the per-worker initializer, several pools
// in one program, and none inside another. Each test runs at 1, 2, 3 and 5 ranks.
#include <atomic>
#include <chrono>
#include <latch>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support.hpp"

using mpipool_test::with_pool;

int twice(int x) { return 2 * x; }
MPIPOOL_REGISTER(twice);

void sleep_seconds(int seconds) { std::this_thread::sleep_for(std::chrono::seconds(seconds)); }
MPIPOOL_REGISTER(sleep_seconds);

// Opens the gate at `started` (so the test knows tasks are running), then sleeps.
void mark_then_sleep(std::string started, int seconds) {
  mpipool_test::gate::open_at(started);
  sleep_seconds(seconds);
}
MPIPOOL_REGISTER(mark_then_sleep);

void mark_then_nap(std::string started, int milliseconds) {
  mpipool_test::gate::open_at(started);
  std::this_thread::sleep_for(std::chrono::milliseconds(milliseconds));
}
MPIPOOL_REGISTER(mark_then_nap);

// Busy for `milliseconds` of wall time: longer than a caller spins on its apply.
int busy_then_twice(int x, int milliseconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(milliseconds);
  while (std::chrono::steady_clock::now() < until) {
  }
  return 2 * x;
}
MPIPOOL_REGISTER(busy_then_twice);

// Opens `started`, then waits until the test opens `release`.
int hold(std::string started, std::string release) {
  mpipool_test::gate::open_at(started);
  mpipool_test::gate::wait(release);
  return 0;
}
MPIPOOL_REGISTER(hold);

// test_pool_worker_lifetime_early_close / test_enter: calls after close.
TEST(lifecycle, every_call_after_close_throws_pool_not_running) {
  with_pool([](mpipool::pool& pool) {
    auto before = pool.map_async(twice, std::vector<int>{1, 2, 3});
    pool.close();
    const std::vector<int> items{1};
    const std::vector<std::tuple<int>> tuples{{1}};
    auto expect_refused = [](auto&& call) {
      try {
        call();
        ADD_FAILURE() << "no exception";
      } catch (const std::logic_error& e) {
        EXPECT_STREQ(e.what(), "mpipool: pool not running");
      }
    };
    expect_refused([&] { (void)pool.apply(twice, 1); });
    expect_refused([&] { (void)pool.apply_async(twice, 1); });
    expect_refused([&] { (void)pool.map(twice, items); });
    expect_refused([&] { (void)pool.map_async(twice, items); });
    expect_refused([&] { (void)pool.starmap(twice, tuples); });
    expect_refused([&] { (void)pool.starmap_async(twice, tuples); });
    pool.join();
    EXPECT_EQ(before.get(), (std::vector<int>{2, 4, 6}));  // work submitted before close finished
  });
}

// As in Python, close() on a closed or terminated pool does nothing.
TEST(lifecycle, close_again_and_close_after_terminate_do_nothing) {
  with_pool([](mpipool::pool& pool) {
    auto before = pool.map_async(twice, std::vector<int>{1, 2, 3});
    pool.close();
    EXPECT_NO_THROW(pool.close());
    pool.join();
    EXPECT_NO_THROW(pool.close());
    EXPECT_EQ(before.get(), (std::vector<int>{2, 4, 6}));
  });
  with_pool([](mpipool::pool& pool) {
    pool.terminate();
    EXPECT_NO_THROW(pool.close());
    pool.join();
    EXPECT_THROW((void)pool.apply(twice, 1), std::logic_error);
  });
}

TEST(lifecycle, join_on_a_running_pool_throws) {
  with_pool([](mpipool::pool& pool) {
    EXPECT_THROW(pool.join(), std::logic_error);
    EXPECT_EQ(pool.apply(twice, 4), 8);
  });
}

// test_terminate: terminate returns promptly with thousands of long tasks queued.
TEST(lifecycle, terminate_returns_promptly_with_ten_thousand_one_second_tasks_queued) {
  with_pool([](mpipool::pool& pool) {
    mpipool_test::gate started("terminate");
    auto queued = pool.starmap_async(mark_then_sleep,
                                     std::vector<std::tuple<std::string, int>>(10000, {started.path(), 1}));
    mpipool_test::gate::wait(started.path());  // tasks are running, the rest queued
    const auto start = std::chrono::steady_clock::now();
    pool.terminate();
    pool.join();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // Running tasks finish their current item (1 s); the 10,000 s of queued work is dropped.
    EXPECT_LT(seconds, 10.0);
    EXPECT_THROW(queued.get(), mpipool::pool_terminated);
    EXPECT_THROW((void)pool.apply(twice, 1), std::logic_error);
  });
}

TEST(lifecycle, terminate_calls_the_error_callback_of_unfinished_work) {
  with_pool([](mpipool::pool& pool) {
    std::string error;
    auto queued = pool.map_async(sleep_seconds, std::vector<int>(100, 1), 1,
                                 {.on_error = [&](const mpipool::error& e) { error = e.what(); }});
    pool.terminate();
    pool.join();
    EXPECT_THROW(queued.get(), mpipool::pool_terminated);
    EXPECT_NE(error.find("terminated"), std::string::npos) << error;
  });
}

TEST(lifecycle, close_then_join_finishes_all_submitted_work) {
  with_pool([](mpipool::pool& pool) {
    std::vector<mpipool::async_result<int>> results;
    for (int i = 0; i < 40; ++i) results.push_back(pool.apply_async(twice, i));
    pool.close();
    pool.join();
    for (int i = 0; i < 40; ++i) {
      EXPECT_TRUE(results[static_cast<std::size_t>(i)].ready());
      EXPECT_EQ(results[static_cast<std::size_t>(i)].get(), 2 * i);
    }
  });
}

// Work the body leaves running is terminated when it returns, as Python's `with Pool()` does,
// and none of its callbacks run: they capture the body's locals, which are gone by then.
TEST(lifecycle, body_returning_terminates_unfinished_work_without_running_its_callbacks) {
  std::optional<mpipool::async_result<void>> left;
  static std::atomic<int> callbacks_run{0};
  callbacks_run = 0;
  mpipool_test::gate started("body-returns");
  const bool master = mpipool_test::world_rank() == 0;
  if (master) testing::internal::CaptureStderr();
  with_pool([&](mpipool::pool& pool) {
    int local = 0;  // what a callback refers to, gone once the body returns
    left = pool.starmap_async(mark_then_nap, std::vector<std::tuple<std::string, int>>(40, {started.path(), 100}),
                              1, {.on_result = [&local] { local += 1; ++callbacks_run; },
                                  .on_error = [&local](const mpipool::error&) { local += 2; ++callbacks_run; }});
    left->add_done_callback([&local](const mpipool::async_result<void>&) {
      local += 4;
      ++callbacks_run;
    });
    mpipool_test::gate::wait(started.path());  // a task runs; most are still queued
  });
  if (!master) return;
  const std::string err = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(left.has_value());
  EXPECT_TRUE(left->ready());
  EXPECT_THROW(left->get(), mpipool::pool_terminated);
  EXPECT_EQ(callbacks_run.load(), 0);
  EXPECT_NE(err.find("the body returned with 1 call unfinished"), std::string::npos) << err;
}

TEST(lifecycle, body_that_waits_for_its_work_gets_it_all_and_no_warning) {
  const bool master = mpipool_test::world_rank() == 0;
  if (master) testing::internal::CaptureStderr();
  int calls = 0;
  with_pool([&](mpipool::pool& pool) {
    auto r = pool.map_async(twice, std::views::iota(0, 50), {}, {.on_result = [&](const std::vector<int>&) { ++calls; }});
    pool.close();
    pool.join();
    EXPECT_EQ(r.get().back(), 98);
  });
  if (!master) return;
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(err.find("unfinished"), std::string::npos) << err;
}

// terminate() never waits for a running task, at any rank count: with one rank too, where the
// master's own process runs the tasks.
TEST(lifecycle, terminate_returns_while_a_task_is_still_running) {
  with_pool([](mpipool::pool& pool) {
    mpipool_test::gate started("terminate-started");
    mpipool_test::gate release("terminate-release");
    auto held = pool.apply_async(hold, started.path(), release.path());
    mpipool_test::gate::wait(started.path());
    pool.terminate();  // the task is still held at its gate
    EXPECT_TRUE(held.ready());
    EXPECT_THROW(held.get(), mpipool::pool_terminated);
    release.open();
    pool.join();
  });
}

TEST(lifecycle, dropping_a_stream_returns_while_its_task_is_still_running) {
  with_pool([](mpipool::pool& pool) {
    mpipool_test::gate started("drop-started");
    mpipool_test::gate release("drop-release");
    {
      // One item: a held task must see the release gate before the test removes it.
      auto stream = pool.istarmap(hold, std::vector<std::tuple<std::string, std::string>>(
                                            1, {started.path(), release.path()}));
      mpipool_test::gate::wait(started.path());
    }  // dropped unread while its task is held
    release.open();
    EXPECT_EQ(pool.apply(twice, 21), 42);
    pool.close();
    pool.join();  // the held task has seen its gate before the gate goes
  });
}

TEST(lifecycle, terminate_while_another_thread_joins) {
  with_pool([](mpipool::pool& pool) {
    mpipool_test::gate started("join-started");
    mpipool_test::gate release("join-release");
    auto held = pool.apply_async(hold, started.path(), release.path());
    mpipool_test::gate::wait(started.path());
    pool.close();
    std::thread joiner([&] { pool.join(); });
    pool.terminate();
    EXPECT_THROW(held.get(), mpipool::pool_terminated);
    release.open();
    joiner.join();
    pool.join();
  });
}

mpipool::pool* pool_of_this_process = nullptr;

// With one rank the task runs in the master's process, where it can reach the pool.
std::string call_the_pool_from_a_task(int x) {
  if (pool_of_this_process == nullptr) return "no pool on this rank";
  try {
    (void)pool_of_this_process->apply(twice, x);
    return "no error";
  } catch (const std::logic_error& e) {
    return e.what();
  }
}
MPIPOOL_REGISTER(call_the_pool_from_a_task);

TEST(lifecycle, a_pool_method_called_inside_a_task_throws_saying_so) {
  with_pool([](mpipool::pool& pool) {
    pool_of_this_process = &pool;
    const std::string said = pool.apply(call_the_pool_from_a_task, 1);
    pool_of_this_process = nullptr;
    if (pool.workers() == 1 && mpipool_test::world_size() == 1) {
      EXPECT_NE(said.find("pool methods cannot be called from inside a task"), std::string::npos) << said;
    } else {
      EXPECT_EQ(said, "no pool on this rank");
    }
  });
}

TEST(lifecycle, several_pools_one_after_another) {
  for (int round = 1; round <= 3; ++round) {
    const int rc = with_pool([round](mpipool::pool& pool) {
      EXPECT_EQ(pool.map(twice, std::vector<int>{round, 10 * round}), (std::vector<int>{2 * round, 20 * round}));
      return round;
    });
    EXPECT_EQ(rc, round);  // every rank returns the body's exit code
  }
}

TEST(lifecycle, body_exception_is_rethrown_on_the_master_and_workers_return_failure) {
  int rc = -1;
  if (mpipool_test::world_rank() == 0) {
    EXPECT_THROW(with_pool([](mpipool::pool&) -> int { throw std::runtime_error("body failed"); }),
                 std::runtime_error);
  } else {
    rc = with_pool([](mpipool::pool&) -> int { throw std::runtime_error("body failed"); });
    EXPECT_EQ(rc, 1);
  }
}

TEST(lifecycle, workers_reports_the_number_of_task_processes) {
  with_pool([](mpipool::pool& pool) {
    EXPECT_EQ(pool.workers(), static_cast<std::size_t>(mpipool_test::worker_count()));
  });
}

namespace {
// Set by the initializer, read by the tasks: per process.
int initialized_with = 0;
int initializer_calls = 0;
int tasks_before_initializer = 0;

void initialize(int value, std::string suffix) {
  initialized_with = value + static_cast<int>(suffix.size());
  ++initializer_calls;
}

void initialize_badly(int value) {
  if (mpipool_test::world_rank() == mpipool_test::first_worker_rank())
    throw std::invalid_argument("bad initial value " + std::to_string(value));
}

std::tuple<int, int, int> observe(int) {
  if (initializer_calls == 0) ++tasks_before_initializer;
  return {initialized_with, initializer_calls, tasks_before_initializer};
}
}  // namespace
MPIPOOL_REGISTER(initialize);
MPIPOOL_REGISTER(initialize_badly);
MPIPOOL_REGISTER(observe);

TEST(lifecycle, initializer_runs_once_on_each_worker_before_its_first_task) {
  initializer_calls = 0;
  with_pool(
      [](mpipool::pool& pool) {
        const auto seen = pool.map(observe, std::views::iota(0, 200), 1);
        for (const auto& [value, calls, early] : seen) {
          EXPECT_EQ(value, 42 + 3);
          EXPECT_EQ(calls, 1);
          EXPECT_EQ(early, 0);
        }
      },
      {.initializer = mpipool::call(initialize, 42, std::string("abc"))});
}

TEST(lifecycle, initializer_that_throws_is_reported_clearly_and_no_body_runs) {
  bool body_ran = false;
  auto body = [&](mpipool::pool&) { body_ran = true; };
  const mpipool::pool_options options{.initializer = mpipool::call(initialize_badly, 7)};
  if (mpipool_test::world_rank() == 0) {
    try {
      with_pool(body, options);
      ADD_FAILURE() << "no exception";
    } catch (const mpipool::initializer_error& e) {
      EXPECT_EQ(e.type_name(), "std::invalid_argument");
      EXPECT_EQ(e.message(), "bad initial value 7");
      EXPECT_EQ(e.rank(), mpipool_test::first_worker_rank());
      EXPECT_NE(std::string(e.what()).find("initializer failed"), std::string::npos);
    }
    EXPECT_FALSE(body_ran);
  } else {
    EXPECT_EQ(with_pool(body, options), 1);
  }
}

namespace {
// What mpipool::run threw when called from inside a running pool, or "" if it did not throw.
std::string nested_run_on_world() {
  try {
    mpipool::run(MPI_COMM_WORLD, [](mpipool::pool&) {});
  } catch (const std::logic_error& e) {
    return e.what();
  }
  return "";
}

std::string nested_run_with_arguments() {
  char name[] = "nested";
  char* arguments[] = {name, nullptr};
  int argc = 1;
  char** argv = arguments;
  try {
    mpipool::run(argc, argv, [](mpipool::pool&) {});
  } catch (const std::logic_error& e) {
    return e.what();
  }
  return "";
}

std::string nested_run_in_a_task(int with_arguments) {
  return with_arguments != 0 ? nested_run_with_arguments() : nested_run_on_world();
}

void expect_nested_run_refused(const std::string& what) {
  EXPECT_NE(what.find("a pool cannot be started inside another pool's body"), std::string::npos) << what;
  EXPECT_NE(what.find("one after another with mpipool::run(comm, body)"), std::string::npos) << what;
}
}  // namespace
MPIPOOL_REGISTER(nested_run_in_a_task);

// A pool started inside a running one would wait for ranks busy serving the first: refused.
TEST(lifecycle, run_inside_the_body_throws_logic_error_and_the_pool_goes_on) {
  with_pool([](mpipool::pool& pool) {
    expect_nested_run_refused(nested_run_on_world());
    expect_nested_run_refused(nested_run_with_arguments());
    EXPECT_EQ(pool.map(twice, std::vector<int>{1, 2, 3}), (std::vector<int>{2, 4, 6}));
  });
}

TEST(lifecycle, run_inside_a_task_throws_logic_error_and_the_pool_goes_on) {
  with_pool([](mpipool::pool& pool) {
    for (const std::string& what : pool.map(nested_run_in_a_task, std::vector<int>{0, 1}, 1))
      expect_nested_run_refused(what);
    EXPECT_EQ(pool.apply(twice, 4), 8);
  });
}

TEST(lifecycle, run_inside_a_callback_throws_logic_error_and_the_pool_goes_on) {
  with_pool([](mpipool::pool& pool) {
    std::string on_world;
    std::string with_arguments;
    auto result = pool.apply_async({.on_result = [&](const int&) {
                                     on_world = nested_run_on_world();
                                     with_arguments = nested_run_with_arguments();
                                   }},
                                   twice, 5);
    EXPECT_EQ(result.get(), 10);  // the callback ran before the result became ready
    expect_nested_run_refused(on_world);
    expect_nested_run_refused(with_arguments);
    EXPECT_EQ(pool.apply(twice, 6), 12);
  });
}

// Callers on several threads that apply back to back take turns on the pool's loop, or hand
// their call to the progress thread (master::submit_and_drive): each gets its own results.
TEST(lifecycle, callers_on_several_threads_apply_back_to_back_and_each_gets_its_own_results) {
  with_pool([](mpipool::pool& pool) {
    std::atomic<int> wrong{0};
    auto caller = [&](int offset) {
      for (int i = 0; i < 1000; ++i)
        if (pool.apply(twice, offset + i) != 2 * (offset + i)) ++wrong;
    };
    std::thread first(caller, 100000);
    std::thread second(caller, 200000);
    caller(0);
    first.join();
    second.join();
    EXPECT_EQ(wrong.load(), 0);
  });
}

// A task longer than the caller's spin on its apply: the progress thread takes the call over.
TEST(lifecycle, an_apply_longer_than_the_callers_spin_returns_its_value) {
  with_pool([](mpipool::pool& pool) {
    for (int i = 0; i < 5; ++i) EXPECT_EQ(pool.apply(busy_then_twice, i, 3), 2 * i);
    EXPECT_EQ(pool.apply(twice, 21), 42);
  });
}

// close() from another thread while a caller applies back to back: each apply returns its
// value, until one is refused as the pool is not running; none hangs, and join() returns.
TEST(lifecycle, close_while_another_thread_applies_back_to_back) {
  with_pool([](mpipool::pool& pool) {
    std::atomic<int> returned{0};
    std::atomic<int> wrong{0};
    std::string refusal;
    std::latch started(1);
    std::thread applier([&] {
      for (int i = 0;; ++i) {
        try {
          if (pool.apply(twice, i) != 2 * i) ++wrong;
          ++returned;
        } catch (const std::logic_error& e) {
          refusal = e.what();
          break;
        }
        if (i == 100) started.count_down();
      }
    });
    started.wait();
    pool.close();
    applier.join();
    pool.join();
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_GT(returned.load(), 100);
    EXPECT_NE(refusal.find("not running"), std::string::npos) << refusal;
  });
}
