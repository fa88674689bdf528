// Values of bitwise types travel as raw bytes, with no archive, mixed freely with archived ones
// in one chunk; the trait picks exactly the documented types; a garbled or failing value fails
// alone. No MPI.
#include <array>
#include <complex>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "mpipool/detail/outcomes.hpp"
#include "mpipool/serialization.hpp"

using namespace mpipool::detail;

namespace {

enum class colour : std::uint8_t { red, green, blue };

struct particle {  // trivially copyable, no serialize(): travels only because it opts in
  double x = 0, y = 0;
  float mass = 0;
  bool operator==(const particle&) const = default;
};

struct archived_pod {  // trivially copyable with its own serialize(), not opted in
  int a = 0;
  bool operator==(const archived_pod&) const = default;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & a;
  }
};

struct opted_in_with_serialize {  // opted in: its serialize() is never called
  int a = 0;
  bool operator==(const opted_in_with_serialize&) const = default;
  template <class Archive>
  void serialize(Archive&, unsigned) {
    throw std::logic_error("serialize() of a bitwise type was called");
  }
};

struct labelled {
  std::string label;
  std::vector<int> values;
  bool operator==(const labelled&) const = default;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & label & values;
  }
};

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

template <>
struct mpipool::bitwise_serializable<particle> : std::true_type {};
template <>
struct mpipool::bitwise_serializable<opted_in_with_serialize> : std::true_type {};

TEST(bitwise, the_trait_picks_numbers_and_their_arrays_pairs_tuples_and_vectors) {
  static_assert(is_bitwise_v<int> && is_bitwise_v<double> && is_bitwise_v<bool> && is_bitwise_v<char>);
  static_assert(is_bitwise_v<colour> && is_bitwise_v<std::complex<double>> && is_bitwise_v<const long>);
  static_assert(is_bitwise_v<std::array<int, 3>> && is_bitwise_v<std::pair<int, double>>);
  static_assert(is_bitwise_v<std::tuple<>> && is_bitwise_v<std::tuple<int, char, double>>);
  static_assert(is_bitwise_v<std::vector<double>> && is_bitwise_v<std::vector<std::array<float, 2>>>);
  static_assert(is_bitwise_v<std::vector<std::pair<int, colour>>> && is_bitwise_v<std::vector<std::vector<int>>>);
  static_assert(is_bitwise_v<std::tuple<std::vector<int>, double>> && is_bitwise_v<std::array<std::vector<int>, 2>>);
  static_assert(is_bitwise_v<particle> && is_bitwise_v<std::vector<particle>> && is_bitwise_v<opted_in_with_serialize>);

  static_assert(!is_bitwise_v<std::string> && !is_bitwise_v<std::vector<bool>> && !is_bitwise_v<std::optional<int>>);
  static_assert(!is_bitwise_v<std::tuple<int, std::string>> && !is_bitwise_v<std::map<int, int>>);
  static_assert(!is_bitwise_v<archived_pod> && !is_bitwise_v<std::vector<archived_pod>>);
  static_assert(!is_bitwise_v<std::vector<std::tuple<>>> && !is_bitwise_v<int*>);

  // An opted-in type without serialize() can travel on the bitwise path only.
  static_assert(mpipool::is_serializable_v<particle> && mpipool::is_serializable_v<std::vector<particle>>);
  static_assert(mpipool::is_serializable_v<std::tuple<particle, int>>);
  static_assert(!mpipool::is_serializable_v<std::map<int, particle>>);
  static_assert(!mpipool::is_serializable_v<std::tuple<particle, std::string>>);
  SUCCEED();  // the checks above are compile-time
}

TEST(bitwise, an_argument_is_its_bytes_with_no_archive) {
  byte_buffer items;
  {
    argument_writer out(items);
    out.add(std::tuple<int>(7));
    out.add(std::tuple<int, double>(1, 2.5));
    out.add(std::tuple<std::vector<std::int16_t>>({1, 2, 3}));
  }
  std::vector<char> expected;
  auto put = [&](auto v) {
    const char* bytes = reinterpret_cast<const char*>(&v);
    expected.insert(expected.end(), bytes, bytes + sizeof v);
  };
  put(7);  // a fixed-size argument: its bytes alone, with no size
  put(1), put(2.5);  // no padding between the members
  // A vector's size varies: its frame's size, then its length and elements.
  put(std::uint64_t{14}), put(std::uint64_t{3}), put(std::int16_t{1}), put(std::int16_t{2}), put(std::int16_t{3});
  EXPECT_EQ(items, expected);
}

