// The pool's methods, ported from CPython's Lib/test/_test_multiprocessing.py (_TestPool), plus
// values of every kind. Each test runs at 1, 2, 3 and 5 ranks.
#include <algorithm>
#include <array>
#include <cstdint>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <numeric>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support.hpp"

using mpipool_test::with_pool;

int sqr(int x) { return x * x; }
MPIPOOL_REGISTER(sqr);

int mul(int x, int y) { return x * y; }
MPIPOOL_REGISTER(mul);

int sqr_but_not_500(int x) {
  if (x == 500) throw std::invalid_argument("500");
  return x * x;
}
MPIPOOL_REGISTER(sqr_but_not_500);

namespace {

std::vector<int> serial_sqr(int n) {
  std::vector<int> out;
  for (int i = 0; i < n; ++i) out.push_back(sqr(i));
  return out;
}

std::vector<std::tuple<int, int>> zip_down(int n) {  // list(zip(range(n), range(n-1, -1, -1)))
  std::vector<std::tuple<int, int>> out;
  for (int i = 0; i < n; ++i) out.emplace_back(i, n - 1 - i);
  return out;
}

std::vector<int> serial_starmap_mul(const std::vector<std::tuple<int, int>>& tuples) {
  std::vector<int> out;
  for (auto [x, y] : tuples) out.push_back(mul(x, y));
  return out;
}

}  // namespace

// test_apply
TEST(pool, apply) {
  with_pool([](mpipool::pool& pool) {
    EXPECT_EQ(pool.apply(sqr, 5), 25);
    EXPECT_EQ(pool.apply(sqr, 7), 49);
    EXPECT_EQ(pool.apply(mul, 6, 7), 42);
  });
}

// test_map
TEST(pool, map) {
  with_pool([](mpipool::pool& pool) {
    EXPECT_EQ(pool.map(sqr, std::views::iota(0, 10)), serial_sqr(10));
    EXPECT_EQ(pool.map(sqr, std::views::iota(0, 100), 20), serial_sqr(100));
  });
}

TEST(pool, map_takes_any_input_range_and_braced_lists) {
  with_pool([](mpipool::pool& pool) {
    const std::vector<int> evens_squared{0, 4, 16, 36, 64};
    auto evens = std::views::iota(0, 10) | std::views::filter([](int x) { return x % 2 == 0; });
    EXPECT_EQ(pool.map(sqr, evens), evens_squared);
    EXPECT_EQ(pool.map(sqr, {1, 2, 3}), (std::vector<int>{1, 4, 9}));
  });
}

// A blocking map over a contiguous range of fixed-size values reads the range in place, without
// a copy; the range may go as soon as map returns, whether map succeeded or threw, as nothing
// reads it after that (under AddressSanitizer, a later read of the freed input fails the test).
TEST(pool, map_reads_a_contiguous_input_in_place_and_not_after_it_returns) {
  static_assert(mpipool::detail::borrowable_input_v<std::vector<int>&>);
  static_assert(mpipool::detail::borrowable_input_v<const std::array<double, 4>&>);
  static_assert(mpipool::detail::borrowable_input_v<std::span<const std::pair<int, float>>>);
  static_assert(!mpipool::detail::borrowable_input_v<std::vector<std::string>&>);
  static_assert(!mpipool::detail::borrowable_input_v<std::vector<std::vector<int>>&>);
  static_assert(!mpipool::detail::borrowable_input_v<decltype(std::views::iota(0, 3))>);
  with_pool([](mpipool::pool& pool) {
    std::vector<int> squares_of_1000 = serial_sqr(1000);
    for (int round = 0; round < 3; ++round) {
      auto input = std::make_unique<std::vector<int>>(1000);
      std::iota(input->begin(), input->end(), 0);
      EXPECT_EQ(pool.map(sqr, *input, 7), squares_of_1000);
      input.reset();
      auto failing = std::make_unique<std::vector<int>>(1000);
      std::iota(failing->begin(), failing->end(), 0);
      try {
        pool.map(sqr_but_not_500, *failing, 3);
        ADD_FAILURE() << "map of an item that throws returned";
      } catch (const mpipool::remote_error& e) {
        EXPECT_EQ(e.index(), 500u);
        EXPECT_EQ(e.type_name(), "std::invalid_argument");
      }
      failing.reset();
    }
    EXPECT_EQ(pool.map(sqr, std::vector<int>{1, 2, 3}), (std::vector<int>{1, 4, 9}));  // a temporary
  });
}

