// Framing of chunk and results messages, and the per-item outcomes, without MPI.
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <boost/serialization/split_member.hpp>
#include <gtest/gtest.h>

#include "mpipool/detail/outcomes.hpp"
#include "mpipool/detail/protocol.hpp"
#include "mpipool/serialization.hpp"

using namespace mpipool::detail;

TEST(protocol, chunk_message_round_trips_key_state_forget_list_and_items) {
  byte_buffer message;
  const std::string key = "task-key";
  const std::vector<char> state{'s', 't'};
  const std::vector<std::uint64_t> forget{4, 9};
  begin_chunk(message, {7, {}, static_cast<std::uint32_t>(key.size()), 2, 2, 0}, key, state, forget);
  {
    writer items(message);
    items << std::tuple<int, std::string>(1, "one") << std::tuple<int, std::string>(2, "two");
  }
  set_chunk_items(message, {40, 2});

  const chunk_view chunk = read_chunk(message);
  EXPECT_EQ(chunk.header.job, 7u);
  EXPECT_EQ(chunk.header.items.first, 40u);
  EXPECT_EQ(chunk.header.items.count, 2u);
  EXPECT_EQ(chunk.key, key);
  EXPECT_EQ(std::vector<char>(chunk.state.begin(), chunk.state.end()), state);
  EXPECT_EQ(chunk.forget, forget);
  reader items(chunk.items);
  EXPECT_EQ((items.read<std::tuple<int, std::string>>()), std::make_tuple(1, std::string("one")));
  EXPECT_EQ((items.read<std::tuple<int, std::string>>()), std::make_tuple(2, std::string("two")));
}

// A bundle: several chunks in one message, each with its size, read back one section at a
// time; a message of one chunk is one section, whatever its size field says (0).
TEST(protocol, a_bundle_of_chunks_is_read_back_section_by_section) {
  byte_buffer message;
  const std::string key = "k";
  begin_chunk(message, {5, {}, 1, 0, 0, 0}, key, {}, {});
  {
    writer items(message);
    items << std::tuple<int>(10);
  }
  set_chunk_items(message, {0, 1});
  set_section_size<chunk_header>(message, 0);
  const std::size_t second = message.size();
  append_chunk(message, {5, {}, 0, 0, 0, 0}, {}, {}, {});
  {
    writer items(message);
    items << std::tuple<int>(11) << std::tuple<int>(12);
  }
  set_chunk_items(message, {1, 2}, second);
  set_section_size<chunk_header>(message, second);

  std::span<const char> rest = message;
  const chunk_view first = read_chunk(take_section<chunk_header>(rest));
  const chunk_view next = read_chunk(take_section<chunk_header>(rest));
  EXPECT_TRUE(rest.empty());
  EXPECT_EQ(first.key, key);
  EXPECT_EQ(first.header.items.first, 0u);
  EXPECT_EQ(reader(first.items).read<std::tuple<int>>(), std::make_tuple(10));
  EXPECT_TRUE(next.key.empty());
  EXPECT_EQ(next.header.items.first, 1u);
  EXPECT_EQ(next.header.items.count, 2u);
  reader items(next.items);
  EXPECT_EQ(items.read<std::tuple<int>>(), std::make_tuple(11));
  EXPECT_EQ(items.read<std::tuple<int>>(), std::make_tuple(12));

  byte_buffer alone;
  begin_results(alone, {5, {0, 0}, 0}, "");
  std::span<const char> whole = alone;
  EXPECT_EQ(take_section<results_header>(whole).size(), alone.size());
  EXPECT_TRUE(whole.empty());
}

