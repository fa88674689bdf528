// Result and error callbacks: once each, on the master, before get() returns; a throwing
// callback is reported and ignored; a pool call from a callback throws instead of deadlocking.
#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support.hpp"

using mpipool_test::with_pool;

int parse(std::string text) { return std::stoi(text); }
MPIPOOL_REGISTER(parse);

// test_map_async_callbacks
TEST(callbacks, map_async_calls_back_once_with_the_whole_list_or_the_error) {
  with_pool([](mpipool::pool& pool) {
    std::vector<std::vector<int>> values;
    std::vector<std::string> errors;
    mpipool::callbacks<std::vector<int>> record{
        .on_result = [&](const std::vector<int>& v) { values.push_back(v); },
        .on_error = [&](const mpipool::error& e) { errors.push_back(e.what()); }};
    pool.map_async(parse, std::vector<std::string>{"1"}, {}, record).wait();
    ASSERT_EQ(values.size(), 1u);
    EXPECT_EQ(values[0], std::vector<int>{1});
    EXPECT_TRUE(errors.empty());

    auto failing = pool.map_async(parse, std::vector<std::string>{"a"}, {}, record);
    failing.wait();
    EXPECT_EQ(values.size(), 1u);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors[0].find("std::invalid_argument"), std::string::npos) << errors[0];
    EXPECT_THROW((void)failing.get(), mpipool::remote_error);
  });
}

TEST(callbacks, error_callback_receives_the_remote_error) {
  with_pool([](mpipool::pool& pool) {
    int calls = 0;
    std::uint64_t index = 99;
    std::string type;
    auto r = pool.map_async(parse, std::vector<std::string>{"1", "2", "z", "4"}, 1,
                            {.on_error = [&](const mpipool::error& e) {
                              ++calls;
                              const auto& remote = dynamic_cast<const mpipool::remote_error&>(e);
                              index = remote.index();
                              type = remote.type_name();
                            }});
    EXPECT_THROW((void)r.get(), mpipool::remote_error);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(index, 2u);
    EXPECT_EQ(type, "std::invalid_argument");
  });
}

TEST(callbacks, run_on_the_master_before_get_returns) {
  with_pool([](mpipool::pool& pool) {
    std::thread::id callback_thread;
    int seen = 0;
    auto r = pool.apply_async({.on_result = [&](const int& v) {
                                callback_thread = std::this_thread::get_id();
                                seen = v;
                              }},
                              parse, std::string("41"));
    EXPECT_EQ(r.get(), 41);
    EXPECT_EQ(seen, 41);  // already set when get() returned
    EXPECT_NE(callback_thread, std::thread::id());
    EXPECT_NE(callback_thread, std::this_thread::get_id());  // the pool's progress thread
  });
}

TEST(callbacks, void_task_gets_a_no_argument_callback) {
  with_pool([](mpipool::pool& pool) {
    int calls = 0;
    pool.apply_async(mpipool::callbacks<void>{.on_result = [&] { ++calls; }}, [](int) {}, 1).get();
    EXPECT_EQ(calls, 1);
  });
}

TEST(callbacks, empty_map_async_calls_back_once_with_an_empty_list_on_the_progress_thread) {
  with_pool([](mpipool::pool& pool) {
    int calls = 0;
    std::thread::id called_on;
    auto r = pool.map_async(parse, std::vector<std::string>{}, {},
                            {.on_result = [&](const std::vector<int>& v) {
                              calls += v.empty() ? 1 : 100;
                              called_on = std::this_thread::get_id();
                            }});
    EXPECT_TRUE(r.get().empty());
    EXPECT_EQ(calls, 1);
    // As for every other call: callbacks run on the progress thread, never the caller's.
    EXPECT_NE(called_on, std::this_thread::get_id());
    EXPECT_NE(called_on, std::thread::id());
  });
}