// test_starmap
TEST(pool, starmap) {
  with_pool([](mpipool::pool& pool) {
    const auto tuples = zip_down(10);
    EXPECT_EQ(pool.starmap(mul, tuples), serial_starmap_mul(tuples));
    const auto more = zip_down(100);
    EXPECT_EQ(pool.starmap(mul, more, 20), serial_starmap_mul(more));
  });
}

TEST(pool, starmap_unpacks_pairs_and_arrays) {
  with_pool([](mpipool::pool& pool) {
    const std::vector<std::pair<int, int>> pairs{{2, 3}, {4, 5}};
    EXPECT_EQ(pool.starmap(mul, pairs), (std::vector<int>{6, 20}));
    const std::vector<std::array<int, 2>> arrays{{1, 2}, {3, 4}};
    EXPECT_EQ(pool.starmap(mul, arrays), (std::vector<int>{2, 12}));
  });
}

// test_starmap_async
TEST(pool, starmap_async) {
  with_pool([](mpipool::pool& pool) {
    const auto tuples = zip_down(100);
    EXPECT_EQ(pool.starmap_async(mul, tuples).get(), serial_starmap_mul(tuples));
  });
}

// test_map_async
TEST(pool, map_async) {
  with_pool([](mpipool::pool& pool) {
    const std::vector<int> items{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    EXPECT_EQ(pool.map_async(sqr, items).get(), serial_sqr(10));
  });
}

TEST(pool, apply_async_with_capture_less_lambda) {
  with_pool([](mpipool::pool& pool) {
    auto sum = pool.apply_async([](int a, int b) { return a + b; }, 2, 3);
    EXPECT_EQ(sum.get(), 5);
    EXPECT_TRUE(sum.ready());
    EXPECT_TRUE(sum.successful());
  });
}

// test_empty_iterable
TEST(pool, empty_input_gives_empty_result_for_every_method) {
  with_pool([](mpipool::pool& pool) {
    const std::vector<int> none;
    const std::vector<std::tuple<int, int>> no_pairs;
    EXPECT_TRUE(pool.map(sqr, none).empty());
    EXPECT_TRUE(pool.map(sqr, none, 1).empty());
    EXPECT_TRUE(pool.starmap(mul, no_pairs).empty());
    auto map_result = pool.map_async(sqr, none);
    EXPECT_TRUE(map_result.get().empty());
    EXPECT_TRUE(map_result.ready());
    EXPECT_TRUE(map_result.successful());
    auto starmap_result = pool.starmap_async(mul, no_pairs);
    EXPECT_TRUE(starmap_result.get().empty());
    EXPECT_TRUE(starmap_result.ready());
  });
}

// test_async_timeout
TEST(pool, get_with_timeout_throws_timeout_error_while_not_ready) {
  with_pool([](mpipool::pool& pool) {
    mpipool_test::gate gate("timeout");
    auto held = pool.apply_async(
        [](std::string path) {
          mpipool_test::gate::wait(path);
          return 6 * 6;
        },
        gate.path());
    EXPECT_THROW((void)held.get(std::chrono::milliseconds(50)), mpipool::timeout_error);
    EXPECT_FALSE(held.wait(std::chrono::milliseconds(1)));
    EXPECT_FALSE(held.ready());
    EXPECT_THROW((void)held.successful(), std::logic_error);
    gate.open();
    EXPECT_EQ(held.get(std::chrono::seconds(60)), 36);
    EXPECT_TRUE(held.successful());
  });
}

TEST(pool, chunksize_below_one_is_rejected_for_every_method) {
  with_pool([](mpipool::pool& pool) {
    const std::vector<int> items{1, 2, 3};
    const auto tuples = zip_down(3);
    EXPECT_THROW((void)pool.map(sqr, items, 0), std::invalid_argument);
    EXPECT_THROW((void)pool.map(sqr, items, -1), std::invalid_argument);
    EXPECT_THROW((void)pool.map_async(sqr, items, 0), std::invalid_argument);
    EXPECT_THROW((void)pool.starmap(mul, tuples, 0), std::invalid_argument);
    EXPECT_THROW((void)pool.starmap_async(mul, tuples, 0), std::invalid_argument);
    EXPECT_EQ(pool.map(sqr, items, 1), (std::vector<int>{1, 4, 9}));  // still usable
  });
}

TEST(pool, chunksize_larger_than_input_is_one_chunk) {
  with_pool([](mpipool::pool& pool) { EXPECT_EQ(pool.map(sqr, std::views::iota(0, 7), 1000), serial_sqr(7)); });
}

TEST(pool, async_work_progresses_while_the_caller_computes) {
  with_pool([](mpipool::pool& pool) {
    auto result = pool.map_async(sqr, std::views::iota(0, 2000), 10);
    // Never calls get(): the result must become ready by the background thread alone.
    while (!result.ready()) std::this_thread::yield();
    EXPECT_EQ(result.get(), serial_sqr(2000));
  });
}

TEST(pool, several_async_calls_in_flight_complete_independently) {
  with_pool([](mpipool::pool& pool) {
    std::vector<mpipool::async_result<int>> singles;
    for (int i = 0; i < 50; ++i) singles.push_back(pool.apply_async(sqr, i));
    auto whole = pool.map_async(sqr, std::views::iota(0, 300), 7);
    for (int i = 0; i < 50; ++i) EXPECT_EQ(singles[static_cast<std::size_t>(i)].get(), i * i);
    EXPECT_EQ(whole.get(), serial_sqr(300));
  });
}

namespace {
struct sample {
  std::string name;
  std::vector<double> values;
  std::map<std::string, int> tags;
  bool operator==(const sample&) const = default;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & name & values & tags;
  }
};
}  // namespace

