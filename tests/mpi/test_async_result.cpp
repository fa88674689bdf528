// What async_result::get() gives: a value that outlives a temporary handle, a reference that
// lives as long as its handle, and a value that other copies of a handle still see. Each test
// runs at 1, 2, 3 and 5 ranks.
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support.hpp"

using mpipool_test::with_pool;

namespace {

// A value that says when it was destroyed: reading one through a dangling reference shows
// `alive == false` (or garbage) rather than the value it held.
struct tracked {
  int value = 0;
  std::string label;
  bool alive = true;
  tracked() = default;
  explicit tracked(int v) : value(v), label("item " + std::to_string(v)) {}
  tracked(const tracked&) = default;
  tracked(tracked&&) = default;
  tracked& operator=(const tracked&) = default;
  tracked& operator=(tracked&&) = default;
  ~tracked() {
    alive = false;
    value = -1;
  }
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & value & label;
  }
};

tracked make_tracked(int x) { return tracked(x); }

}  // namespace

MPIPOOL_REGISTER(make_tracked);

TEST(async_result, get_on_a_temporary_handle_is_a_value_not_a_reference) {
  with_pool([](mpipool::pool& pool) {
    auto handle = pool.apply_async(make_tracked, 1);
    static_assert(!std::is_reference_v<decltype(std::move(handle).get())>);
    static_assert(!std::is_reference_v<decltype(std::move(handle).get(std::chrono::seconds(1)))>);
    static_assert(std::is_same_v<decltype(handle.get()), const tracked&>);
    static_assert(std::is_same_v<decltype(pool.map_async(make_tracked, std::vector<int>{}).get()),
                                 std::vector<tracked>>);
    EXPECT_EQ(std::move(handle).get().value, 1);
  });
}

TEST(async_result, range_for_over_the_get_of_a_temporary_handle_reads_live_values) {
  with_pool([](mpipool::pool& pool) {
    int expected = 0;
    for (auto& item : pool.map_async(make_tracked, std::vector<int>{0, 1, 2, 3, 4, 5}, 2).get()) {
      // By now the job that filled the result is long gone: only the loop keeps the values.
      if (expected == 0) {
        EXPECT_EQ(pool.apply(make_tracked, 9).value, 9);
      }
      EXPECT_TRUE(item.alive);
      EXPECT_EQ(item.value, expected);
      EXPECT_EQ(item.label, "item " + std::to_string(expected));
      ++expected;
    }
    EXPECT_EQ(expected, 6);
  });
}

TEST(async_result, a_const_reference_bound_to_the_get_of_a_temporary_handle_stays_valid) {
  with_pool([](mpipool::pool& pool) {
    const auto& single = pool.apply_async(make_tracked, 7).get();
    const auto& many = pool.map_async(make_tracked, std::vector<int>{3, 4}).get();
    EXPECT_EQ(pool.apply(make_tracked, 9).value, 9);  // the jobs behind both results are gone
    EXPECT_TRUE(single.alive);
    EXPECT_EQ(single.value, 7);
    EXPECT_EQ(single.label, "item 7");
    ASSERT_EQ(many.size(), 2u);
    EXPECT_EQ(many[0].value, 3);
    EXPECT_EQ(many[1].label, "item 4");
  });
}

TEST(async_result, copies_of_a_handle_still_read_the_value_after_another_copys_rvalue_get) {
  with_pool([](mpipool::pool& pool) {
    auto handle = pool.map_async(make_tracked, std::vector<int>{5, 6, 7});
    const auto copy = handle;
    std::vector<tracked> taken = std::move(handle).get();
    ASSERT_EQ(taken.size(), 3u);
    EXPECT_EQ(taken[2].label, "item 7");
    ASSERT_EQ(copy.get().size(), 3u);
    EXPECT_EQ(copy.get()[0].value, 5);
    EXPECT_EQ(copy.get()[2].label, "item 7");
    auto again = copy;
    EXPECT_EQ(std::move(again).get(std::chrono::seconds(30))[1].label, "item 6");
    EXPECT_EQ(copy.get()[1].label, "item 6");
  });
}

TEST(async_result, the_only_handles_rvalue_get_moves_the_value_out) {
  with_pool([](mpipool::pool& pool) {
    auto handle = pool.apply_async(make_tracked, 4);
    tracked value = std::move(handle).get();
    EXPECT_EQ(value.label, "item 4");
    EXPECT_EQ(handle.get().label, "");  // moved from: no other handle needed it
  });
}