TEST(callbacks, a_throwing_callback_is_reported_and_the_pool_goes_on) {
  with_pool([](mpipool::pool& pool) {
    testing::internal::CaptureStderr();
    auto r = pool.apply_async({.on_result = [](const int&) { throw std::runtime_error("callback bug"); }},
                              parse, std::string("5"));
    EXPECT_EQ(r.get(), 5);  // the value is still delivered
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("result callback threw std::runtime_error: callback bug"), std::string::npos) << err;
    EXPECT_NE(err.find("rank 0"), std::string::npos) << err;
    EXPECT_EQ(pool.apply(parse, std::string("6")), 6);
  });
}

TEST(callbacks, calling_the_pool_from_a_callback_throws_instead_of_deadlocking) {
  with_pool([](mpipool::pool& pool) {
    std::string refused;
    auto r = pool.apply_async({.on_result =
                                   [&](const int&) {
                                     try {
                                       (void)pool.apply(parse, std::string("1"));
                                     } catch (const std::logic_error& e) {
                                       refused = e.what();
                                     }
                                   }},
                              parse, std::string("2"));
    EXPECT_EQ(r.get(), 2);
    EXPECT_NE(refused.find("callback"), std::string::npos) << refused;
  });
}

TEST(callbacks, waiting_on_another_result_from_a_callback_throws) {
  with_pool([](mpipool::pool& pool) {
    mpipool_test::gate gate("callback-wait");
    auto held = pool.apply_async(
        [](std::string path) {
          mpipool_test::gate::wait(path);
          return 1;
        },
        gate.path());
    std::string refused;
    auto r = pool.apply_async({.on_result =
                                   [&](const int&) {
                                     try {
                                       held.wait();
                                     } catch (const std::logic_error& e) {
                                       refused = e.what();
                                     }
                                   }},
                              parse, std::string("3"));
    // With fewer than two workers the second task queues behind the held one, so the callback
    // can only be observed waiting on an unfinished result with two or more.
    const bool two_workers = pool.workers() >= 2;
    if (!two_workers) gate.open();
    EXPECT_EQ(r.get(), 3);
    gate.open();
    EXPECT_EQ(held.get(), 1);
    if (two_workers) {
      EXPECT_NE(refused.find("deadlock"), std::string::npos) << refused;
    }
  });
}

// A plain apply may make its round trip on the caller's own thread, when the pool has nothing
// else to do (master::submit_and_drive). The callbacks of other calls still run on the
// progress thread, each once, while a thread applies back to back.
TEST(callbacks, stay_on_the_progress_thread_while_another_thread_applies_back_to_back) {
  with_pool([](mpipool::pool& pool) {
    constexpr int calls = 300;
    std::atomic<int> wrong{0};
    std::thread::id applier_id;
    std::thread applier([&] {
      applier_id = std::this_thread::get_id();
      for (int i = 0; i < 2000; ++i)
        if (pool.apply(parse, std::to_string(i)) != i) ++wrong;
    });
    std::mutex seen_mutex;
    std::vector<std::thread::id> callback_threads;
    long sum = 0;
    std::vector<mpipool::async_result<int>> results;
    for (int i = 0; i < calls; ++i)
      results.push_back(pool.apply_async({.on_result =
                                              [&](const int& v) {
                                                std::lock_guard lock(seen_mutex);
                                                callback_threads.push_back(std::this_thread::get_id());
                                                sum += v;
                                              }},
                                         parse, std::to_string(i)));
    for (auto& r : results) r.wait();
    applier.join();
    EXPECT_EQ(wrong.load(), 0);
    std::lock_guard lock(seen_mutex);
    ASSERT_EQ(callback_threads.size(), static_cast<std::size_t>(calls));
    EXPECT_EQ(sum, long{calls} * (calls - 1) / 2);
    const std::set<std::thread::id> threads(callback_threads.begin(), callback_threads.end());
    EXPECT_EQ(threads.size(), 1u);  // the progress thread alone
    EXPECT_FALSE(threads.contains(applier_id));
    EXPECT_FALSE(threads.contains(std::this_thread::get_id()));
  });
}
