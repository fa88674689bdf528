// A value that cannot be (de)serialized fails its own item only: a result that throws while
// being serialized on the worker, an argument that throws while being deserialized there, and
// a result that throws while being deserialized on the master. The items before and after it
// keep their results. Each test runs at 1, 2, 3 and 5 ranks (with one, the master runs the
// tasks itself, through the same encoding).
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "failing_values.hpp"
#include "support.hpp"

using mpipool_test::with_pool;

namespace {

using mpipool_test::poisoned;
using mpipool_test::refuses_to_load;
using mpipool_test::refuses_to_save;

refuses_to_save make_unsaveable(int x) { return {x, "item " + std::to_string(x)}; }
refuses_to_load make_unloadable(int x) { return {x, "item " + std::to_string(x)}; }
std::string read_label(refuses_to_load x) { return x.label; }
int read_value(refuses_to_load x) { return x.value * 10; }  // an archived argument, a bitwise result

std::string label_of(const refuses_to_save& x) { return x.label; }
std::string label_of(const refuses_to_load& x) { return x.label; }
std::string label_of(const std::string& x) { return x; }

std::vector<int> inputs() { return {0, 1, 2, 3, 4, 5, 6, 7}; }
std::vector<refuses_to_load> unloadable_inputs() {
  std::vector<refuses_to_load> out;
  for (int i : inputs()) out.push_back(make_unloadable(i));
  return out;
}

void expect_the_poisoned_item(const mpipool::remote_error& e, const std::string& type, const std::string& message) {
  EXPECT_EQ(e.index(), std::uint64_t(poisoned));
  EXPECT_EQ(e.type_name(), type);
  EXPECT_EQ(e.message(), message);
  if (mpipool_test::world_size() == 1) EXPECT_EQ(e.rank(), 0);
  else EXPECT_GE(e.rank(), 1);
  EXPECT_LT(e.rank(), mpipool_test::world_size());
  EXPECT_FALSE(e.host().empty());
}

// Reads a stream to its end: each item's label, or nothing where it raised (checked here).
template <class Stream>
std::vector<std::optional<std::string>> labels_of(Stream&& stream, const std::string& type, const std::string& message) {
  std::vector<std::optional<std::string>> out;
  for (;;) {
    try {
      auto value = stream.next();
      if (!value) break;
      out.emplace_back(label_of(*value));
    } catch (const mpipool::remote_error& e) {
      expect_the_poisoned_item(e, type, message);
      EXPECT_EQ(out.size(), std::size_t(poisoned));
      out.emplace_back(std::nullopt);
    }
  }
  return out;
}

std::vector<std::optional<std::string>> expected_labels() {
  std::vector<std::optional<std::string>> out;
  for (int i : inputs()) {
    if (i == poisoned) out.emplace_back(std::nullopt);
    else out.emplace_back("item " + std::to_string(i));
  }
  return out;
}

}  // namespace

MPIPOOL_REGISTER(make_unsaveable);
MPIPOOL_REGISTER(make_unloadable);
MPIPOOL_REGISTER(read_label);
MPIPOOL_REGISTER(read_value);

TEST(item_failures, a_result_that_fails_to_serialize_fails_only_its_item) {
  with_pool([](mpipool::pool& pool) {
    for (int chunksize : {4, 8}) {
      try {
        (void)pool.map(make_unsaveable, inputs(), chunksize);
        FAIL() << "no exception";
      } catch (const mpipool::remote_error& e) {
        expect_the_poisoned_item(e, "std::length_error", "cannot save 3");
      }
      EXPECT_EQ(labels_of(pool.imap(make_unsaveable, inputs(), chunksize), "std::length_error", "cannot save 3"),
                expected_labels())
          << "chunksize " << chunksize;
    }
    EXPECT_EQ(pool.apply(make_unsaveable, 2).label, "item 2");  // the pool stays usable
  });
}

TEST(item_failures, an_argument_that_fails_to_deserialize_on_the_worker_fails_only_its_item) {
  with_pool([](mpipool::pool& pool) {
    for (int chunksize : {4, 8}) {
      try {
        (void)pool.map(read_label, unloadable_inputs(), chunksize);
        FAIL() << "no exception";
      } catch (const mpipool::remote_error& e) {
        expect_the_poisoned_item(e, "std::domain_error", "cannot load 3");
      }
      EXPECT_EQ(labels_of(pool.imap(read_label, unloadable_inputs(), chunksize), "std::domain_error", "cannot load 3"),
                expected_labels())
          << "chunksize " << chunksize;
    }
  });
}

TEST(item_failures, a_result_that_fails_to_deserialize_on_the_master_fails_only_its_item) {
  with_pool([](mpipool::pool& pool) {
    for (int chunksize : {4, 8}) {
      try {
        (void)pool.map(make_unloadable, inputs(), chunksize);
        FAIL() << "no exception";
      } catch (const mpipool::remote_error& e) {
        expect_the_poisoned_item(e, "std::domain_error", "cannot load 3");
      }
      EXPECT_EQ(labels_of(pool.imap(make_unloadable, inputs(), chunksize), "std::domain_error", "cannot load 3"),
                expected_labels())
          << "chunksize " << chunksize;
    }
    EXPECT_EQ(pool.apply(make_unloadable, 2).label, "item 2");
  });
}

TEST(item_failures, an_archived_argument_that_fails_to_deserialize_fails_alone_beside_bitwise_results) {
  with_pool([](mpipool::pool& pool) {
    for (int chunksize : {1, 4, 8}) {
      std::vector<std::optional<int>> values;
      for (auto stream = pool.imap(read_value, unloadable_inputs(), chunksize);;) {
        try {
          auto value = stream.next();
          if (!value) break;
          values.emplace_back(*value);
        } catch (const mpipool::remote_error& e) {
          expect_the_poisoned_item(e, "std::domain_error", "cannot load 3");
          values.emplace_back(std::nullopt);
        }
      }
      EXPECT_EQ(values, (std::vector<std::optional<int>>{0, 10, 20, std::nullopt, 40, 50, 60, 70}))
          << "chunksize " << chunksize;
    }
  });
}
