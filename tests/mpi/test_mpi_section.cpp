// mpi_section: the caller's own MPI calls on the master while a pool runs. Built twice: under
// MPI_THREAD_SERIALIZED, where a section parks the progress thread, and under
// MPI_THREAD_MULTIPLE, where it does nothing and the same MPI calls work all the same. Each runs
// at 1, 2, 3 and 5 ranks; the pool over part of the ranks needs 2 or more.
#include <atomic>
#include <latch>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support.hpp"

using mpipool_test::with_pool;

namespace {

int thrice(int x) { return 3 * x; }

// Taken before a pool runs: no MPI call while one does.
bool thread_multiple() {
  int provided = MPI_THREAD_SINGLE;
  MPI_Query_thread(&provided);
  return provided == MPI_THREAD_MULTIPLE;
}

template <class Call>
std::string logic_error_of(Call&& call) {
  try {
    call();
  } catch (const std::logic_error& e) {
    return e.what();
  }
  return "no std::logic_error";
}

// The pool whose body runs, for a task that runs on the master's task thread (one rank only).
mpipool::pool* running_pool = nullptr;

}  // namespace
MPIPOOL_REGISTER(thrice);

TEST(mpi_section, parks_unless_mpi_grants_thread_multiple_and_mpi_calls_work_inside) {
  const bool multiple = thread_multiple();
  with_pool([&](mpipool::pool& pool) {
    const mpipool::mpi_section section(pool);
    EXPECT_EQ(section.parks(), !multiple);
    int mine = 21;
    int sum = 0;
    MPI_Allreduce(&mine, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_SELF);
    EXPECT_EQ(sum, 21);
    int world_size = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    EXPECT_GE(world_size, 1);
  });
}

TEST(mpi_section, calls_made_while_parked_queue_and_are_served_after_it_ends) {
  const bool multiple = thread_multiple();
  with_pool([&](mpipool::pool& pool) {
    bool called_back = false;
    std::optional<mpipool::async_result<std::vector<int>>> tripled;
    {
      const mpipool::mpi_section section(pool);
      tripled.emplace(pool.map_async(thrice, std::vector<int>{1, 2, 3},
                                     {}, {.on_result = [&](const std::vector<int>&) { called_back = true; }}));
      if (!multiple) {
        // Parked: the progress thread has not even taken the call, so no callback ran.
        EXPECT_FALSE(tripled->ready());
        EXPECT_FALSE(called_back);
      }
    }
    EXPECT_EQ(tripled->get(), (std::vector<int>{3, 6, 9}));
    EXPECT_TRUE(called_back);
    EXPECT_EQ(pool.map(thrice, std::vector<int>{4}), std::vector<int>{12});
  });
}

TEST(mpi_section, nests_on_one_thread) {
  const bool multiple = thread_multiple();
  with_pool([&](mpipool::pool& pool) {
    std::optional<mpipool::async_result<int>> nine;
    {
      const mpipool::mpi_section outer(pool);
      {
        const mpipool::mpi_section inner(pool);
        EXPECT_EQ(inner.parks(), !multiple);
        nine.emplace(pool.apply_async(thrice, 3));
      }
      // The inner one ended, the outer one still holds the progress thread.
      if (!multiple) {
        EXPECT_FALSE(nine->ready());
      }
      int rank = -1;
      MPI_Comm_rank(MPI_COMM_SELF, &rank);
      EXPECT_EQ(rank, 0);
    }
    EXPECT_EQ(nine->get(), 9);
  });
}

TEST(mpi_section, sections_of_several_threads_are_counted) {
  const bool multiple = thread_multiple();
  with_pool([&](mpipool::pool& pool) {
    std::latch both_open(2);
    std::latch first_closed(1);
    std::latch submitted(1);
    std::latch checked(1);
    std::optional<mpipool::async_result<int>> result;
    std::thread first([&] {
      const mpipool::mpi_section section(pool);
      both_open.arrive_and_wait();
      // Both sections are open at once here; this one ends first.
    });
    std::thread second([&] {
      const mpipool::mpi_section section(pool);
      both_open.arrive_and_wait();
      first_closed.wait();
      result.emplace(pool.apply_async(thrice, 5));
      submitted.count_down();
      checked.wait();  // the body looks while this section still holds the progress thread
    });
    first.join();
    first_closed.count_down();
    submitted.wait();
    if (!multiple) {
      EXPECT_FALSE(result->ready());
    }
    checked.count_down();
    second.join();
    EXPECT_EQ(result->get(), 15);
  });
}

