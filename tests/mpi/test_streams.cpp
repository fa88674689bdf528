// imap, imap_unordered, istarmap, zip-map, submit and as_completed: lazy input, bounded
// windows, errors at their position, early exit. Ported from CPython's _TestPool imap cases
// where they exist. Each test runs at 1, 2, 3 and 5 ranks.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "generator.hpp"
#include "support.hpp"

using mpipool_test::with_pool;

int sqr(int x) { return x * x; }
MPIPOOL_REGISTER(sqr);

int mul(int x, int y) { return x * y; }
MPIPOOL_REGISTER(mul);

int fail_on_three(int x) {
  if (x == 3) throw std::invalid_argument("three");
  return x * x;
}
MPIPOOL_REGISTER(fail_on_three);

void refuse_three(int x) {
  if (x == 3) throw std::invalid_argument("three");
}
MPIPOOL_REGISTER(refuse_three);

namespace {

struct say_when : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// CPython's exception_throwing_generator(total, when).
mpipool_test::generator<int> throwing_generator(int total, int when) {
  for (int i = 0; i < total; ++i) {
    if (i == when) throw say_when("somebody said when");
    co_yield i;
  }
}

mpipool_test::generator<int> naturals() {
  for (int i = 0;; ++i) co_yield i;
}

std::vector<int> squares_below(int n) {
  std::vector<int> out;
  for (int i = 0; i < n; ++i) out.push_back(i * i);
  return out;
}

template <class Stream>
auto drain(Stream&& stream) {
  std::vector<std::decay_t<decltype(*stream.begin())>> out;
  for (auto&& v : stream) out.push_back(v);
  return out;
}

}  // namespace

// test_imap
TEST(streams, imap_yields_in_input_order_and_ends_after_the_last) {
  with_pool([](mpipool::pool& pool) {
    EXPECT_EQ(drain(pool.imap(sqr, std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})), squares_below(10));
    auto it = pool.imap(sqr, std::views::iota(0, 10));
    for (int i = 0; i < 10; ++i) EXPECT_EQ(it.next(), i * i);
    EXPECT_EQ(it.next(), std::nullopt);
    auto big = pool.imap(sqr, std::views::iota(0, 1000), 100);
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(big.next(), i * i);
    EXPECT_EQ(big.next(), std::nullopt);
  });
}

// test_imap_unordered
TEST(streams, imap_unordered_yields_each_value_exactly_once) {
  with_pool([](mpipool::pool& pool) {
    auto small = drain(pool.imap_unordered(sqr, std::views::iota(0, 10)));
    std::sort(small.begin(), small.end());
    EXPECT_EQ(small, squares_below(10));
    auto big = drain(pool.imap_unordered(sqr, std::views::iota(0, 1000), 100));
    std::sort(big.begin(), big.end());
    EXPECT_EQ(big, squares_below(1000));
  });
}

// test_imap_handle_iterable_exception
TEST(streams, imap_raises_the_inputs_exception_at_its_position) {
  with_pool([](mpipool::pool& pool) {
    for (int when : {0, 3, 7}) {
      for (int chunksize : {1, 2, 4}) {
        auto stream = pool.imap(sqr, throwing_generator(20, when), chunksize);
        for (int i = 0; i < when; ++i) EXPECT_EQ(stream.next(), i * i) << "when " << when << " chunksize " << chunksize;
        EXPECT_THROW((void)stream.next(), say_when) << "when " << when << " chunksize " << chunksize;
        EXPECT_EQ(stream.next(), std::nullopt);  // the input's error ends the stream
      }
    }
    EXPECT_EQ(pool.apply(sqr, 9), 81);
  });
}

