// Values over MPI's 2 GiB limit for one message, both ways, at the default part limit (1 GiB,
// so three parts): a 2.25 GiB argument (moved in, never copied on the caller's side) and a
// 2.25 GiB result. Registered on its own, serially and labelled `big`: the job needs about 8 GiB
// at its peak, and beside it the suites of round trips run 10-40x slower (its ranks keep the
// cores busy, most of it the kernel zeroing pages).
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "messages.hpp"
#include "support.hpp"

using mpipool_test::with_pool;

namespace {

constexpr std::size_t big = std::size_t{9} << 28;  // 2.25 GiB

}  // namespace

TEST(big_messages, an_argument_over_2_gib_reaches_the_worker_intact) {
  with_pool([](mpipool::pool& pool) {
    std::string value = mpipool_test::patterned(big, 7);
    const std::uint64_t expected = mpipool_test::checksum(value);
    const auto measure = [](const std::string& v) { return std::make_pair(v.size(), mpipool_test::checksum(v)); };
    const auto [size, sum] = pool.apply(measure, std::move(value));
    EXPECT_EQ(size, big);
    EXPECT_EQ(sum, expected);
  });
}

TEST(big_messages, a_result_over_2_gib_reaches_the_master_intact) {
  with_pool([](mpipool::pool& pool) {
    const auto make = [](std::size_t size, unsigned seed) { return mpipool_test::patterned(size, seed); };
    const std::string value = pool.apply(make, big, 11u);
    EXPECT_EQ(value.size(), big);
    EXPECT_TRUE(mpipool_test::is_patterned(value, big, 11));
  });
}