TEST(pool, values_of_every_kind_travel_both_ways) {
  with_pool([](mpipool::pool& pool) {
    EXPECT_EQ(pool.apply([](std::string s) { return s + "!"; }, std::string("hi")), "hi!");
    EXPECT_EQ(pool.apply([](std::vector<int> v) { return std::vector<int>(v.rbegin(), v.rend()); },
                         std::vector<int>{1, 2, 3}),
              (std::vector<int>{3, 2, 1}));
    using counts = std::map<std::string, int>;
    EXPECT_EQ(pool.apply([](counts m) { m["added"] = 1; return m; }, counts{{"a", 2}}),
              (counts{{"a", 2}, {"added", 1}}));
    EXPECT_EQ(pool.apply([](std::tuple<int, std::string> t) {
                return std::make_tuple(std::get<1>(t), std::get<0>(t) * 2);
              }, std::make_tuple(21, std::string("x"))),
              std::make_tuple(std::string("x"), 42));
    const sample in{"s", {1.5, 2.5}, {{"k", 1}}};
    const sample out = pool.apply([](sample s) { s.values.push_back(3.5); s.name += "'"; return s; }, in);
    EXPECT_EQ(out, (sample{"s'", {1.5, 2.5, 3.5}, {{"k", 1}}}));
    const std::vector<sample> many(20, in);
    const auto names = pool.map([](const sample& s) { return s.name + std::to_string(s.values.size()); }, many);
    EXPECT_EQ(names, std::vector<std::string>(20, "s2"));
  });
}