namespace {

// Every kind, each followed by an archived value, through one chunk and one results message.
using mixed_args = std::tuple<
    std::tuple<int>, std::tuple<std::string>, std::tuple<double, colour, bool>, std::tuple<labelled>,
    std::tuple<std::array<int, 4>>, std::tuple<std::map<std::string, int>>, std::tuple<std::pair<char, long>>,
    std::tuple<std::vector<double>>, std::tuple<std::vector<std::array<float, 2>>>,
    std::tuple<std::vector<std::pair<int, colour>>>, std::tuple<std::vector<std::vector<int>>>,
    std::tuple<std::complex<double>, std::tuple<>>, std::tuple<particle, std::vector<particle>>,
    std::tuple<opted_in_with_serialize>, std::tuple<std::vector<std::string>>, std::tuple<std::vector<int>>,
    std::tuple<archived_pod>, std::tuple<>>;

mixed_args mixed_values() {
  return {std::tuple<int>(-5),
          std::tuple<std::string>("between"),
          {2.5, colour::blue, true},
          labelled{"l", {1, 2}},
          std::array<int, 4>{1, 2, 3, 4},
          std::map<std::string, int>{{"a", 1}},
          std::pair<char, long>{'c', 1L << 40},
          std::vector<double>{0.5, -1.5, 1e300},
          std::vector<std::array<float, 2>>{{1.f, 2.f}, {3.f, 4.f}},
          std::vector<std::pair<int, colour>>{{1, colour::green}, {2, colour::red}},
          std::vector<std::vector<int>>{{1}, {}, {2, 3}},
          {std::complex<double>(1, -2), std::tuple<>{}},
          {particle{1, 2, 3}, std::vector<particle>{{4, 5, 6}, {7, 8, 9}}},
          opted_in_with_serialize{11},
          std::vector<std::string>{"x", ""},
          std::vector<int>{},
          archived_pod{12},
          std::tuple<>{}};
}

}  // namespace

TEST(bitwise, every_kind_round_trips_as_arguments_mixed_with_archived_ones) {
  const mixed_args sent = mixed_values();
  byte_buffer items;
  {
    argument_writer out(items);
    std::apply([&](const auto&... args) { (out.add(args), ...); }, sent);
  }
  mixed_args received;
  argument_reader in(items);
  std::apply([&](auto&... args) { ([&] { EXPECT_FALSE(in.next(args)); }(), ...); }, received);
  EXPECT_EQ(received, sent);
}

TEST(bitwise, every_kind_round_trips_as_outcomes_mixed_with_archived_ones_and_failures) {
  byte_buffer outcomes;
  {
    outcome_writer out(outcomes);
    out.success(-5);
    out.failure({"e", "x"});
    out.success(std::string("between"));
    out.failure({"e", "y"});
  }
  outcome_reader in(outcomes);
  in.next();
  ASSERT_TRUE(in.succeeded());
  EXPECT_EQ(in.value<int>(), -5);
  in.next();
  EXPECT_EQ(in.failure().message, "x");
  in.next();
  EXPECT_EQ(in.value<std::string>(), "between");
  in.next();
  EXPECT_EQ(in.failure().message, "y");

  // Every kind, one after another in one message.
  const mixed_args sent = mixed_values();
  byte_buffer more;
  {
    outcome_writer out(more);
    std::apply([&](const auto&... values) { (out.success(values), ...); }, sent);
  }
  outcome_reader again(more);
  std::apply(
      [&](const auto&... values) {
        ([&] {
          again.next();
          ASSERT_TRUE(again.succeeded());
          EXPECT_EQ(again.value<std::remove_cvref_t<decltype(values)>>(), values);
        }(),
         ...);
      },
      sent);
}

TEST(bitwise, a_value_that_fails_to_serialize_fails_alone_among_bitwise_and_archived_values) {
  byte_buffer outcomes;
  {
    outcome_writer out(outcomes);
    out.success(1);
    out.success(half_written{true});  // the first archived value, dropped with its archive
    out.success(std::vector<double>{2.5});
    out.success(half_written{false});
    out.success(std::string("s"));
    out.success(3);
  }
  outcome_reader in(outcomes);
  std::vector<std::string> seen;
  auto record = [&](auto read) {
    in.next();
    if (!in.succeeded()) seen.push_back(in.failure().type_name + ":" + in.failure().message);
    else seen.push_back(read());
  };
  record([&] { return std::to_string(in.value<int>()); });
  record([&] { return std::string("unexpected"); });
  record([&] { return std::to_string(in.value<std::vector<double>>().at(0)); });
  record([&] { return std::to_string(in.value<half_written>().refuse); });
  record([&] { return in.value<std::string>(); });
  record([&] { return std::to_string(in.value<int>()); });
  EXPECT_EQ(seen, (std::vector<std::string>{"1", "std::length_error:refused", "2.500000", "0", "s", "3"}));
}

TEST(bitwise, a_garbled_value_fails_its_own_item_and_the_next_reads_fine) {
  byte_buffer items;
  auto put = [&](auto v) {
    const char* bytes = reinterpret_cast<const char*>(&v);
    items.insert(items.end(), bytes, bytes + sizeof v);
  };
  put(std::uint64_t{8}), put(std::uint64_t{1} << 60);         // a vector far longer than its frame
  put(std::uint64_t{16}), put(std::uint64_t{1}), put(5), put(0);  // one element, then 4 bytes too many
  put(std::uint64_t{2}), put(std::int16_t{1});                // too short for its length
  {
    argument_writer out(items);
    out.add(std::tuple<std::vector<int>>({7, 8}));
  }
  argument_reader in(items);
  std::tuple<std::vector<int>> args;
  for (int garbled = 0; garbled < 3; ++garbled) {
    const std::optional<item_error> error = in.next(args);
    ASSERT_TRUE(error) << "item " << garbled;
    EXPECT_EQ(error->type_name, "std::runtime_error");
  }
  EXPECT_FALSE(in.next(args));
  EXPECT_EQ(std::get<0>(args), (std::vector<int>{7, 8}));
}