// test_imap_unordered_handle_iterable_exception
TEST(streams, imap_unordered_raises_the_inputs_exception_after_the_items_before_it) {
  with_pool([](mpipool::pool& pool) {
    for (int when : {0, 3, 7}) {
      for (int chunksize : {1, 2, 4}) {
        auto stream = pool.imap_unordered(sqr, throwing_generator(20, when), chunksize);
        std::set<int> expected;
        for (int i = 0; i < when; ++i) expected.insert(i * i);
        for (int i = 0; i < when; ++i) {
          auto value = stream.next();
          ASSERT_TRUE(value.has_value());
          EXPECT_EQ(expected.erase(*value), 1u);
        }
        EXPECT_THROW((void)stream.next(), say_when);
      }
    }
  });
}

TEST(streams, a_failing_item_raises_at_its_position_and_iteration_goes_on) {
  with_pool([](mpipool::pool& pool) {
    auto stream = pool.imap(fail_on_three, std::views::iota(0, 6), 2);
    EXPECT_EQ(stream.next(), 0);
    EXPECT_EQ(stream.next(), 1);
    EXPECT_EQ(stream.next(), 4);
    try {
      (void)stream.next();
      FAIL() << "no exception";
    } catch (const mpipool::remote_error& e) {
      EXPECT_EQ(e.index(), 3u);
      EXPECT_EQ(e.type_name(), "std::invalid_argument");
    }
    EXPECT_EQ(stream.next(), 16);
    EXPECT_EQ(stream.next(), 25);
    EXPECT_EQ(stream.next(), std::nullopt);
  });
}

TEST(streams, empty_input_for_every_stream_method) {
  with_pool([](mpipool::pool& pool) {
    const std::vector<int> none;
    const std::vector<std::tuple<int, int>> no_pairs;
    EXPECT_TRUE(drain(pool.imap(sqr, none)).empty());
    EXPECT_TRUE(drain(pool.imap_unordered(sqr, none)).empty());
    EXPECT_TRUE(drain(pool.istarmap(mul, no_pairs)).empty());
    EXPECT_TRUE(drain(pool.istarmap_unordered(mul, no_pairs)).empty());
    EXPECT_TRUE(drain(pool.imap(mul, none, none)).empty());
    EXPECT_TRUE(pool.map(mul, none, std::vector<int>{1, 2}).empty());
    EXPECT_TRUE(pool.map_async(mul, none, none).get().empty());
    std::vector<mpipool::async_result<int>> no_handles;
    int yielded = 0;
    for (const auto& h : mpipool::as_completed(no_handles)) yielded += h.ready() ? 1 : 1;
    EXPECT_EQ(yielded, 0);
  });
}

TEST(streams, chunksize_below_one_is_rejected) {
  with_pool([](mpipool::pool& pool) {
    const std::vector<int> xs{1, 2};
    const std::vector<std::tuple<int, int>> pairs{{1, 2}};
    EXPECT_THROW((void)pool.imap(sqr, xs, 0), std::invalid_argument);
    EXPECT_THROW((void)pool.imap_unordered(sqr, xs, -2), std::invalid_argument);
    EXPECT_THROW((void)pool.istarmap(mul, pairs, 0), std::invalid_argument);
    EXPECT_THROW((void)pool.istarmap_unordered(mul, pairs, 0), std::invalid_argument);
  });
}

TEST(streams, istarmap_unpacks_tuples_lazily) {
  with_pool([](mpipool::pool& pool) {
    std::vector<std::tuple<int, int>> pairs;
    for (int i = 0; i < 50; ++i) pairs.emplace_back(i, 2);
    std::vector<int> doubled;
    for (int v : pool.istarmap(mul, pairs, 3)) doubled.push_back(v);
    ASSERT_EQ(doubled.size(), 50u);
    for (int i = 0; i < 50; ++i) EXPECT_EQ(doubled[static_cast<std::size_t>(i)], 2 * i);
    auto unordered = drain(pool.istarmap_unordered(mul, pairs));
    std::sort(unordered.begin(), unordered.end());
    EXPECT_EQ(unordered, doubled);
  });
}