namespace {
enum class suit : std::uint8_t { clubs, hearts, spades };
struct particle {  // no serialize(): it travels as its bytes, having opted in
  double x = 0, y = 0;
  float mass = 0;
  bool operator==(const particle&) const = default;
};
}  // namespace
template <>
struct mpipool::bitwise_serializable<particle> : std::true_type {};

TEST(pool, bitwise_values_travel_both_ways) {
  with_pool([](mpipool::pool& pool) {
    std::vector<std::array<int, 3>> triples;
    std::vector<std::pair<long, double>> expected_sums;
    for (int i = 0; i < 50; ++i) {
      triples.push_back({i, i + 1, -i});
      expected_sums.emplace_back(i + 1, i * 0.5);
    }
    auto sum = [](std::array<int, 3> t) { return std::pair<long, double>(t[0] + t[1] + t[2], t[0] * 0.5); };
    EXPECT_EQ(pool.map(sum, triples, 7), expected_sums);
    EXPECT_EQ(pool.map(sum, triples), expected_sums);
    std::vector<std::pair<long, double>> streamed;
    for (auto s : pool.imap(sum, triples, 3)) streamed.push_back(s);
    EXPECT_EQ(streamed, expected_sums);

    const std::vector<std::vector<double>> blocks{{1.5, 2.5}, {}, std::vector<double>(1000, 0.25)};
    const auto reversed = pool.map([](std::vector<double> v) { return std::vector<double>(v.rbegin(), v.rend()); },
                                   blocks, 1);
    EXPECT_EQ(reversed, (std::vector<std::vector<double>>{{2.5, 1.5}, {}, std::vector<double>(1000, 0.25)}));

    const std::vector<particle> particles{{1, 2, 3}, {4, 5, 6}};
    const auto moved = pool.map([](particle p) { p.x += 1; p.mass *= 2; return p; }, particles);
    EXPECT_EQ(moved, (std::vector<particle>{{2, 2, 6}, {5, 5, 12}}));

    const std::vector<std::tuple<int, double, suit>> cards{{1, 0.5, suit::hearts}, {2, 1.5, suit::spades}};
    const auto swapped = pool.starmap([](int n, double w, suit s) { return std::make_tuple(s, n * w); }, cards);
    EXPECT_EQ(swapped, (std::vector<std::tuple<suit, double>>{{suit::hearts, 0.5}, {suit::spades, 3.0}}));

    EXPECT_EQ(pool.apply([] { return 42; }), 42);  // no arguments at all
    EXPECT_EQ(pool.apply([](bool b, char c) { return b ? c : '-'; }, true, 'x'), 'x');
  });
}

TEST(pool, large_results_arrive_intact) {
  with_pool([](mpipool::pool& pool) {
    const auto blocks = pool.map([](int n) { return std::vector<double>(static_cast<std::size_t>(n), n * 0.5); },
                                 std::vector<int>{1 << 20, 3, 1 << 18}, 1);
    ASSERT_EQ(blocks.size(), 3u);
    EXPECT_EQ(blocks[0].size(), std::size_t{1} << 20);
    EXPECT_EQ(blocks[0].back(), (1 << 20) * 0.5);
    EXPECT_EQ(blocks[1], (std::vector<double>{1.5, 1.5, 1.5}));
    EXPECT_EQ(blocks[2].size(), std::size_t{1} << 18);
  });
}

namespace {
std::atomic<int> touched{0};
void touch(int n) { touched += n; }
}  // namespace
MPIPOOL_REGISTER(touch);

TEST(pool, tasks_that_return_nothing) {
  with_pool([](mpipool::pool& pool) {
    pool.apply(touch, 1);
    pool.map(touch, std::vector<int>{1, 2, 3});
    auto done = pool.map_async(touch, std::vector<int>{4});
    done.get();
    EXPECT_TRUE(done.successful());
  });
}

