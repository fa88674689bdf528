// Messages larger than one MPI message, both ways: with the part limit lowered to a few KiB on
// every rank, arguments and results of up to 1 MiB go in many parts, and values whose messages
// fall just around multiples of the limit (and empty values) round-trip exactly. Each test runs
// at 1, 2, 3 and 5 ranks.
#include <algorithm>
#include <cstddef>
#include <ranges>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "wire/transport.hpp"

#include "messages.hpp"
#include "support.hpp"

using mpipool_test::is_patterned;
using mpipool_test::patterned;
using mpipool_test::with_pool;

namespace {

constexpr std::size_t part_limit = 4096;
constexpr std::size_t mebibyte = std::size_t{1} << 20;

// Lowers the part limit on this rank for one test; every rank makes one, before the pool.
class small_parts {
 public:
  small_parts() : before_(mpipool::detail::message_part_limit()) {
    mpipool::detail::set_message_part_limit(part_limit);
  }
  ~small_parts() { mpipool::detail::set_message_part_limit(before_); }
  small_parts(const small_parts&) = delete;
  small_parts& operator=(const small_parts&) = delete;

 private:
  std::size_t before_;
};

// The task: the argument reversed, so that the result depends on every byte that arrived.
std::string reversed(std::string value) {
  std::reverse(value.begin(), value.end());
  return value;
}

std::string expected_reversed(std::size_t size, unsigned seed) { return reversed(patterned(size, seed)); }

// Value sizes from `below` under to `above` over each of the first multiples of the limit, so
// that chunk and results messages (a few dozen bytes more than their values) hit each
// boundary exactly.
std::vector<std::size_t> sizes_around_part_boundaries(std::size_t below, std::size_t above) {
  std::vector<std::size_t> sizes;
  for (std::size_t multiple = 1; multiple <= 2; ++multiple)
    for (std::size_t size = multiple * part_limit - below; size <= multiple * part_limit + above; ++size)
      sizes.push_back(size);
  return sizes;
}

}  // namespace

TEST(messages, apply_round_trips_values_of_any_size) {
  small_parts parts;
  with_pool([](mpipool::pool& pool) {
    const auto reverse = [](std::string value) { return reversed(std::move(value)); };
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, part_limit - 1, part_limit, part_limit + 1,
                             3 * part_limit, mebibyte, mebibyte + 1}) {
      const unsigned seed = static_cast<unsigned>(size);
      EXPECT_EQ(pool.apply(reverse, patterned(size, seed)), expected_reversed(size, seed)) << size << " bytes";
    }
  });
}

TEST(messages, map_round_trips_messages_just_around_multiples_of_the_part_limit) {
  small_parts parts;
  with_pool([](mpipool::pool& pool) {
    const auto reverse = [](std::string value) { return reversed(std::move(value)); };
    const std::vector<std::size_t> sizes = sizes_around_part_boundaries(160, 40);
    std::vector<std::string> values;
    std::vector<std::string> expected;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      values.push_back(patterned(sizes[i], static_cast<unsigned>(i)));
      expected.push_back(expected_reversed(sizes[i], static_cast<unsigned>(i)));
    }
    EXPECT_EQ(pool.map(reverse, values, 1), expected);
    EXPECT_EQ(pool.map(reverse, values, 3), expected);  // several values in one message
  });
}

TEST(messages, large_arguments_and_results_go_both_ways_with_several_in_flight) {
  small_parts parts;
  with_pool([](mpipool::pool& pool) {
    const auto reverse = [](std::string value) { return reversed(std::move(value)); };
    const std::size_t in_flight = 3 * pool.workers() + 1;
    std::vector<mpipool::async_result<std::string>> results;
    for (std::size_t i = 0; i < in_flight; ++i)
      results.push_back(pool.apply_async(reverse, patterned(mebibyte + i, static_cast<unsigned>(i))));
    for (std::size_t i = 0; i < in_flight; ++i)
      EXPECT_EQ(results[i].get(), expected_reversed(mebibyte + i, static_cast<unsigned>(i))) << "apply " << i;

    std::vector<std::string> values;
    for (unsigned i = 0; i < 6; ++i) values.push_back(patterned(mebibyte - i, i));
    const std::vector<std::string> mapped = pool.map(reverse, values, 2);
    ASSERT_EQ(mapped.size(), values.size());
    for (unsigned i = 0; i < 6; ++i) EXPECT_EQ(mapped[i], expected_reversed(mebibyte - i, i)) << "map " << i;
  });
}

TEST(messages, large_results_come_back_from_small_arguments_and_large_arguments_give_small_results) {
  small_parts parts;
  with_pool([](mpipool::pool& pool) {
    const auto make = [](std::size_t size, unsigned seed) { return patterned(size, seed); };
    const auto measure = [](const std::string& value) { return mpipool_test::checksum(value); };
    for (unsigned seed = 0; seed < 3; ++seed) {
      EXPECT_TRUE(is_patterned(pool.apply(make, mebibyte, seed), mebibyte, seed)) << seed;
      const std::string value = patterned(mebibyte, seed);
      EXPECT_EQ(pool.apply(measure, value), mpipool_test::checksum(value)) << seed;
    }
  });
}

TEST(messages, imap_streams_large_values_in_order) {
  small_parts parts;
  with_pool([](mpipool::pool& pool) {
    const auto reverse = [](std::string value) { return reversed(std::move(value)); };
    auto values = std::views::iota(0u, 8u) |
                  std::views::transform([](unsigned i) { return patterned(mebibyte / 2 + i * 977, i); });
    unsigned next = 0;
    for (const std::string& result : pool.imap(reverse, values, 2)) {
      EXPECT_EQ(result, expected_reversed(mebibyte / 2 + next * 977, next)) << next;
      ++next;
    }
    EXPECT_EQ(next, 8u);
  });
}

TEST(messages, empty_values_round_trip) {
  small_parts parts;
  with_pool([](mpipool::pool& pool) {
    const auto reverse = [](std::string value) { return reversed(std::move(value)); };
    const auto nothing = [](int) { return std::string(); };
    EXPECT_EQ(pool.apply(reverse, std::string()), "");
    EXPECT_EQ(pool.apply(nothing, 1), "");
    EXPECT_EQ(pool.map(reverse, std::vector<std::string>(7), 2), std::vector<std::string>(7));
    const std::vector<std::string> mixed{"", patterned(part_limit, 1), "", patterned(2 * part_limit + 5, 2), ""};
    std::vector<std::string> expected;
    for (const auto& v : mixed) expected.push_back(reversed(v));
    EXPECT_EQ(pool.map(reverse, mixed, 1), expected);
  });
}
