// How failures reach the caller: a task's exception with its type, message, rank, host and item
// index; an unregistered function; an input range that throws. Each test runs at 1, 2, 3 and 5
// ranks.
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support.hpp"

using mpipool_test::with_pool;

int fail_on_seven(int x) {
  if (x == 7) throw std::out_of_range("seven is out of range");
  return x;
}
MPIPOOL_REGISTER(fail_on_seven);

int fail_on_3001(int x) {
  if (x == 3001) throw std::out_of_range("3001 is out of range");
  return x;
}
MPIPOOL_REGISTER(fail_on_3001);

int parse_int(std::string text) { return std::stoi(text); }
MPIPOOL_REGISTER(parse_int);

int never_registered(int x) { return x + 1; }

namespace {

// The rank a failure may come from: a worker, or the master when it runs alone.
void expect_plausible_origin(const mpipool::remote_error& e) {
  if (mpipool_test::world_size() == 1) EXPECT_EQ(e.rank(), 0);
  else EXPECT_GE(e.rank(), 1);
  EXPECT_LT(e.rank(), mpipool_test::world_size());
  EXPECT_FALSE(e.host().empty());
}

}  // namespace

// test_wrapped_exception / test_traceback: the original type and message survive.
TEST(errors, task_exception_carries_type_message_rank_host_and_index) {
  with_pool([](mpipool::pool& pool) {
    try {
      (void)pool.apply(fail_on_seven, 7);
      FAIL() << "no exception";
    } catch (const mpipool::remote_error& e) {
      EXPECT_EQ(e.type_name(), "std::out_of_range");
      EXPECT_EQ(e.message(), "seven is out of range");
      EXPECT_EQ(e.index(), 0u);
      EXPECT_EQ(e.task(), "fail_on_seven");
      expect_plausible_origin(e);
      const std::string what = e.what();
      EXPECT_NE(what.find("std::out_of_range: seven is out of range"), std::string::npos) << what;
      EXPECT_NE(what.find("rank " + std::to_string(e.rank())), std::string::npos) << what;
      EXPECT_NE(what.find("item 0"), std::string::npos) << what;
    }
  });
}

TEST(errors, map_reports_the_failing_items_index) {
  with_pool([](mpipool::pool& pool) {
    try {
      (void)pool.map(fail_on_seven, std::views::iota(0, 20), 3);
      FAIL() << "no exception";
    } catch (const mpipool::remote_error& e) {
      EXPECT_EQ(e.index(), 7u);
      EXPECT_EQ(e.type_name(), "std::out_of_range");
      expect_plausible_origin(e);
    }
  });
}

// Deep into a call of tiny tasks at chunksize 1, chunks go many to a message (bundles): the
// failing item is still named by its own index, and the error comes from the rank that ran it.
TEST(errors, a_failing_item_inside_a_bundle_is_named_by_its_index) {
  with_pool([](mpipool::pool& pool) {
    try {
      (void)pool.map(fail_on_3001, std::views::iota(0, 4000), 1);
      FAIL() << "no exception";
    } catch (const mpipool::remote_error& e) {
      EXPECT_EQ(e.index(), 3001u);
      EXPECT_EQ(e.type_name(), "std::out_of_range");
      EXPECT_EQ(e.message(), "3001 is out of range");
      expect_plausible_origin(e);
    }
    // The pool goes on.
    EXPECT_EQ(pool.map(fail_on_3001, std::views::iota(0, 100), 1).back(), 99);
  });
}

TEST(errors, map_raises_the_first_error_by_index) {
  with_pool([](mpipool::pool& pool) {
    const std::vector<std::string> texts{"1", "2", "x", "4", "y", "6"};
    for (int chunksize : {1, 2, 6}) {
      try {
        (void)pool.map(parse_int, texts, chunksize);
        FAIL() << "no exception";
      } catch (const mpipool::remote_error& e) {
        EXPECT_EQ(e.index(), 2u) << "chunksize " << chunksize;
        EXPECT_EQ(e.type_name(), "std::invalid_argument");
        EXPECT_EQ(e.message(), "stoi");
      }
    }
  });
}

