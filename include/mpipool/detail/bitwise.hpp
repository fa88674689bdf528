#pragma once
// Which types travel as raw bytes (see mpipool/bitwise.hpp for the rule), and how they are
// written and read. The wire form is each scalar's bytes in member order, no padding between
// the members of a pair or tuple, and a vector as its u64 length followed by its elements.

#include <array>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "mpipool/bitwise.hpp"

namespace mpipool::detail {

// `fixed`: always the same number of bytes; `sized`: holds a vector, so its size is written.
enum class bitwise_kind { none, fixed, sized };

// std::array, std::pair and std::tuple: written element by element.
template <class T>
struct is_product : std::false_type {};
template <class T, std::size_t N>
struct is_product<std::array<T, N>> : std::true_type {};
template <class A, class B>
struct is_product<std::pair<A, B>> : std::true_type {};
template <class... T>
struct is_product<std::tuple<T...>> : std::true_type {};

template <class T>
struct bitwise_kind_of {
  static_assert(!bitwise_serializable<T>::value || std::is_trivially_copyable_v<T>,
                "mpipool: bitwise_serializable<T> is only for trivially copyable types");
  static constexpr bitwise_kind value =
      std::is_arithmetic_v<T> || std::is_enum_v<T> || bitwise_serializable<T>::value ? bitwise_kind::fixed
                                                                                     : bitwise_kind::none;
};

template <class... T>
constexpr bitwise_kind combined_kind() {
  constexpr bitwise_kind kinds[] = {bitwise_kind::fixed, bitwise_kind_of<std::remove_cv_t<T>>::value...};
  bitwise_kind out = bitwise_kind::fixed;
  for (bitwise_kind k : kinds) {
    if (k == bitwise_kind::none) return bitwise_kind::none;
    if (k == bitwise_kind::sized) out = bitwise_kind::sized;
  }
  return out;
}

template <class T>
struct bitwise_kind_of<std::complex<T>> {
  static constexpr bitwise_kind value = std::is_arithmetic_v<T> ? bitwise_kind::fixed : bitwise_kind::none;
};
template <class T, std::size_t N>
struct bitwise_kind_of<std::array<T, N>> {
  static constexpr bitwise_kind value = combined_kind<T>();
};
template <class A, class B>
struct bitwise_kind_of<std::pair<A, B>> {
  static constexpr bitwise_kind value = combined_kind<A, B>();
};
template <class... T>
struct bitwise_kind_of<std::tuple<T...>> {
  static constexpr bitwise_kind value = combined_kind<T...>();
};

template <class T>
inline constexpr bool is_bitwise_v = bitwise_kind_of<std::remove_cv_t<T>>::value != bitwise_kind::none;
template <class T>
inline constexpr bool is_fixed_bitwise_v = bitwise_kind_of<std::remove_cv_t<T>>::value == bitwise_kind::fixed;

// The bytes a fixed-kind value takes on the wire.
template <class T>
constexpr std::size_t fixed_wire_size() {
  if constexpr (is_product<T>::value) {  // array, pair, tuple
    return []<std::size_t... I>(std::index_sequence<I...>) {
      return (std::size_t{0} + ... + fixed_wire_size<std::remove_cv_t<std::tuple_element_t<I, T>>>());
    }(std::make_index_sequence<std::tuple_size_v<T>>{});
  } else {
    return sizeof(T);
  }
}

// A vector of these is one block copy: its wire form is its memory.
template <class T>
inline constexpr bool is_block_copyable_v =
    is_fixed_bitwise_v<T> && std::is_trivially_copyable_v<T> && fixed_wire_size<T>() == sizeof(T);

// Only vectors with the standard allocator, of elements that take some bytes (so that a garbled
// length cannot ask for an endless vector of nothing). std::vector<bool> packs its bits.
template <class T>
struct bitwise_kind_of<std::vector<T>> {
  static constexpr bitwise_kind value =
      !std::is_same_v<T, bool> && combined_kind<T>() != bitwise_kind::none &&
              (combined_kind<T>() == bitwise_kind::sized || fixed_wire_size<T>() > 0)
          ? bitwise_kind::sized
          : bitwise_kind::none;
};

template <class T>
std::size_t bitwise_wire_size(const T& value) {
  if constexpr (is_fixed_bitwise_v<T>) {
    return fixed_wire_size<T>();
  } else if constexpr (is_product<T>::value) {
    return std::apply([](const auto&... element) { return (std::size_t{0} + ... + bitwise_wire_size(element)); },
                      value);
  } else {  // a vector
    using element = typename T::value_type;
    if constexpr (is_fixed_bitwise_v<element>) {
      return sizeof(std::uint64_t) + value.size() * fixed_wire_size<element>();
    } else {
      std::size_t size = sizeof(std::uint64_t);
      for (const auto& e : value) size += bitwise_wire_size(e);
      return size;
    }
  }
}

// Writes `value` at `at`, which has bitwise_wire_size(value) bytes; returns where it ended.
template <class T>
char* write_bitwise(char* at, const T& value) {
  if constexpr (is_product<T>::value && !is_block_copyable_v<T>) {
    std::apply([&at](const auto&... element) { ((at = write_bitwise(at, element)), ...); }, value);
    return at;
  } else if constexpr (is_fixed_bitwise_v<T>) {
    std::memcpy(at, std::addressof(value), sizeof(T));
    return at + sizeof(T);
  } else {  // a vector
    using element = typename T::value_type;
    const std::uint64_t length = value.size();
    std::memcpy(at, &length, sizeof length);
    at += sizeof length;
    if constexpr (is_block_copyable_v<element>) {
      if (length > 0) std::memcpy(at, value.data(), length * sizeof(element));
      return at + length * sizeof(element);
    } else {
      for (const auto& e : value) at = write_bitwise(at, e);
      return at;
    }
  }
}

// Reads bitwise values back from a span, checking every length against what is left.
class bitwise_source {
 public:
  explicit bitwise_source(std::span<const char> bytes) : at_(bytes.data()), end_(bytes.data() + bytes.size()) {}

