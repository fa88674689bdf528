// Chunking arithmetic, without MPI.
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "mpipool/detail/scheduler.hpp"

using mpipool::detail::chunk_plan;
using mpipool::detail::default_chunksize;
using mpipool::detail::resolve_chunksize;

TEST(default_chunksize, is_pythons_ceil_of_items_over_four_per_worker) {
  // Python: chunksize, extra = divmod(n, 4 * workers); chunksize += bool(extra)
  EXPECT_EQ(default_chunksize(1000, 4), 63u);   // 1000 / 16 = 62.5
  EXPECT_EQ(default_chunksize(1600, 4), 100u);  // exact
  EXPECT_EQ(default_chunksize(10, 4), 1u);
  EXPECT_EQ(default_chunksize(100, 1), 25u);
  EXPECT_EQ(default_chunksize(101, 1), 26u);
  EXPECT_EQ(default_chunksize(1, 16), 1u);
}

TEST(default_chunksize, counts_no_workers_as_one) { EXPECT_EQ(default_chunksize(100, 0), 25u); }

TEST(resolve_chunksize, honours_an_explicit_chunksize) {
  EXPECT_EQ(resolve_chunksize(20, 100, 4), 20u);
  EXPECT_EQ(resolve_chunksize(1, 100, 4), 1u);
  EXPECT_EQ(resolve_chunksize(500, 100, 4), 500u);
}

TEST(resolve_chunksize, defaults_to_pythons_rule) { EXPECT_EQ(resolve_chunksize({}, 1000, 4), 63u); }

TEST(resolve_chunksize, rejects_chunksizes_below_one_with_the_value) {
  EXPECT_THROW(resolve_chunksize(0, 10, 2), std::invalid_argument);
  try {
    resolve_chunksize(-3, 10, 2);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "mpipool: chunksize must be at least 1, got -3");
  }
}

TEST(chunk_plan, cuts_items_into_consecutive_chunks_with_a_short_last_one) {
  chunk_plan plan(10, 4);
  EXPECT_EQ(plan.chunk_count(), 3u);
  std::vector<std::pair<std::size_t, std::size_t>> chunks;
  while (!plan.exhausted()) chunks.push_back(plan.take());
  const std::vector<std::pair<std::size_t, std::size_t>> expected{{0, 4}, {4, 4}, {8, 2}};
  EXPECT_EQ(chunks, expected);
}

TEST(chunk_plan, of_nothing_is_exhausted_at_once) {
  chunk_plan plan(0, 3);
  EXPECT_TRUE(plan.exhausted());
  EXPECT_EQ(plan.chunk_count(), 0u);
}

TEST(chunk_plan, covers_one_hundred_items_in_five_chunks_of_twenty) {
  chunk_plan plan(100, 20);
  std::size_t covered = 0;
  int chunks = 0;
  while (!plan.exhausted()) {
    auto [first, count] = plan.take();
    EXPECT_EQ(first, covered);
    EXPECT_EQ(count, 20u);
    covered += count;
    ++chunks;
  }
  EXPECT_EQ(covered, 100u);
  EXPECT_EQ(chunks, 5);
}
