// Chunking arithmetic, without MPI.
#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "mpipool/detail/scheduler.hpp"

using mpipool::detail::chunk_plan;
using mpipool::detail::missing_runs;
using mpipool::detail::run_plan;
using mpipool::detail::default_chunksize;
using mpipool::detail::plan_chunks;
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

namespace {
std::vector<std::size_t> sizes_of(chunk_plan plan, std::size_t items) {
  std::vector<std::size_t> sizes;
  std::size_t next = 0;
  while (!plan.exhausted()) {
    auto [first, count] = plan.take();
    EXPECT_EQ(first, next);  // consecutive, no gaps, no overlaps
    next += count;
    sizes.push_back(count);
  }
  EXPECT_EQ(next, items);
  return sizes;
}
}  // namespace

TEST(adaptive_chunk_plan, starts_with_pythons_chunks_and_shrinks_to_single_items) {
  // 2000 items, 2 workers: Python's 250 while half the rest over the workers is larger, then
  // batches of two chunks that halve.
  const std::vector<std::size_t> expected{250, 250, 250, 250, 250, 250, 125, 125, 63, 63, 31, 31,
                                          16, 16, 8, 8, 4, 4, 2, 2, 1, 1};
  EXPECT_EQ(sizes_of(chunk_plan::adaptive(2000, 2), 2000), expected);
  EXPECT_EQ(chunk_plan::adaptive(2000, 2).chunk_count(), expected.size());
}

TEST(adaptive_chunk_plan, caps_chunks_of_long_inputs) {
  // 10^6 items on 2 workers: Python's default would be 125 000 per chunk.
  const auto sizes = sizes_of(chunk_plan::adaptive(1'000'000, 2), 1'000'000);
  EXPECT_EQ(sizes.front(), chunk_plan::largest_adaptive_chunk);
  EXPECT_EQ(*std::max_element(sizes.begin(), sizes.end()), chunk_plan::largest_adaptive_chunk);
  EXPECT_EQ(sizes.back(), 1u);
  EXPECT_EQ(std::accumulate(sizes.begin(), sizes.end(), std::size_t{0}), 1'000'000u);
}

TEST(adaptive_chunk_plan, covers_every_item_once_for_any_size_and_worker_count) {
  for (std::size_t items : {0u, 1u, 2u, 3u, 7u, 100u, 1001u, 65537u}) {
    for (std::size_t workers : {1u, 2u, 3u, 16u}) {
      const auto sizes = sizes_of(chunk_plan::adaptive(items, workers), items);
      for (std::size_t size : sizes) {
        EXPECT_GE(size, 1u);
        EXPECT_LE(size, default_chunksize(items, workers));
      }
      if (!sizes.empty()) {
        EXPECT_EQ(sizes.back(), 1u) << items << " items, " << workers << " workers";
      }
    }
  }
}

TEST(plan_chunks, honours_an_explicit_chunksize_exactly_and_adapts_without_one) {
  EXPECT_EQ(sizes_of(plan_chunks(300, 1000, 4), 1000), (std::vector<std::size_t>{300, 300, 300, 100}));
  EXPECT_EQ(plan_chunks({}, 1000, 4).chunk_count(), chunk_plan::adaptive(1000, 4).chunk_count());
  EXPECT_THROW(plan_chunks(0, 10, 2), std::invalid_argument);
}

TEST(missing_runs, are_the_gaps_between_the_done_items) {
  using runs = std::vector<run_plan::run>;
  EXPECT_EQ(missing_runs(10, {}), (runs{{0, 10}}));
  EXPECT_EQ(missing_runs(10, {0, 1, 5, 9}), (runs{{2, 3}, {6, 3}}));
  EXPECT_EQ(missing_runs(3, {0, 1, 2}), runs{});
}

TEST(run_plan, cuts_a_chunk_that_spans_a_gap_into_one_piece_per_run) {
  // Items 3..6 are done: 8 missing items in chunks of 3.
  run_plan plan(chunk_plan(8, 3), missing_runs(12, {3, 4, 5, 6}));
  std::vector<std::pair<std::size_t, std::size_t>> chunks;
  while (!plan.exhausted()) chunks.push_back(plan.take());
  const std::vector<std::pair<std::size_t, std::size_t>> expected{{0, 3}, {7, 3}, {10, 2}};
  EXPECT_EQ(chunks, expected);

  run_plan gappy(chunk_plan(5, 5), missing_runs(9, {1, 3, 5, 7}));
  chunks.clear();
  while (!gappy.exhausted()) chunks.push_back(gappy.take());
  const std::vector<std::pair<std::size_t, std::size_t>> singles{{0, 1}, {2, 1}, {4, 1}, {6, 1}, {8, 1}};
  EXPECT_EQ(chunks, singles);
}

TEST(run_plan, of_a_whole_input_is_the_chunk_plan) {
  run_plan plan(chunk_plan::adaptive(2000, 2), 2000);
  chunk_plan same = chunk_plan::adaptive(2000, 2);
  while (!same.exhausted()) EXPECT_EQ(plan.take(), same.take());
  EXPECT_TRUE(plan.exhausted());
}
