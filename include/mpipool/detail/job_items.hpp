#pragma once
// How a map or apply job holds its items until each is sent: a copy of its own, read on the
// calling thread from any input range, or, for a blocking map over contiguous fixed-size
// values, the caller's own range, read in place.

#include <cstddef>
#include <ranges>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "mpipool/detail/bitwise.hpp"
#include "mpipool/detail/outcomes.hpp"

namespace mpipool::detail {

// The call's own copy of its argument tuples.
template <class Args>
class owned_items {
 public:
  using args_type = Args;
  explicit owned_items(std::vector<Args> items) : items_(std::move(items)) {}

  std::size_t size() const { return items_.size(); }
  const Args& operator[](std::size_t index) const { return items_[index]; }
  void write(argument_writer& out, std::size_t first, std::size_t count) const {
    out.add_all(std::span<const Args>(items_.data() + first, count));
  }
  // Items are sent once and never needed again. Moved out, not assigned over: assigning an
  // empty string keeps the old one's memory.
  void release(std::size_t first, std::size_t count) {
    for (std::size_t i = first; i < first + count; ++i) {
      [[maybe_unused]] const Args sent = std::move(items_[i]);
    }
  }

 private:
  std::vector<Args> items_;
};

// A blocking map's input, read where it lies: each item is the single argument of the task.
// Copying it first cost the master 2.7 ns per int item, more than the rest of its work on
// that item (a fresh copy's page faults, the copy, and its unmapping). Safe because the caller
// waits in map() until the result is ready, and a job whose result is set gives no chunk.
template <class T>
class borrowed_items {
 public:
  using args_type = std::tuple<T>;
  static_assert(is_fixed_bitwise_v<T> && fixed_wire_size<args_type>() == fixed_wire_size<T>(),
                "a one-element tuple is written as its element");
  explicit borrowed_items(std::span<const T> items) : items_(items) {}

  std::size_t size() const { return items_.size(); }
  args_type operator[](std::size_t index) const { return args_type(items_[index]); }
  void write(argument_writer& out, std::size_t first, std::size_t count) const {
    out.add_all(items_.subspan(first, count));
  }
  void release(std::size_t, std::size_t) {}  // the caller's

 private:
  std::span<const T> items_;
};

// Whether map() may read `Range` in place: contiguous, of known size, and of fixed-size bitwise
// values, which go to the workers as their bytes.
template <class Range>
inline constexpr bool borrowable_input_v = std::ranges::contiguous_range<Range> &&
                                           std::ranges::sized_range<Range> &&
                                           is_fixed_bitwise_v<std::ranges::range_value_t<Range>>;

}  // namespace mpipool::detail
