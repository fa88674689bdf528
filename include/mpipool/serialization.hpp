#pragma once
/// @file serialization.hpp
/// @brief Which values can travel between ranks, and the Boost.Serialization support they need.
///
/// Numbers, enums, and arrays, pairs, tuples and vectors of them travel as raw bytes, with no
/// archive (see mpipool/bitwise.hpp for the exact rule and how a type of yours opts in). Every
/// other argument and result goes through Boost.Serialization. This header includes its support for
/// the standard containers, adds `std::tuple`, `std::optional`, `std::variant` and
/// `std::monostate` (which Boost 1.74 lacks), and defines `mpipool::is_serializable_v`, which the
/// pool checks at compile time so that an unsupported type gives a readable `static_assert`.
///
/// A user type is serializable when it has a `serialize(Archive&, unsigned)` member (or
/// `save`/`load` members), or a free `serialize(Archive&, T&, unsigned)` found by argument-dependent
/// lookup. A type serialized some other way can be declared serializable by specializing
/// `mpipool::serializable`:
/// @code
/// struct point { double x, y;
///   template <class Archive> void serialize(Archive& ar, unsigned) { ar & x & y; } };
/// static_assert(mpipool::is_serializable_v<std::vector<point>>);
///
/// template <> struct mpipool::serializable<legacy_type> : std::true_type {};
/// @endcode

#include <array>
#include <complex>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/array.hpp>
#include <boost/serialization/complex.hpp>
#include <boost/serialization/deque.hpp>
#include <boost/serialization/list.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/set.hpp>
#include <boost/serialization/split_free.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/unordered_map.hpp>
#include <boost/serialization/unordered_set.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>

#include "mpipool/detail/bitwise.hpp"

namespace boost::serialization {

/// Serializes a std::tuple element by element (Boost 1.74 has no support for it).
/// @code
/// pool.apply([](std::tuple<int, std::string> t) { return std::get<0>(t); }, std::make_tuple(1, std::string("a")));
/// @endcode
template <class Archive, class... T>
void serialize(Archive& ar, std::tuple<T...>& t, const unsigned int /*version*/) {
  std::apply([&ar](auto&... element) { ((ar & element), ...); }, t);
}

/// std::monostate carries nothing.
/// @code
/// std::variant<std::monostate, int> maybe_number;  // serializable
/// @endcode
template <class Archive>
void serialize(Archive&, std::monostate&, const unsigned int) {}

/// Saves a std::optional as a flag and, when engaged, its value.
/// @code
/// pool.map([](int x) -> std::optional<int> { return x > 0 ? std::optional(x) : std::nullopt; }, xs);
/// @endcode
template <class Archive, class T>
void save(Archive& ar, const std::optional<T>& o, const unsigned int) {
  const bool engaged = o.has_value();
  ar << engaged;
  if (engaged) ar << *o;
}

/// Loads a std::optional saved by save().
template <class Archive, class T>
void load(Archive& ar, std::optional<T>& o, const unsigned int) {
  bool engaged = false;
  ar >> engaged;
  if (!engaged) {
    o.reset();
    return;
  }
  T value{};
  ar >> value;
  o = std::move(value);
}

template <class Archive, class T>
void serialize(Archive& ar, std::optional<T>& o, const unsigned int version) {
  split_free(ar, o, version);
}

/// Saves a std::variant as its index and the active alternative.
/// @code
/// pool.apply([](int x) -> std::variant<int, std::string> { return std::to_string(x); }, 3);
/// @endcode
template <class Archive, class... T>
void save(Archive& ar, const std::variant<T...>& v, const unsigned int) {
  const std::size_t index = v.index();
  ar << index;
  std::visit([&ar](const auto& alternative) { ar << alternative; }, v);
}

/// Loads a std::variant saved by save().
template <class Archive, class... T>
void load(Archive& ar, std::variant<T...>& v, const unsigned int) {
  std::size_t index = 0;
  ar >> index;
  if (index >= sizeof...(T)) throw std::out_of_range("mpipool: corrupt std::variant index");
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    ((index == I ? (void)[&] {
      std::variant_alternative_t<I, std::variant<T...>> alternative{};
      ar >> alternative;
      v.template emplace<I>(std::move(alternative));
    }()
                 : void()),
     ...);
  }(std::index_sequence_for<T...>{});
}

template <class Archive, class... T>
void serialize(Archive& ar, std::variant<T...>& v, const unsigned int version) {
  split_free(ar, v, version);
}

}  // namespace boost::serialization

