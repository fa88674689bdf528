#pragma once
// A minimal lazy zip of input ranges (C++20 has no std::views::zip): yields tuples of values and
// stops at the shortest range, as Python's zip() and executor.map(f, xs, ys) do.

#include <cstddef>
#include <iterator>
#include <ranges>
#include <tuple>
#include <utility>

namespace mpipool::detail {

template <std::ranges::input_range... Views>
class zip_view {
 public:
  explicit zip_view(Views... views) : views_(std::move(views)...) {}

  class iterator {
   public:
    using value_type = std::tuple<std::ranges::range_value_t<Views>...>;
    using difference_type = std::ptrdiff_t;
    using iterator_concept = std::input_iterator_tag;

    iterator() = default;
    value_type operator*() const {
      return std::apply([](const auto&... it) { return value_type(*it...); }, positions_);
    }
    iterator& operator++() {
      std::apply([](auto&... it) { (++it, ...); }, positions_);
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const {
      return [this]<std::size_t... I>(std::index_sequence<I...>) {
        return ((std::get<I>(positions_) == std::get<I>(ends_)) || ...);
      }(std::index_sequence_for<Views...>{});
    }

   private:
    friend class zip_view;
    iterator(std::tuple<std::ranges::iterator_t<Views>...> positions,
             std::tuple<std::ranges::sentinel_t<Views>...> ends)
        : positions_(std::move(positions)), ends_(std::move(ends)) {}
    std::tuple<std::ranges::iterator_t<Views>...> positions_;
    std::tuple<std::ranges::sentinel_t<Views>...> ends_;
  };

  iterator begin() {
    return std::apply(
        [](auto&... v) {
          return iterator({std::ranges::begin(v)...}, {std::ranges::end(v)...});
        },
        views_);
  }
  std::default_sentinel_t end() const { return {}; }

 private:
  std::tuple<Views...> views_;
};

template <class... Ranges>
auto zip(Ranges&&... ranges) {
  return zip_view<std::views::all_t<Ranges>...>(std::views::all(std::forward<Ranges>(ranges))...);
}

}  // namespace mpipool::detail