// A node-chunk to a stocking sub-master: the caller's chunks of fixed-size items as one, their
// item counts after the items, so that the sub-master can cut it apart by count.
TEST(protocol, a_node_chunk_carries_its_pieces_item_counts_after_its_items) {
  byte_buffer message;
  begin_chunk(message, {9, {}, 0, 0, 0, 0}, {}, {}, {});
  const std::vector<std::int32_t> values{1, 2, 3, 4, 5, 6, 7};
  const std::size_t items_at = message.size();
  message.resize(items_at + sizeof(std::int32_t) * values.size());
  std::memcpy(message.data() + items_at, values.data(), sizeof(std::int32_t) * values.size());
  set_chunk_items(message, {20, 7});
  const std::vector<std::uint32_t> pieces{3, 3, 1};
  end_node_chunk(message, 0, pieces);

  const chunk_view chunk = read_chunk(message);
  EXPECT_EQ(chunk.header.pieces, 3u);
  EXPECT_EQ(chunk.header.items.first, 20u);
  EXPECT_EQ(chunk.header.items.count, 7u);
  ASSERT_EQ(chunk.items.size(), sizeof(std::int32_t) * values.size());
  EXPECT_EQ(std::memcmp(chunk.items.data(), values.data(), chunk.items.size()), 0);
  ASSERT_EQ(chunk.piece_counts.size(), sizeof(std::uint32_t) * pieces.size());
  std::vector<std::uint32_t> read_back(pieces.size());
  std::memcpy(read_back.data(), chunk.piece_counts.data(), chunk.piece_counts.size());
  EXPECT_EQ(read_back, pieces);

  // A piece list longer than the chunk is rejected.
  chunk_header garbled = chunk.header;
  garbled.pieces = 1000;
  std::memcpy(message.data(), &garbled, sizeof garbled);
  EXPECT_THROW(read_chunk(message), std::runtime_error);
}

TEST(protocol, a_bundle_section_that_overruns_its_message_is_rejected) {
  byte_buffer message;
  begin_results(message, {5, {0, 0}, 0}, "");
  set_section_size<results_header>(message, 0);
  message.pop_back();  // the size now says one byte more than there is
  std::span<const char> rest = message;
  EXPECT_THROW(take_section<results_header>(rest), std::runtime_error);
}

TEST(protocol, results_message_carries_host_and_mixed_outcomes) {
  byte_buffer message;
  begin_results(message, {3, {10, 0}, 4}, "node");
  {
    outcome_writer out(message);
    out.success(2.5);
    out.failure({"std::range_error", "too big"});
    out.success(4.0);
  }
  set_results_count(message, 3);

  const results_view results = read_results(message);
  EXPECT_EQ(results.header.job, 3u);
  EXPECT_EQ(results.header.items.first, 10u);
  EXPECT_EQ(results.header.items.count, 3u);
  EXPECT_EQ(results.host, "node");
  std::vector<std::string> seen;
  decode_outcomes<double>(
      results.outcomes, 3, [&](std::uint32_t i, double v) { seen.push_back(std::to_string(i) + ":" + std::to_string(v)); },
      [&](std::uint32_t i, const item_error& e) { seen.push_back(std::to_string(i) + ":" + e.type_name + ":" + e.message); });
  EXPECT_EQ(seen, (std::vector<std::string>{"0:2.500000", "1:std::range_error:too big", "2:4.000000"}));
}

// A chunk whose outcomes are all numbers of one size travels as one run: two bytes less per
// item, and the same values read back, one by one or as the whole run.
TEST(protocol, outcomes_that_are_all_fixed_values_of_one_size_are_compacted_into_one_run) {
  byte_buffer message;
  begin_results(message, {3, {10, 0}, 0}, "");
  {
    outcome_writer out(message);
    for (int v : {5, -6, 7, 8}) out.success(v);
  }
  set_results_count(message, 4);
  const std::size_t before = message.size();
  compact_fixed_outcomes(message);
  EXPECT_EQ(message.size(), before - 4 * 2 + 2);
  const results_view results = read_results(message);
  EXPECT_EQ(results.header.items.count, 4u);
  std::vector<int> seen;
  decode_outcomes<int>(results.outcomes, 4, [&](std::uint32_t, int v) { seen.push_back(v); },
                       [&](std::uint32_t, const item_error& e) { ADD_FAILURE() << e.message; });
  EXPECT_EQ(seen, (std::vector<int>{5, -6, 7, 8}));
  // Through next() as well: what a journal or a stream reads.
  outcome_reader in(results.outcomes);
  in.next();
  EXPECT_TRUE(in.succeeded());
  EXPECT_EQ(in.value<int>(), 5);
  in.next();
  EXPECT_EQ(in.value<int>(), -6);
  const auto run = whole_fixed_run(results.outcomes, 4, sizeof(int));
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->size(), 4 * sizeof(int));
  EXPECT_FALSE(whole_fixed_run(results.outcomes, 3, sizeof(int)).has_value());
}