TEST(mpi_section, waiting_for_the_pool_inside_a_parking_section_throws_instead_of_deadlocking) {
  const bool multiple = thread_multiple();
  with_pool([&](mpipool::pool& pool) {
    const mpipool::mpi_section section(pool);
    auto pending = pool.apply_async(thrice, 7);
    if (multiple) {
      EXPECT_EQ(pending.get(), 21);  // nothing parked: waits work as anywhere
      EXPECT_EQ(pool.map(thrice, std::vector<int>{2}), std::vector<int>{6});
      return;
    }
    EXPECT_NE(logic_error_of([&] { (void)pending.get(); }).find("inside an mpi_section"), std::string::npos);
    EXPECT_NE(logic_error_of([&] { (void)pending.wait(std::chrono::seconds(1)); }).find("inside an mpi_section"),
              std::string::npos);
    EXPECT_NE(logic_error_of([&] { (void)pool.map(thrice, std::vector<int>{1}); }).find("inside an mpi_section"),
              std::string::npos);
    auto stream = pool.imap(thrice, std::vector<int>{1, 2});
    EXPECT_NE(logic_error_of([&] { (void)stream.next(); }).find("inside an mpi_section"), std::string::npos);
    EXPECT_NE(logic_error_of([&] { pool.terminate(); }).find("terminate() inside an mpi_section"),
              std::string::npos);
    pool.close();  // does not wait
    EXPECT_NE(logic_error_of([&] { pool.join(); }).find("join() inside an mpi_section"), std::string::npos);
  });
}

// A blocking map over a vector reads it in place: inside a parking section it is refused before
// it is queued, so its input may go at once and nothing reads it once the section ends (under
// AddressSanitizer, a read of the freed vector fails the test).
TEST(mpi_section, a_map_refused_inside_a_parking_section_leaves_its_input_alone) {
  if (thread_multiple()) GTEST_SKIP() << "nothing parks under MPI_THREAD_MULTIPLE";
  with_pool([&](mpipool::pool& pool) {
    {
      const mpipool::mpi_section section(pool);
      auto input = std::make_unique<std::vector<int>>(1000, 7);
      EXPECT_NE(logic_error_of([&] { (void)pool.map(thrice, *input); }).find("inside an mpi_section"),
                std::string::npos);
      input.reset();
    }
    EXPECT_EQ(pool.map(thrice, std::vector<int>{5, 6}), (std::vector<int>{15, 18}));
  });
}

TEST(mpi_section, a_stream_dropped_inside_a_parking_section_is_dropped_once_it_ends) {
  with_pool([&](mpipool::pool& pool) {
    {
      const mpipool::mpi_section section(pool);
      const std::vector<int> input{1, 2, 3, 4};
      auto stream = pool.imap(thrice, input);
    }  // the stream went first, without waiting for the parked progress thread
    EXPECT_EQ(pool.map(thrice, std::vector<int>{5, 6}), (std::vector<int>{15, 18}));
  });
}

TEST(mpi_section, the_queued_work_of_a_closed_pool_finishes_once_the_section_ends) {
  with_pool([&](mpipool::pool& pool) {
    std::optional<mpipool::async_result<std::vector<int>>> tripled;
    {
      const mpipool::mpi_section section(pool);
      tripled.emplace(pool.map_async(thrice, std::vector<int>{1, 2}));
      pool.close();
    }
    pool.join();
    EXPECT_EQ(tripled->get(), (std::vector<int>{3, 6}));
  });
}

TEST(mpi_section, from_a_callback_throws) {
  with_pool([&](mpipool::pool& pool) {
    std::string refused;
    auto r = pool.apply_async({.on_result = [&](const int&) {
                                refused = logic_error_of([&] { const mpipool::mpi_section section(pool); });
                              }},
                              thrice, 1);
    EXPECT_EQ(r.get(), 3);
    EXPECT_NE(refused.find("callback"), std::string::npos) << refused;
  });
}

TEST(mpi_section, from_a_task_on_the_master_throws) {
  if (mpipool_test::world_size() != 1) GTEST_SKIP() << "tasks run on the master with one rank only";
  with_pool([&](mpipool::pool& pool) {
    running_pool = &pool;
    const std::string refused = pool.apply([] {
      return logic_error_of([] { const mpipool::mpi_section section(*running_pool); });
    });
    running_pool = nullptr;
    EXPECT_NE(refused.find("inside a task"), std::string::npos) << refused;
  });
}

