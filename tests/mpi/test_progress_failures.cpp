// Nothing thrown on the master's progress thread escapes it: a failure that one call caused fails
// that call, with a clear error, and the pool goes on. Failures are injected where the master
// sends chunks and reads results. Each test runs at 1, 2, 3 and 5 ranks.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "faults/fault_injection.hpp"

#include "support.hpp"

using mpipool::detail::fault_point;
using mpipool_test::with_pool;

int triple(int x) { return 3 * x; }
MPIPOOL_REGISTER(triple);

std::string what_map_throws(mpipool::pool& pool) {
  try {
    (void)pool.map(triple, std::vector<int>{1, 2, 3, 4, 5, 6}, 1);
    return "no error";
  } catch (const mpipool::error& e) {
    return e.what();
  }
}

TEST(progress_failures, a_chunk_that_cannot_be_sent_fails_its_call_and_the_pool_goes_on) {
  with_pool([](mpipool::pool& pool) {
    mpipool::detail::inject_fault(fault_point::chunk_send, "injected send failure");
    const std::string said = what_map_throws(pool);
    EXPECT_NE(said.find("task 'triple' failed on the master: std::runtime_error: injected send failure"),
              std::string::npos)
        << said;
    EXPECT_EQ(pool.map(triple, std::vector<int>{1, 2, 3}), (std::vector<int>{3, 6, 9}));
    EXPECT_EQ(pool.apply(triple, 5), 15);
  });
}

TEST(progress_failures, a_garbled_results_message_fails_the_call_it_belongs_to) {
  with_pool([](mpipool::pool& pool) {
    mpipool::detail::inject_fault(fault_point::results_decode, "injected garbled results");
    const std::string said = what_map_throws(pool);
    EXPECT_NE(said.find("task 'triple' failed on the master: std::runtime_error: injected garbled results"),
              std::string::npos)
        << said;
    EXPECT_EQ(pool.map(triple, std::vector<int>{1, 2, 3}, 1), (std::vector<int>{3, 6, 9}));
  });
}

TEST(progress_failures, other_calls_in_flight_are_unharmed_by_one_calls_failure) {
  with_pool([](mpipool::pool& pool) {
    auto unharmed = pool.map_async(triple, std::vector<int>(200, 2), 1);
    mpipool::detail::inject_fault(fault_point::chunk_send, "injected send failure");
    auto failed = pool.map_async(triple, std::vector<int>(200, 1), 1);
    // The fault hits whichever call sends the next chunk; exactly one of them fails.
    unharmed.wait();
    failed.wait();
    EXPECT_NE(unharmed.successful(), failed.successful());
    auto& good = unharmed.successful() ? unharmed : failed;
    EXPECT_EQ(good.get().size(), 200u);
    EXPECT_EQ(pool.apply(triple, 7), 21);
  });
}