TEST(protocol, outcomes_with_a_failure_or_of_mixed_sizes_are_left_as_they_are) {
  for (int variant = 0; variant < 2; ++variant) {
    byte_buffer message;
    begin_results(message, {3, {0, 0}, 0}, "");
    {
      outcome_writer out(message);
      out.success(1);
      if (variant == 0) out.failure({"std::range_error", "too big"});
      else out.success(std::int64_t{2});
      out.success(3);
    }
    set_results_count(message, 3);
    const byte_buffer original = message;
    compact_fixed_outcomes(message);
    EXPECT_EQ(message, original);
  }
}

namespace {
// Writes part of itself, then throws, when asked to.
struct half_written {
  bool refuse = false;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & refuse;
    if (refuse) throw std::length_error("refused");
  }
};
}  // namespace

TEST(protocol, a_value_that_fails_to_serialize_fails_alone_and_the_next_starts_a_fresh_archive) {
  byte_buffer outcomes;
  {
    outcome_writer out(outcomes);
    out.success(half_written{true});  // the first to write the class's version, then dropped
    out.success(half_written{false});
    out.success(half_written{true});
    out.success(half_written{false});
  }
  std::vector<std::string> seen;
  decode_outcomes<half_written>(
      outcomes, 4, [&](std::uint32_t i, half_written) { seen.push_back(std::to_string(i)); },
      [&](std::uint32_t i, const item_error& e) { seen.push_back(std::to_string(i) + ":" + e.type_name + ":" + e.message); });
  EXPECT_EQ(seen, (std::vector<std::string>{"0:std::length_error:refused", "1", "2:std::length_error:refused", "3"}));
}

namespace {
// Reads its number, then refuses to read the rest when the number is 2.
struct loads_unless_two {
  int value = 0;
  std::string label;
  template <class Archive>
  void save(Archive& ar, unsigned) const {
    ar << value << label;
  }
  template <class Archive>
  void load(Archive& ar, unsigned) {
    ar >> value;
    if (value == 2) throw std::domain_error("cannot load 2");
    ar >> label;
  }
  BOOST_SERIALIZATION_SPLIT_MEMBER()
};
}  // namespace

TEST(protocol, arguments_that_fail_to_deserialize_are_skipped) {
  byte_buffer items;
  {
    argument_writer out(items);
    for (int i = 1; i <= 3; ++i) out.add(std::make_tuple(loads_unless_two{i, "item " + std::to_string(i)}));
  }
  argument_reader in(items);
  std::tuple<loads_unless_two> args;
  EXPECT_FALSE(in.next(args));
  EXPECT_EQ(std::get<0>(args).label, "item 1");
  const std::optional<item_error> second = in.next(args);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->type_name, "std::domain_error");
  EXPECT_EQ(second->message, "cannot load 2");
  EXPECT_FALSE(in.next(args));
  EXPECT_EQ(std::get<0>(args).label, "item 3");
}

TEST(protocol, truncated_message_is_rejected_not_misread) {
  byte_buffer message(5, 'x');
  EXPECT_THROW(read_chunk(message), std::runtime_error);
  EXPECT_THROW(read_results(message), std::runtime_error);
}

TEST(protocol, describe_names_the_exception_type_demangled) {
  const item_error std_error = describe(std::make_exception_ptr(std::out_of_range("index 9")));
  EXPECT_EQ(std_error.type_name, "std::out_of_range");
  EXPECT_EQ(std_error.message, "index 9");
  const item_error other = describe(std::make_exception_ptr(42));
  EXPECT_EQ(other.type_name, "int");
  EXPECT_EQ(other.message, "");
}