TEST(streams, zip_map_stops_at_the_shortest_range) {
  with_pool([](mpipool::pool& pool) {
    const std::vector<int> xs{1, 2, 3, 4};
    const std::vector<int> ys{10, 20};
    EXPECT_EQ(pool.map(mul, xs, ys), (std::vector<int>{10, 40}));
    EXPECT_EQ(pool.map_async(mul, ys, xs).get(), (std::vector<int>{10, 40}));
    EXPECT_EQ(drain(pool.imap(mul, xs, std::views::iota(5))), (std::vector<int>{5, 12, 21, 32}));
    EXPECT_EQ(pool.map([](int a, int b, int c) { return a + b + c; }, xs, ys, std::vector<int>{100, 200, 300}),
              (std::vector<int>{111, 222}));
  });
}

TEST(streams, unbounded_generator_stopped_after_a_thousand_results) {
  with_pool([](mpipool::pool& pool) {
    int count = 0;
    long long sum = 0;
    for (int v : pool.imap(sqr, naturals(), 7)) {
      sum += v;
      if (++count == 1000) break;
    }
    EXPECT_EQ(count, 1000);
    EXPECT_EQ(sum, 332833500LL);  // sum of i*i for i < 1000
    EXPECT_EQ(pool.map(sqr, std::vector<int>{5}), std::vector<int>{25});  // usable afterwards
  });
}

TEST(streams, early_break_stops_reading_the_input_and_the_pool_stays_usable) {
  with_pool([](mpipool::pool& pool) {
    std::atomic<long> reads{0};
    auto counted = std::views::iota(0) | std::views::transform([&reads](int i) {
                     ++reads;
                     return i;
                   });
    int seen = 0;
    for (int v : pool.imap_unordered(sqr, counted, 4)) {
      (void)v;
      if (++seen == 50) break;  // the stream is destroyed here
    }
    const long after_break = reads.load();
    EXPECT_GE(after_break, 50);
    EXPECT_EQ(pool.map(sqr, std::views::iota(0, 100)), squares_below(100));
    EXPECT_EQ(reads.load(), after_break) << "the input was read after the stream was gone";
  });
}

TEST(streams, window_bounds_how_far_the_input_is_read_ahead_of_the_reader) {
  const mpipool::pool_options options{.stream_window = 2};
  with_pool(
      [](mpipool::pool& pool) {
        std::atomic<long> reads{0};
        auto counted = std::views::iota(0) | std::views::transform([&reads](int i) {
                         ++reads;
                         return i;
                       });
        const long chunksize = 3;
        const long window = 2 * static_cast<long>(pool.workers()) * chunksize;
        auto stream = pool.imap(sqr, counted, chunksize);
        long consumed = 0;
        for (int round = 0; round < 20; ++round) {
          for (int i = 0; i < 25; ++i) {
            EXPECT_EQ(stream.next(), consumed * consumed);
            ++consumed;
          }
          // Whatever the timing, at most a window beyond what was read has been taken.
          EXPECT_LE(reads.load(), consumed + window) << "after reading " << consumed;
        }
      },
      options);
}

TEST(streams, input_can_be_a_range_over_an_input_stream) {
  with_pool([](mpipool::pool& pool) {
    std::istringstream numbers("3 1 4 1 5 9 2 6");
    EXPECT_EQ(drain(pool.imap(sqr, std::views::istream<int>(numbers), 3)),
              (std::vector<int>{9, 1, 16, 1, 25, 81, 4, 36}));
  });
}

TEST(streams, next_with_timeout_throws_timeout_error_while_nothing_is_ready) {
  with_pool([](mpipool::pool& pool) {
    mpipool_test::gate gate("stream-timeout");
    auto stream = pool.imap(
        [](std::string path) {
          mpipool_test::gate::wait(path);
          return 7;
        },
        std::vector<std::string>{gate.path()});
    EXPECT_THROW((void)stream.next(std::chrono::milliseconds(50)), mpipool::timeout_error);
    gate.open();
    EXPECT_EQ(stream.next(std::chrono::seconds(60)), 7);
    EXPECT_EQ(stream.next(std::chrono::seconds(60)), std::nullopt);
  });
}