TEST(errors, exceptions_not_derived_from_std_exception_keep_their_type) {
  with_pool([](mpipool::pool& pool) {
    try {
      (void)pool.apply([](int code) -> int { throw code; }, 3);
      FAIL() << "no exception";
    } catch (const mpipool::remote_error& e) {
      EXPECT_EQ(e.type_name(), "int");
      EXPECT_EQ(e.message(), "");
    }
  });
}

// test_map_no_failfast: a failing item does not cut the map short; it fails once all finished.
TEST(errors, map_with_a_failing_item_waits_for_the_other_items) {
  with_pool([](mpipool::pool& pool) {
    mpipool_test::gate gate("no-failfast");
    auto result = pool.starmap_async(
        [](int item, std::string path) {
          if (item == 0) throw std::runtime_error("x");
          mpipool_test::gate::wait(path);  // item 1 is held until the test opens the gate
          return item;
        },
        std::vector<std::tuple<int, std::string>>{{0, gate.path()}, {1, gate.path()}}, 1);
    // Item 0 has long failed by now, but item 1 is still running: not ready.
    EXPECT_FALSE(result.wait(std::chrono::milliseconds(300)));
    gate.open();
    try {
      (void)result.get();
      FAIL() << "no exception";
    } catch (const mpipool::remote_error& e) {
      EXPECT_EQ(e.index(), 0u);
      EXPECT_EQ(e.type_name(), "std::runtime_error");
    }
    EXPECT_FALSE(result.successful());
    EXPECT_EQ(pool.apply(fail_on_seven, 1), 1);  // the pool stays usable
  });
}

TEST(errors, unregistered_function_is_refused_on_the_master_by_name) {
  with_pool([](mpipool::pool& pool) {
    try {
      (void)pool.map(never_registered, std::vector<int>{1, 2});
      FAIL() << "no exception";
    } catch (const mpipool::registration_error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("never_registered"), std::string::npos) << what;
      EXPECT_NE(what.find("MPIPOOL_REGISTER"), std::string::npos) << what;
    }
    EXPECT_THROW((void)pool.apply(never_registered, 1), mpipool::registration_error);
    EXPECT_THROW((void)pool.apply_async(never_registered, 1), mpipool::registration_error);
    EXPECT_EQ(pool.apply(fail_on_seven, 2), 2);  // nothing was sent; the pool is fine
  });
}

namespace {
// An input range whose iterator throws when it reaches position `fail_at`.
struct throwing_range {
  int size;
  int fail_at;
  struct iterator {
    using value_type = int;
    using difference_type = std::ptrdiff_t;
    int position = 0;
    int fail_at = 0;
    int operator*() const {
      if (position == fail_at) throw std::domain_error("input broke at " + std::to_string(position));
      return position;
    }
    iterator& operator++() {
      ++position;
      return *this;
    }
    void operator++(int) { ++position; }
    bool operator==(const iterator& other) const { return position == other.position; }
  };
  iterator begin() const { return {0, fail_at}; }
  iterator end() const { return {size, fail_at}; }
};
}  // namespace

TEST(errors, input_range_that_throws_raises_its_own_exception_on_the_caller) {
  with_pool([](mpipool::pool& pool) {
    static_assert(std::ranges::input_range<throwing_range>);
    try {
      (void)pool.map(fail_on_seven, throwing_range{10, 3});
      FAIL() << "no exception";
    } catch (const std::domain_error& e) {
      EXPECT_STREQ(e.what(), "input broke at 3");
    }
    EXPECT_EQ(pool.map(fail_on_seven, throwing_range{5, 99}), (std::vector<int>{0, 1, 2, 3, 4}));
  });
}