namespace {
// A function object with state: shipped once per call and per worker, not once per item.
std::map<int, int> loads_by_token;  // per process: how often each call's state was loaded
struct scaled {
  int factor = 1;
  int token = 0;
  int operator()(int x) const { return x * factor * 1000 + loads_by_token[token]; }
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & factor & token;
    if constexpr (Archive::is_loading::value) ++loads_by_token[token];
  }
};
}  // namespace

TEST(pool, function_object_state_is_shipped_once_per_call_not_per_item) {
  with_pool([](mpipool::pool& pool) {
    for (int token = 1; token <= 2; ++token) {
      const auto out = pool.map(scaled{3, token}, std::views::iota(0, 200), 5);
      ASSERT_EQ(out.size(), 200u);
      for (int i = 0; i < 200; ++i) {
        EXPECT_EQ(out[static_cast<std::size_t>(i)] / 1000, 3 * i);
        EXPECT_EQ(out[static_cast<std::size_t>(i)] % 1000, 1) << "item " << i << " saw the state loaded more than once";
      }
    }
  });
}

// Tasks of nanoseconds at chunksize 1 go many chunks to a message (bundles, see
// dispatch_policy): every result still comes back once and in order, a call's state still
// travels once per worker, and the chunks behind the first in a bundle, which carry no task,
// run the right one.
TEST(pool, tiny_tasks_at_chunksize_one_keep_every_result_and_the_state_loaded_once) {
  with_pool([](mpipool::pool& pool) {
    const int n = 3000;  // bundles from the first chunks on, and quick in isolated mode too
    EXPECT_EQ(pool.map(sqr, std::views::iota(0, n), 1), serial_sqr(n));
    std::vector<int> unordered;
    for (int v : pool.imap_unordered(sqr, std::views::iota(0, n), 1)) unordered.push_back(v);
    std::sort(unordered.begin(), unordered.end());
    EXPECT_EQ(unordered, serial_sqr(n));
    // Two calls with tasks of different state, the second while the first's chunks may still
    // be in flight: each chunk runs its own call's task.
    auto first = pool.map_async(scaled{3, 3}, std::views::iota(0, n), 1);
    const std::vector<int> second = pool.map(scaled{5, 4}, std::views::iota(0, n), 1);
    const std::vector<int> first_out = first.get();
    for (int i = 0; i < n; ++i) {
      ASSERT_EQ(first_out[static_cast<std::size_t>(i)] / 1000, 3 * i) << "item " << i;
      ASSERT_EQ(second[static_cast<std::size_t>(i)] / 1000, 5 * i) << "item " << i;
      ASSERT_EQ(first_out[static_cast<std::size_t>(i)] % 1000, 1) << "item " << i << " saw the state loaded again";
      ASSERT_EQ(second[static_cast<std::size_t>(i)] % 1000, 1) << "item " << i << " saw the state loaded again";
    }
  });
}

TEST(pool, says_whether_its_tasks_run_isolated_and_whether_it_shows_progress) {
  // The environment may ask for either (the suite's isolated runs set MPIPOOL_ISOLATED=1).
  const bool isolated_by_environment = std::getenv("MPIPOOL_ISOLATED") && std::string(std::getenv("MPIPOOL_ISOLATED")) == "1";
  const char* progress_env = std::getenv("MPIPOOL_PROGRESS");
  const bool progress_by_environment = progress_env && *progress_env && std::string(progress_env) != "0";
  with_pool([&](mpipool::pool& pool) {
    EXPECT_EQ(pool.isolated(), isolated_by_environment);
    EXPECT_EQ(pool.shows_progress(), progress_by_environment);
  });
  // A task timeout needs a helper process to kill: it makes the pool isolated.
  with_pool([](mpipool::pool& pool) { EXPECT_TRUE(pool.isolated()); },
            mpipool::pool_options{.task_timeout = std::chrono::seconds(30)});
  with_pool([](mpipool::pool& pool) { EXPECT_TRUE(pool.shows_progress()); }, mpipool::pool_options{.progress = true});
}