TEST(streams, submit_returns_a_handle_with_a_done_callback) {
  with_pool([](mpipool::pool& pool) {
    auto handle = pool.submit(sqr, 12);
    std::atomic<int> seen{0};
    handle.add_done_callback([&](const mpipool::async_result<int>& h) { seen = h.get(); });
    EXPECT_EQ(handle.get(), 144);
    handle.wait();
    EXPECT_TRUE(handle.ready());
    // Added after completion: runs at once, on this thread.
    int late = 0;
    handle.add_done_callback([&](const mpipool::async_result<int>& h) { late = h.get() + 1; });
    EXPECT_EQ(late, 145);
    EXPECT_EQ(seen.load(), 144);
  });
}

TEST(streams, as_completed_yields_every_handle_once) {
  with_pool([](mpipool::pool& pool) {
    std::vector<mpipool::async_result<int>> handles;
    for (int i = 0; i < 20; ++i) handles.push_back(pool.submit(sqr, i));
    std::multiset<int> values;
    for (const auto& h : mpipool::as_completed(handles)) {
      EXPECT_TRUE(h.ready());
      values.insert(h.get());
    }
    const auto expected = squares_below(20);
    EXPECT_EQ(values, std::multiset<int>(expected.begin(), expected.end()));
  });
}

TEST(streams, as_completed_times_out_on_an_unfinished_handle) {
  with_pool([](mpipool::pool& pool) {
    mpipool_test::gate gate("as-completed");
    std::vector<mpipool::async_result<int>> handles;
    handles.push_back(pool.submit(
        [](std::string path) {
          mpipool_test::gate::wait(path);
          return -1;
        },
        gate.path()));
    handles.push_back(pool.submit(sqr, 3));
    const bool two_workers = pool.workers() >= 2;  // else sqr queues behind the held task
    if (two_workers) handles[1].wait();
    int yielded = 0;
    bool timed_out = false;
    try {
      for (const auto& h : mpipool::as_completed(handles, std::chrono::milliseconds(300))) {
        EXPECT_EQ(h.get(), 9);
        ++yielded;
      }
    } catch (const mpipool::timeout_error&) {
      timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    EXPECT_EQ(yielded, two_workers ? 1 : 0);
    gate.open();
    EXPECT_EQ(handles[0].get(), -1);
  });
}

TEST(streams, close_and_join_finish_a_stream_that_is_no_longer_read) {
  with_pool([](mpipool::pool& pool) {
    auto stream = pool.imap(sqr, std::views::iota(0, 5000), 1);
    EXPECT_EQ(stream.next(), 0);  // then stop reading, with the window full
    pool.close();
    pool.join();  // as in Python, join waits for all the work, read or not
    long count = 1;
    while (auto v = stream.next()) {
      EXPECT_EQ(*v, count * count);
      ++count;
    }
    EXPECT_EQ(count, 5000);
  });
}

TEST(streams, one_slow_item_does_not_make_imap_read_beyond_the_window) {
  if (mpipool_test::worker_count() < 2) GTEST_SKIP() << "needs a second worker to keep the pool busy";
  const mpipool::pool_options options{.stream_window = 2};
  with_pool(
      [](mpipool::pool& pool) {
        mpipool_test::gate gate("slow-item");
        std::atomic<long> reads{0};
        auto input = std::views::iota(0) | std::views::transform([&reads, path = gate.path()](int i) {
                       ++reads;
                       return std::tuple<int, std::string>(i, path);
                     });
        const long window = 2 * static_cast<long>(pool.workers());
        auto stream = pool.istarmap(
            [](int i, std::string path) {
              if (i == 0) mpipool_test::gate::wait(path);  // item 0 is slow: everything after it waits in the buffer
              return i;
            },
            input);
        while (reads.load() < window) std::this_thread::yield();  // the window is full
        // Let the progress thread go round many times with free workers: it must not read on.
        for (int i = 0; i < 20; ++i) EXPECT_EQ(pool.apply(sqr, i), i * i);
        EXPECT_EQ(reads.load(), window);
        gate.open();
        for (int i = 0; i < 100; ++i) EXPECT_EQ(stream.next(), i);
      },
      options);
}

TEST(streams, imap_unordered_yields_in_completion_order) {
  if (mpipool_test::worker_count() < 2) GTEST_SKIP() << "needs a second worker to overtake the held item";
  with_pool([](mpipool::pool& pool) {
    mpipool_test::gate gate("unordered");
    std::vector<std::tuple<int, std::string>> items;
    for (int i = 0; i < 6; ++i) items.emplace_back(i, gate.path());
    auto stream = pool.istarmap_unordered(
        [](int i, std::string path) {
          if (i == 0) mpipool_test::gate::wait(path);
          return i;
        },
        items);
    std::set<int> later;
    for (int n = 0; n < 5; ++n) later.insert(*stream.next());  // all but the held item 0 come first
    EXPECT_EQ(later, (std::set<int>{1, 2, 3, 4, 5}));
    gate.open();
    EXPECT_EQ(stream.next(), 0);
    EXPECT_EQ(stream.next(), std::nullopt);
  });
}

TEST(streams, a_moved_stream_goes_on_where_it_was) {
  with_pool([](mpipool::pool& pool) {
    auto first = pool.imap(sqr, std::views::iota(0, 10));
    EXPECT_EQ(first.next(), 0);
    auto second = std::move(first);
    EXPECT_EQ(second.next(), 1);
    std::vector<int> rest;
    for (int v : second) rest.push_back(v);
    EXPECT_EQ(rest, (std::vector<int>{4, 9, 16, 25, 36, 49, 64, 81}));
  });
}

TEST(streams, begin_after_a_timed_out_wait_starts_at_the_first_result) {
  with_pool([](mpipool::pool& pool) {
    mpipool_test::gate gate("begin-after-timeout");
    auto stream = pool.istarmap(
        [](int i, std::string path) {
          mpipool_test::gate::wait(path);
          return i;
        },
        std::vector<std::tuple<int, std::string>>{{10, gate.path()}, {11, gate.path()}});
    EXPECT_THROW((void)stream.next(std::chrono::milliseconds(20)), mpipool::timeout_error);
    gate.open();
    std::vector<int> all;
    for (int v : stream) all.push_back(v);
    EXPECT_EQ(all, (std::vector<int>{10, 11}));
  });
}

TEST(streams, terminate_fails_a_live_stream) {
  with_pool([](mpipool::pool& pool) {
    auto stream = pool.imap(sqr, std::views::iota(0), 2);
    EXPECT_EQ(stream.next(), 0);
    pool.terminate();
    pool.join();
    EXPECT_THROW(
        {
          while (stream.next()) {
          }
        },
        mpipool::pool_terminated);
  });
}

// 5000 restarts each way: a lost wakeup shows as a hang long before that. (Every item is a round
// trip here, and with the cores busy and no doorbells, as in the suite's TCP run beside other
// tests, one can take a millisecond or more: 20000 took 90 s there.)
TEST(streams, a_window_of_one_chunk_keeps_restarting_without_losing_a_wakeup) {
  const mpipool::pool_options options{.stream_window = 1};
  static constexpr int items = 5000;
  with_pool(
      [](mpipool::pool& pool) {
        long expected = 0;
        for (int v : pool.imap_unordered(sqr, std::views::iota(0, items))) expected += v >= 0;
        EXPECT_EQ(expected, items);
        long ordered = 0;
        for (int v : pool.imap(sqr, std::views::iota(0, items), 3)) {
          EXPECT_EQ(v, ordered * ordered);
          ++ordered;
        }
        EXPECT_EQ(ordered, items);
      },
      options);
}

namespace {
// Reads a stream of a task that returns nothing: how many items it yielded, and the index of
// each item that raised, at the position where it raised.
struct void_outcomes {
  int yielded = 0;
  std::vector<std::pair<int, std::uint64_t>> raised;  // (position, index)
};
template <class Stream>
void_outcomes read_void_stream(Stream&& stream) {
  static_assert(std::is_same_v<decltype(stream.next()), std::optional<std::monostate>>);
  void_outcomes out;
  for (int position = 0;; ++position) {
    try {
      if (!stream.next()) break;
      ++out.yielded;
    } catch (const mpipool::remote_error& e) {
      EXPECT_EQ(e.type_name(), "std::invalid_argument");
      out.raised.emplace_back(position, e.index());
    }
  }
  return out;
}
}  // namespace

TEST(streams, streams_of_a_task_that_returns_nothing_yield_monostate_per_item) {
  with_pool([](mpipool::pool& pool) {
    static_assert(std::is_same_v<mpipool::imap_value_t<decltype(&refuse_three), std::vector<int>>, std::monostate>);
    for (int chunksize : {1, 3}) {
      const auto ordered = read_void_stream(pool.imap(refuse_three, std::views::iota(0, 10), chunksize));
      EXPECT_EQ(ordered.yielded, 9);
      EXPECT_EQ(ordered.raised, (std::vector<std::pair<int, std::uint64_t>>{{3, 3}}));

      const auto unordered = read_void_stream(pool.imap_unordered(refuse_three, std::views::iota(0, 10), chunksize));
      EXPECT_EQ(unordered.yielded, 9);
      ASSERT_EQ(unordered.raised.size(), 1u);
      EXPECT_EQ(unordered.raised[0].second, 3u);

      const std::vector<std::tuple<int>> singles{{0}, {1}, {2}, {3}, {4}};
      const auto starred = read_void_stream(pool.istarmap(refuse_three, singles, chunksize));
      EXPECT_EQ(starred.yielded, 4);
      EXPECT_EQ(starred.raised, (std::vector<std::pair<int, std::uint64_t>>{{3, 3}}));
      const auto starred_unordered = read_void_stream(pool.istarmap_unordered(refuse_three, singles, chunksize));
      EXPECT_EQ(starred_unordered.yielded, 4);
      ASSERT_EQ(starred_unordered.raised.size(), 1u);
    }
    int count = 0;
    for (std::monostate nothing : pool.imap([](int) {}, std::views::iota(0, 7), 2)) {
      (void)nothing;
      ++count;
    }
    EXPECT_EQ(count, 7);
  });
}

// With short chunks a worker has a second chunk waiting in its queue; a dropped stream's
// waiting chunks are answered as cut short, and the master still gets one answer per chunk.
TEST(streams, dropping_streams_with_chunks_queued_on_the_workers_keeps_every_later_result_right) {
  with_pool([](mpipool::pool& pool) {
    for (int round = 0; round < 20; ++round) {
      int seen = 0;
      for (int v : pool.imap(sqr, std::views::iota(0), 1)) {
        EXPECT_EQ(v, seen * seen);
        if (++seen == 200) break;  // the stream is dropped with chunks in flight
      }
      EXPECT_EQ(pool.map(sqr, std::views::iota(0, 300), 1), squares_below(300));
    }
    pool.close();
    pool.join();
  });
}

TEST(streams, terminate_with_chunks_queued_on_the_workers_fails_the_unfinished_calls) {
  with_pool([](mpipool::pool& pool) {
    auto stream = pool.imap(sqr, std::views::iota(0), 1);
    // 40 000 items: long enough to be running when terminate() comes; squares that fit an int.
    auto all = pool.map_async(sqr, std::views::iota(0, 40000), 1);
    for (int i = 0; i < 500; ++i) EXPECT_EQ(stream.next(), i * i);
    pool.terminate();
    pool.join();
    EXPECT_THROW(
        {
          while (stream.next()) {
          }
        },
        mpipool::pool_terminated);
    // The map either finished first or failed; either way the pool wound down.
    all.wait();
    if (all.successful()) EXPECT_EQ(all.get(), squares_below(40000));
    else EXPECT_THROW(all.get(), mpipool::pool_terminated);
  });
}