  template <class T>
  void read(T& value) {
    if constexpr (is_fixed_bitwise_v<T>) {
      need(fixed_wire_size<T>());
      at_ = read_fixed(at_, value);
    } else if constexpr (is_product<T>::value) {
      // [&], not [this]: for an empty tuple the lambda reads nothing, and `this` would be unused.
      std::apply([&](auto&... element) { (read(element), ...); }, value);
    } else {  // a vector
      using element = typename T::value_type;
      std::uint64_t length = 0;
      read(length);
      if constexpr (is_fixed_bitwise_v<element>) {
        if (length > left() / fixed_wire_size<element>()) truncated();
        value.resize(static_cast<std::size_t>(length));
        if constexpr (is_block_copyable_v<element>) {
          if (length > 0) std::memcpy(value.data(), at_, length * sizeof(element));
          at_ += length * sizeof(element);
        } else {
          for (auto& e : value) at_ = read_fixed(at_, e);
        }
      } else {
        if (length > left() / sizeof(std::uint64_t)) truncated();  // each element holds a length at least
        value.resize(static_cast<std::size_t>(length));
        for (auto& e : value) read(e);
      }
    }
  }

  std::size_t left() const { return static_cast<std::size_t>(end_ - at_); }

 private:
  // Reads a fixed-kind value whose bytes are known to be there.
  template <class T>
  static const char* read_fixed(const char* at, T& value) {
    if constexpr (is_product<T>::value && !is_block_copyable_v<T>) {
      std::apply([&at](auto&... element) { ((at = read_fixed(at, element)), ...); }, value);
      return at;
    } else {
      std::memcpy(static_cast<void*>(std::addressof(value)), at, sizeof(T));
      return at + sizeof(T);
    }
  }
  void need(std::size_t n) const {
    if (n > left()) truncated();
  }
  [[noreturn]] static void truncated() { throw std::runtime_error("mpipool: a bitwise value is truncated or garbled"); }

  const char* at_;
  const char* end_;
};

}  // namespace mpipool::detail
