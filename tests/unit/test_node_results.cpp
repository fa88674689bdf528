// A stocking sub-master's node-chunk results (src/worker/node_results.hpp), without MPI: the
// pieces' results that one worker ran go up put together, others as they are, and the section
// with a node-chunk's last piece closes it (more_parts 0), the others saying how many pieces
// they hold.
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mpipool/detail/outcomes.hpp"
#include "mpipool/detail/protocol.hpp"
#include "worker/node_results.hpp"

using namespace mpipool::detail;

namespace {

constexpr std::uint64_t job = 7;

// The results of items [first, first + values.size()) of `job`, as `worker` sends them: int
// values as a fixed_run (a lone value as a fixed_success, as a worker leaves one).
byte_buffer ints(std::uint64_t first, const std::vector<std::int32_t>& values, int worker, std::uint64_t run_ns = 10) {
  results_header header;
  header.job = job;
  header.items = {first, static_cast<std::uint32_t>(values.size())};
  header.worker_rank = worker;
  header.run_ns = run_ns;
  byte_buffer out;
  begin_results(out, header, {});
  const char status = static_cast<char>(values.size() == 1 ? outcome_status::fixed_success : outcome_status::fixed_run);
  out.push_back(status);
  out.push_back(static_cast<char>(sizeof(std::int32_t)));
  const std::size_t at = out.size();
  out.resize(at + values.size() * sizeof(std::int32_t));
  std::memcpy(out.data() + at, values.data(), values.size() * sizeof(std::int32_t));
  return out;
}

// A piece that failed: not values, so it goes up as it is.
byte_buffer failure(std::uint64_t first, int worker) {
  results_header header;
  header.job = job;
  header.items = {first, 1};
  header.worker_rank = worker;
  byte_buffer out;
  begin_results(out, header, {});
  outcome_writer(out).failure(item_error{"std::domain_error", "five", 0});
  return out;
}

struct sent {
  results_header header;
  std::vector<std::int32_t> values;  // of a fixed_run
};

class node_results_test : public testing::Test {
 protected:
  node_results results{[this](std::span<const char> section) {
    const results_view view = read_results(section);
    sent s{view.header, {}};
    const auto values = whole_fixed_run(view.outcomes, view.header.items.count, sizeof(std::int32_t));
    if (values) {
      s.values.resize(view.header.items.count);
      std::memcpy(s.values.data(), values->data(), values->size());
    }
    up.push_back(s);
  }};
  std::vector<sent> up;
};

}  // namespace

TEST_F(node_results_test, a_workers_consecutive_pieces_go_up_as_one_section_the_last_closing_the_node_chunk) {
  results.cut(job, {100, 6}, 4);  // pieces of 1, 1, 2 and 2 items
  EXPECT_TRUE(results.take(ints(100, {0}, 3, 10)));
  EXPECT_TRUE(results.take(ints(101, {1}, 3, 20)));
  EXPECT_TRUE(results.take(ints(102, {2, 3}, 3, 30)));
  EXPECT_TRUE(up.empty()) << "put together until flushed";
  results.flush();
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(up[0].header.items.first, 100u);
  EXPECT_EQ(up[0].header.items.count, 4u);
  EXPECT_EQ(up[0].values, (std::vector<std::int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(up[0].header.more_parts, 3u);  // three of its four pieces
  EXPECT_EQ(up[0].header.worker_rank, 3);
  EXPECT_EQ(up[0].header.run_ns, 20u);  // a piece's, on average
  EXPECT_TRUE(results.take(ints(104, {4, 5}, 2)));
  results.flush();
  ASSERT_EQ(up.size(), 2u);
  EXPECT_EQ(up[1].header.more_parts, 0u);  // the last: it closes the node-chunk
  EXPECT_EQ(up[1].values, (std::vector<std::int32_t>{4, 5}));
  // Closed: the same items are no longer of a node-chunk.
  EXPECT_FALSE(results.take(ints(104, {4, 5}, 2)));
}

TEST_F(node_results_test, pieces_of_other_workers_or_not_consecutive_or_not_values_go_up_apart) {
  results.cut(job, {0, 5}, 5);
  results.take(ints(0, {10}, 1));
  results.take(ints(2, {12}, 1));  // not where the last ended
  results.take(ints(3, {13}, 2));  // another worker
  results.take(failure(1, 1));     // a failure: as it is
  results.take(ints(4, {14}, 2));  // after the failure: a section of its own
  ASSERT_EQ(up.size(), 4u);
  EXPECT_EQ(up[0].values, (std::vector<std::int32_t>{10}));
  EXPECT_EQ(up[1].values, (std::vector<std::int32_t>{12}));
  EXPECT_EQ(up[2].values, (std::vector<std::int32_t>{13}));
  EXPECT_EQ(up[2].header.worker_rank, 2);
  EXPECT_TRUE(up[3].values.empty());  // the failure, its outcome untouched
  EXPECT_EQ(up[3].header.items.first, 1u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(up[i].header.more_parts, 1u);
  results.flush();
  ASSERT_EQ(up.size(), 5u);
  EXPECT_EQ(up[4].values, (std::vector<std::int32_t>{14}));
  EXPECT_EQ(up[4].header.more_parts, 0u);
}

TEST_F(node_results_test, a_piece_cut_short_counts_as_a_piece_and_results_of_no_node_chunk_are_left_alone) {
  results.cut(job, {50, 4}, 2);
  EXPECT_FALSE(results.take(ints(49, {0}, 1)));  // before it
  EXPECT_FALSE(results.take(ints(54, {0}, 1)));  // after it
  results.take(ints(50, {1}, 1));                // the first piece of two items: one came back
  byte_buffer cut_short;
  begin_results(cut_short, {job, {52, 0}, 0}, {});
  results.take(cut_short);  // the second piece, cut short before it started
  results.flush();
  ASSERT_EQ(up.size(), 2u);
  EXPECT_EQ(up[0].header.more_parts, 1u);
  EXPECT_EQ(up[1].header.items.count, 0u);
  EXPECT_EQ(up[1].header.more_parts, 0u);
}

TEST_F(node_results_test, more_results_than_pieces_is_a_protocol_error) {
  results.cut(job, {0, 2}, 1);
  results.take(ints(0, {1}, 1));
  results.take(ints(1, {2}, 2));  // a second piece of a node-chunk of one
  EXPECT_THROW(results.flush(), std::runtime_error);
}

TEST_F(node_results_test, a_section_put_together_stops_growing_at_its_bound) {
  // Two pieces' values and a header fit, not three.
  const std::size_t each = (node_results::most_bytes_together - sizeof(results_header) - 2) / sizeof(std::int32_t) / 2;
  results.cut(job, {0, static_cast<std::uint32_t>(3 * each)}, 3);
  for (std::size_t p = 0; p < 3; ++p)
    results.take(ints(p * each, std::vector<std::int32_t>(each, static_cast<std::int32_t>(p)), 1));
  results.flush();
  ASSERT_EQ(up.size(), 2u);
  EXPECT_EQ(up[0].header.items.count, 2 * each);
  EXPECT_EQ(up[0].header.more_parts, 2u);
  EXPECT_EQ(up[1].header.items.count, each);
  EXPECT_EQ(up[1].header.more_parts, 0u);
}
