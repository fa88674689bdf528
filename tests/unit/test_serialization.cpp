// Every supported kind of value survives the trip through the archives the pool uses, and the
// compile-time check accepts exactly the serializable types. No MPI.
#include <array>
#include <complex>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "mpipool/detail/archive.hpp"
#include "mpipool/serialization.hpp"

namespace geo {
struct point {
  double x = 0, y = 0;
  std::string label;
  bool operator==(const point&) const = default;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & x & y & label;
  }
};

struct split_point {  // save/load members instead of serialize
  int id = 0;
  bool operator==(const split_point&) const = default;
  template <class Archive>
  void save(Archive& ar, unsigned) const { ar << id; }
  template <class Archive>
  void load(Archive& ar, unsigned) { ar >> id; }
  BOOST_SERIALIZATION_SPLIT_MEMBER()
};

struct free_point {  // a free serialize() found by argument-dependent lookup
  int a = 0, b = 0;
  bool operator==(const free_point&) const = default;
};
template <class Archive>
void serialize(Archive& ar, free_point& p, unsigned) {
  ar & p.a & p.b;
}

struct opaque {
  int hidden = 0;
};

struct legacy {  // serialized by a free function in namespace boost::serialization
  int id = 0;
};
}  // namespace geo

namespace boost::serialization {
template <class Archive>
void serialize(Archive& ar, geo::legacy& l, unsigned) {
  ar & l.id;
}
}  // namespace boost::serialization

namespace {

template <class T>
T round_trip(const T& value) {
  mpipool::detail::byte_buffer bytes;
  mpipool::detail::writer(bytes) << value;
  T copy{};
  mpipool::detail::reader(bytes) >> copy;
  return copy;
}

template <class T>
void expect_round_trip(const T& value) {
  static_assert(mpipool::is_serializable_v<T>);
  EXPECT_EQ(round_trip(value), value);
}

}  // namespace

TEST(serialization, arithmetic_and_enums) {
  enum class colour : std::uint8_t { red, green };
  expect_round_trip(42);
  expect_round_trip(-7LL);
  expect_round_trip(std::uint64_t{1} << 63);
  expect_round_trip(3.25);
  expect_round_trip(true);
  expect_round_trip('c');
  expect_round_trip(colour::green);
}

TEST(serialization, strings_including_embedded_nul_and_empty) {
  expect_round_trip(std::string("hello"));
  expect_round_trip(std::string());
  expect_round_trip(std::string("a\0b", 3));
  expect_round_trip(std::string(100000, 'z'));
}

TEST(serialization, sequence_containers) {
  expect_round_trip(std::vector<int>{1, 2, 3});
  expect_round_trip(std::vector<std::string>{"a", "", "ccc"});
  expect_round_trip(std::vector<std::vector<double>>{{1.5}, {}, {2.5, 3.5}});
  expect_round_trip(std::list<int>{4, 5});
  expect_round_trip(std::deque<char>{'x', 'y'});
  expect_round_trip(std::array<int, 3>{7, 8, 9});
  expect_round_trip(std::vector<bool>{true, false, true});
}

TEST(serialization, associative_containers) {
  expect_round_trip(std::map<std::string, int>{{"one", 1}, {"two", 2}});
  expect_round_trip(std::multimap<int, int>{{1, 1}, {1, 2}});
  expect_round_trip(std::set<int>{3, 1, 2});
  expect_round_trip(std::unordered_map<int, std::string>{{1, "x"}, {2, "y"}});
  expect_round_trip(std::unordered_set<std::string>{"p", "q"});
}

TEST(serialization, tuples_pairs_optional_variant_complex) {
  expect_round_trip(std::tuple<int, std::string, double>{1, "two", 3.0});
  expect_round_trip(std::tuple<>{});
  expect_round_trip(std::pair<int, std::vector<int>>{1, {2, 3}});
  expect_round_trip(std::optional<std::string>("set"));
  expect_round_trip(std::optional<std::string>());
  expect_round_trip(std::variant<int, std::string>(std::string("alt")));
  expect_round_trip(std::variant<int, std::string>(5));
  expect_round_trip(std::complex<double>(1.0, -2.0));
  expect_round_trip(std::monostate{});
}

TEST(serialization, user_structs_in_every_style) {
  expect_round_trip(geo::point{1.0, 2.0, "p"});
  expect_round_trip(geo::split_point{9});
  expect_round_trip(geo::free_point{3, 4});
  expect_round_trip(std::map<std::string, std::vector<geo::point>>{{"k", {{1, 2, "a"}, {3, 4, "b"}}}});
}

TEST(serialization, several_values_in_one_stream_read_back_in_order) {
  mpipool::detail::byte_buffer bytes;
  {
    mpipool::detail::writer out(bytes);
    out << geo::point{1, 1, "first"} << 17 << geo::point{2, 2, "second"};
  }
  mpipool::detail::reader in(bytes);
  EXPECT_EQ(in.read<geo::point>().label, "first");
  EXPECT_EQ(in.read<int>(), 17);
  EXPECT_EQ(in.read<geo::point>().label, "second");
}

TEST(serialization, trait_rejects_pointers_and_types_without_serialize) {
  static_assert(!mpipool::is_serializable_v<int*>);
  static_assert(!mpipool::is_serializable_v<const char*>);
  static_assert(!mpipool::is_serializable_v<geo::opaque>);
  static_assert(!mpipool::is_serializable_v<std::vector<geo::opaque>>);
  static_assert(!mpipool::is_serializable_v<std::map<int, geo::opaque*>>);
  static_assert(!mpipool::is_serializable_v<std::tuple<int, geo::opaque>>);
  static_assert(!mpipool::is_serializable_v<std::optional<geo::opaque>>);
  static_assert(mpipool::is_serializable_v<const std::vector<geo::point>>);
  SUCCEED();  // the checks above are compile-time
}

namespace mpipool {
template <>
struct serializable<geo::legacy> : std::true_type {};
}  // namespace mpipool

TEST(serialization, customization_point_opts_a_type_in) {
  static_assert(mpipool::is_serializable_v<std::vector<geo::legacy>>);
  EXPECT_EQ(round_trip(std::vector<geo::legacy>{{5}, {6}}).back().id, 6);
}