namespace mpipool {

/// @brief Customization point: specialize to `std::true_type` for a type that Boost.Serialization
/// handles in a way the pool cannot detect (e.g. a free `serialize` in namespace
/// `boost::serialization`).
/// @code
/// template <> struct mpipool::serializable<legacy_type> : std::true_type {};
/// @endcode
template <class T>
struct serializable : std::false_type {};

namespace detail {

using probe_oarchive = boost::archive::binary_oarchive;
using probe_iarchive = boost::archive::binary_iarchive;

template <class T>
concept has_member_serialize = requires(T& t, probe_oarchive& out, probe_iarchive& in) {
  t.serialize(out, 0u);
  t.serialize(in, 0u);
};

template <class T>
concept has_member_save_load = requires(T& t, const T& ct, probe_oarchive& out, probe_iarchive& in) {
  ct.save(out, 0u);
  t.load(in, 0u);
};

// Unqualified on purpose: finds a free serialize() in T's own namespace (ADL) and nothing else,
// since neither this namespace nor the global one declares a serialize().
template <class T>
concept has_adl_serialize = requires(T& t, probe_oarchive& out) { serialize(out, t, 0u); };

template <class T> struct is_serializable_impl;

template <class... T>
constexpr bool all_serializable = (is_serializable_impl<std::remove_cv_t<T>>::value && ...);

template <class T>
struct is_serializable_impl
    : std::bool_constant<serializable<T>::value || std::is_arithmetic_v<T> || std::is_enum_v<T> ||
                         has_member_serialize<T> || has_member_save_load<T> ||
                         has_adl_serialize<T>> {};

template <class T, std::size_t N>
struct is_serializable_impl<T[N]> : std::bool_constant<all_serializable<T>> {};
template <class C, class Tr, class A>
struct is_serializable_impl<std::basic_string<C, Tr, A>> : std::true_type {};
template <> struct is_serializable_impl<std::monostate> : std::true_type {};
template <class T, class A>
struct is_serializable_impl<std::vector<T, A>> : std::bool_constant<all_serializable<T>> {};
template <class T, class A>
struct is_serializable_impl<std::list<T, A>> : std::bool_constant<all_serializable<T>> {};
template <class T, class A>
struct is_serializable_impl<std::deque<T, A>> : std::bool_constant<all_serializable<T>> {};
template <class T, class C, class A>
struct is_serializable_impl<std::set<T, C, A>> : std::bool_constant<all_serializable<T>> {};
template <class T, class C, class A>
struct is_serializable_impl<std::multiset<T, C, A>> : std::bool_constant<all_serializable<T>> {};
template <class T, class H, class E, class A>
struct is_serializable_impl<std::unordered_set<T, H, E, A>>
    : std::bool_constant<all_serializable<T>> {};
template <class K, class V, class C, class A>
struct is_serializable_impl<std::map<K, V, C, A>> : std::bool_constant<all_serializable<K, V>> {};
template <class K, class V, class C, class A>
struct is_serializable_impl<std::multimap<K, V, C, A>>
    : std::bool_constant<all_serializable<K, V>> {};
template <class K, class V, class H, class E, class A>
struct is_serializable_impl<std::unordered_map<K, V, H, E, A>>
    : std::bool_constant<all_serializable<K, V>> {};
template <class A, class B>
struct is_serializable_impl<std::pair<A, B>> : std::bool_constant<all_serializable<A, B>> {};
template <class... T>
struct is_serializable_impl<std::tuple<T...>> : std::bool_constant<all_serializable<T...>> {};
template <class... T>
struct is_serializable_impl<std::variant<T...>> : std::bool_constant<all_serializable<T...>> {};
template <class T>
struct is_serializable_impl<std::optional<T>> : std::bool_constant<all_serializable<T>> {};
template <class T, std::size_t N>
struct is_serializable_impl<std::array<T, N>> : std::bool_constant<all_serializable<T>> {};
template <class T>
struct is_serializable_impl<std::complex<T>> : std::bool_constant<all_serializable<T>> {};

}  // namespace detail

/// @brief True when values of T can be sent between ranks (see the file comment for the rules):
/// as raw bytes (mpipool/bitwise.hpp) or through Boost.Serialization. Pointers and references
/// never are: values travel by copy.
/// @code
/// static_assert(mpipool::is_serializable_v<std::map<std::string, std::vector<double>>>);
/// static_assert(!mpipool::is_serializable_v<int*>);
/// @endcode
template <class T>
inline constexpr bool is_serializable_v =
    detail::is_bitwise_v<T> || detail::is_serializable_impl<std::remove_cv_t<T>>::value;

}  // namespace mpipool