TEST(mpi_section, after_the_pool_stopped_holds_nothing) {
  with_pool([&](mpipool::pool& pool) {
    pool.close();
    pool.join();
    const mpipool::mpi_section section(pool);
    EXPECT_FALSE(section.parks());
    int size = 0;
    MPI_Comm_size(MPI_COMM_SELF, &size);
    EXPECT_EQ(size, 1);
  });
  with_pool([&](mpipool::pool& pool) {
    pool.terminate();
    const mpipool::mpi_section section(pool);
    EXPECT_FALSE(section.parks());
  });
}

// The pool runs over world ranks [0, k); ranks [k, n) stay outside it. World rank 0, the
// master, shares a second communicator with the outsiders and runs collectives on it from the
// body, under a section, while a map is held in flight on the pool's workers.
TEST(mpi_section, collectives_with_ranks_outside_the_pool_while_a_map_is_in_flight) {
  const int size = mpipool_test::world_size();
  const int rank = mpipool_test::world_rank();
  if (size < 2) GTEST_SKIP() << "needs a rank outside the pool";
  const int k = (size + 1) / 2;
  const bool in_pool = rank < k;
  MPI_Comm pool_comm = MPI_COMM_NULL;
  MPI_Comm_split(MPI_COMM_WORLD, in_pool ? 0 : MPI_UNDEFINED, rank, &pool_comm);
  MPI_Comm with_outsiders = MPI_COMM_NULL;
  MPI_Comm_split(MPI_COMM_WORLD, rank == 0 || !in_pool ? 0 : MPI_UNDEFINED, rank, &with_outsiders);

  constexpr int rounds = 5;
  // Everyone's share in round r is (world rank + 1) * (r + 1); the master broadcasts 100 r + 7.
  int outsiders_share = 0;
  for (int outsider = k; outsider < size; ++outsider) outsiders_share += outsider + 1;
  const int expected_sum_factor = 1 + outsiders_share;
  auto take_part = [&](int round) {
    int mine = (rank + 1) * (round + 1);
    int sum = 0;
    MPI_Allreduce(&mine, &sum, 1, MPI_INT, MPI_SUM, with_outsiders);
    EXPECT_EQ(sum, expected_sum_factor * (round + 1)) << "round " << round;
    int token = rank == 0 ? 100 * round + 7 : -1;
    MPI_Bcast(&token, 1, MPI_INT, 0, with_outsiders);
    EXPECT_EQ(token, 100 * round + 7) << "round " << round;
  };

  if (in_pool) {
    const int rc = mpipool::run(pool_comm, [&](mpipool::pool& pool) {
      mpipool_test::gate release("outsiders");
      std::vector<std::tuple<int, std::string>> items;
      for (int i = 0; i < 40; ++i) items.emplace_back(i, release.path());
      auto results = pool.starmap_async(
          [](int x, std::string gate_path) {
            mpipool_test::gate::wait(gate_path);
            return x * x;
          },
          items, 1);
      for (int round = 0; round < rounds; ++round) {
        const mpipool::mpi_section section(pool);
        take_part(round);
      }
      EXPECT_FALSE(results.ready());  // held by the gate all along: it was in flight throughout
      release.open();
      std::vector<int> expected(40);
      for (int i = 0; i < 40; ++i) expected[static_cast<std::size_t>(i)] = i * i;
      EXPECT_EQ(results.get(), expected);
      return 0;
    });
    EXPECT_EQ(rc, 0);
    MPI_Comm_free(&pool_comm);
  } else {
    for (int round = 0; round < rounds; ++round) take_part(round);
  }
  if (with_outsiders != MPI_COMM_NULL) MPI_Comm_free(&with_outsiders);
}

// A caller that applies back to back may run the pool's loop on its own thread: a section
// opened by another thread still has MPI to itself, and every apply gets its value.
TEST(mpi_section, sections_while_another_thread_applies_back_to_back) {
  with_pool([&](mpipool::pool& pool) {
    std::atomic<bool> done{false};
    std::atomic<int> wrong{0};
    std::thread applier([&] {
      for (int i = 0; i < 500; ++i)
        if (pool.apply(thrice, i) != 3 * i) ++wrong;
      done = true;
    });
    int sections = 0;
    while (!done || sections < 20) {
      const mpipool::mpi_section section(pool);
      int mine = sections;
      int sum = -1;
      MPI_Allreduce(&mine, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_SELF);
      EXPECT_EQ(sum, sections);
      ++sections;
    }
    applier.join();
    EXPECT_EQ(wrong.load(), 0);
  });
}
