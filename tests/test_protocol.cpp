// Framing of chunk and results messages, and the per-item outcomes, without MPI.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "mpipool/detail/protocol.hpp"
#include "mpipool/serialization.hpp"

using namespace mpipool::detail;

TEST(protocol, chunk_message_round_trips_key_state_forget_list_and_items) {
  byte_buffer message;
  const std::string key = "task-key";
  const std::vector<char> state{'s', 't'};
  const std::vector<std::uint64_t> forget{4, 9};
  begin_chunk(message, {7, {}, static_cast<std::uint32_t>(key.size()), 2, 2}, key, state, forget);
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

TEST(protocol, results_message_carries_host_and_mixed_outcomes) {
  byte_buffer message;
  begin_results(message, {3, {10, 0}, 4}, "node");
  {
    writer out(message);
    write_success(out, 2.5);
    write_failure(out, {"std::range_error", "too big"});
  }
  set_results_count(message, 2);

  const results_view results = read_results(message);
  EXPECT_EQ(results.header.job, 3u);
  EXPECT_EQ(results.header.items.first, 10u);
  EXPECT_EQ(results.header.items.count, 2u);
  EXPECT_EQ(results.host, "node");
  reader in(results.outcomes);
  EXPECT_TRUE(in.read<bool>());
  EXPECT_EQ(in.read<double>(), 2.5);
  EXPECT_FALSE(in.read<bool>());
  const item_error error = read_failure(in);
  EXPECT_EQ(error.type_name, "std::range_error");
  EXPECT_EQ(error.message, "too big");
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
