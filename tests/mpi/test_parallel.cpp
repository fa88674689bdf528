// Parallel tasks (mpipool/parallel.hpp): each item on a group of k worker ranks with its own
// communicator. Every test adapts to the rank count: where the pool has fewer workers than a
// width needs, the call must fail at once with std::invalid_argument.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <cstddef>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>
#include <gtest/gtest.h>

#include "support.hpp"

using mpipool_test::with_pool;
using mpipool_test::world_size;

namespace {

std::size_t workers_of_world() { return static_cast<std::size_t>(mpipool_test::worker_count()); }

// Each member contributes its group rank + x; the group's sum is x * k + k (k - 1) / 2.
long group_sum(const boost::mpi::communicator& group, long x) {
  return boost::mpi::all_reduce(group, x + group.rank(), std::plus<long>());
}
MPIPOOL_REGISTER(group_sum);

long expected_group_sum(long x, long k) { return x * k + k * (k - 1) / 2; }

// The plain-MPI form: an MPI_Comm first.
int group_size_plain(MPI_Comm group, int offset) {
  int size = 0;
  MPI_Comm_size(group, &size);
  int total = 0;
  MPI_Allreduce(&size, &total, 1, MPI_INT, MPI_SUM, group);
  return total + offset;  // size * size + offset
}
MPIPOOL_REGISTER(group_size_plain);

// Throws on the member of group rank `who`, after the group's last collective.
long throw_on_member(const boost::mpi::communicator& group, int who) {
  const long sum = boost::mpi::all_reduce(group, long{group.rank()}, std::plus<long>());
  if (group.rank() == who) throw std::runtime_error("member " + std::to_string(who) + " gives up");
  return sum;
}
MPIPOOL_REGISTER(throw_on_member);

// How many group communicators the member's rank has made, after an allreduce over its group.
std::size_t communicators_made(const boost::mpi::communicator& group, int) {
  (void)boost::mpi::all_reduce(group, 1, std::plus<int>());
  return mpipool::group_communicators_made();
}
MPIPOOL_REGISTER(communicators_made);

int plain_square(int x) { return x * x; }
MPIPOOL_REGISTER(plain_square);

// Each member's own part: x times its group rank, plus the group's size.
long member_part(const boost::mpi::communicator& group, long x) { return x * group.rank() + group.size(); }
MPIPOOL_REGISTER(member_part);

// Every member says it started (a file per member), waits at the gate, meets the others, then
// says it finished: a group cut in the middle would leave a "started" without its "finished".
int gated_member(const boost::mpi::communicator& group, std::string gate_path) {
  const std::string me = gate_path + ".member" + std::to_string(group.rank());
  std::ofstream(me + ".started") << "started";
  mpipool_test::gate::wait(gate_path);
  group.barrier();
  std::ofstream(me + ".finished") << "finished";
  return group.size();
}
MPIPOOL_REGISTER(gated_member);

bool exists(const std::string& path) { return std::filesystem::exists(path); }

}  // namespace

TEST(parallel, an_allreduce_inside_the_task_sees_every_member) {
  with_pool([](mpipool::pool& pool) {
    for (int k = 1; k <= 3; ++k) {
      if (static_cast<std::size_t>(k) > workers_of_world() || (k > 1 && world_size() == 1)) {
        EXPECT_THROW((void)pool.apply(mpipool::ranks(k), group_sum, 5L), std::invalid_argument) << k;
        continue;
      }
      EXPECT_EQ(pool.apply(mpipool::ranks(k), group_sum, 5L), expected_group_sum(5, k)) << k;
      EXPECT_EQ(pool.apply_async(mpipool::ranks(k), group_size_plain, 7).get(), k * k + 7) << k;
    }
  });
}

TEST(parallel, map_keeps_the_input_order_at_every_width) {
  with_pool([](mpipool::pool& pool) {
    std::vector<long> xs(40);
    std::iota(xs.begin(), xs.end(), 0L);
    for (int k : {1, 2, 3}) {
      if (static_cast<std::size_t>(k) > workers_of_world() || (k > 1 && world_size() == 1)) {
        EXPECT_THROW((void)pool.map(mpipool::ranks(k), group_sum, xs), std::invalid_argument) << k;
        continue;
      }
      const std::vector<long> sums = pool.map(mpipool::ranks(k), group_sum, xs);
      ASSERT_EQ(sums.size(), xs.size());
      for (std::size_t i = 0; i < xs.size(); ++i) EXPECT_EQ(sums[i], expected_group_sum(xs[i], k)) << k << " " << i;

      // The streams too, ordered and not.
      std::vector<long> streamed;
      for (long s : pool.imap(mpipool::ranks(k), group_sum, xs)) streamed.push_back(s);
      EXPECT_EQ(streamed, sums);
      std::vector<long> unordered;
      for (long s : pool.imap_unordered(mpipool::ranks(k), group_sum, xs, 3)) unordered.push_back(s);
      std::sort(unordered.begin(), unordered.end());
      EXPECT_EQ(unordered, sums);

      std::vector<std::tuple<long>> packed;
      for (long x : xs) packed.emplace_back(x);
      EXPECT_EQ(pool.starmap(mpipool::ranks(k), group_sum, packed, 4), sums);
    }
  });
}

TEST(parallel, widths_mix_in_flight_from_several_calls) {
  with_pool([](mpipool::pool& pool) {
    const long wide = std::min<long>(3, static_cast<long>(workers_of_world()));
    std::vector<long> xs(30);
    std::iota(xs.begin(), xs.end(), 100L);
    std::vector<int> plain(200);
    std::iota(plain.begin(), plain.end(), 0);
    auto narrow_calls = pool.map_async(plain_square, plain, 1);
    auto one = pool.map_async(mpipool::ranks(1), group_sum, xs);
    std::optional<mpipool::async_result<std::vector<long>>> several;
    if (world_size() > 1) several.emplace(pool.map_async(mpipool::ranks(static_cast<int>(wide)), group_sum, xs));
    auto more_narrow = pool.map_async(plain_square, plain, 1);
    const std::vector<int> squares = narrow_calls.get();
    for (int i = 0; i < 200; ++i) EXPECT_EQ(squares[static_cast<std::size_t>(i)], i * i);
    EXPECT_EQ(more_narrow.get(), squares);
    const std::vector<long> ones = one.get();
    for (std::size_t i = 0; i < xs.size(); ++i) EXPECT_EQ(ones[i], expected_group_sum(xs[i], 1));
    if (several) {
      const std::vector<long> wides = several->get();
      for (std::size_t i = 0; i < xs.size(); ++i) EXPECT_EQ(wides[i], expected_group_sum(xs[i], wide));
    }
  });
}

TEST(parallel, a_member_that_throws_fails_the_item_naming_it) {
  with_pool([](mpipool::pool& pool) {
    const int k = static_cast<int>(std::min<std::size_t>(2, workers_of_world()));
    if (world_size() == 1) {
      EXPECT_THROW((void)pool.apply(mpipool::ranks(1), throw_on_member, 0), mpipool::remote_error);
      return;
    }
    const int who = k - 1;  // the last member: not the group's rank 0 when k > 1
    std::vector<int> items{who, 99, who};
    auto r = pool.map_async(mpipool::ranks(k), throw_on_member, items);
    try {
      (void)r.get();
      ADD_FAILURE() << "no error";
    } catch (const mpipool::remote_error& e) {
      const std::string what = e.what();
      EXPECT_EQ(e.index(), 0u);
      EXPECT_EQ(e.type_name(), "std::runtime_error") << what;
      EXPECT_NE(what.find("member " + std::to_string(who) + " gives up"), std::string::npos) << what;
      if (k > 1) {
        EXPECT_NE(what.find("1 of " + std::to_string(k) + " members failed"), std::string::npos) << what;
      }
      EXPECT_NE(what.find(" on host "), std::string::npos) << what;
    }
    // The group is free again, and its communicator still works.
    EXPECT_EQ(pool.apply(mpipool::ranks(k), group_sum, 1L), expected_group_sum(1, k));
  });
}

TEST(parallel, a_group_reuses_its_communicator) {
  with_pool([](mpipool::pool& pool) {
    if (workers_of_world() < 2) return;  // a group of two needs two workers
    const int k = static_cast<int>(workers_of_world());  // every worker: always the same group
    const std::vector<std::size_t> made = pool.map(mpipool::ranks(k), communicators_made, std::vector<int>(12, 0));
    ASSERT_EQ(made.size(), 12u);
    for (std::size_t count : made) EXPECT_EQ(count, made.front()) << "a communicator was made again";
    EXPECT_GE(made.front(), 1u);
  });
}

TEST(parallel, terminate_waits_for_a_running_group_then_fails_the_call) {
  with_pool([](mpipool::pool& pool) {
    const int k = static_cast<int>(std::min<std::size_t>(2, workers_of_world()));
    auto r = pool.map_async(mpipool::ranks(world_size() == 1 ? 1 : k), group_sum, std::vector<long>(50, 3L));
    pool.terminate();
    pool.join();
    try {
      const std::vector<long> sums = r.get();  // it may have finished before terminate came
      for (long s : sums) EXPECT_EQ(s, expected_group_sum(3, world_size() == 1 ? 1 : k));
    } catch (const mpipool::pool_terminated&) {
    }
  });
  // The workers left their loops: a new pool groups them again.
  with_pool([](mpipool::pool& pool) {
    const int k = static_cast<int>(std::min<std::size_t>(2, workers_of_world()));
    EXPECT_EQ(pool.apply(mpipool::ranks(world_size() == 1 ? 1 : k), group_sum, 2L),
              expected_group_sum(2, world_size() == 1 ? 1 : k));
  });
}

TEST(parallel, bad_widths_fail_at_the_call) {
  with_pool([](mpipool::pool& pool) {
    EXPECT_THROW((void)pool.apply(mpipool::ranks(0), group_sum, 1L), std::invalid_argument);
    EXPECT_THROW((void)pool.map(mpipool::ranks(-2), group_sum, std::vector<long>{1}), std::invalid_argument);
    const int too_many = static_cast<int>(workers_of_world()) + 1;
    try {
      (void)pool.apply(mpipool::ranks(too_many), group_sum, 1L);
      ADD_FAILURE() << "ranks(" << too_many << ") accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("ranks(" + std::to_string(too_many) + ")"), std::string::npos) << e.what();
    }
    // The pool goes on.
    EXPECT_EQ(pool.apply(plain_square, 9), 81);
  });
}

TEST(parallel, isolated_workers_refuse_parallel_tasks) {
  mpipool::pool_options options;
  options.isolated = true;
  with_pool(
      [](mpipool::pool& pool) {
        try {
          (void)pool.apply(mpipool::ranks(1), group_sum, 1L);
          ADD_FAILURE() << "a parallel task ran on an isolated worker";
        } catch (const mpipool::remote_error& e) {
          EXPECT_NE(std::string(e.what()).find("cannot run on isolated workers"), std::string::npos) << e.what();
        }
        EXPECT_EQ(pool.apply(plain_square, 4), 16);
      },
      options);
}

TEST(parallel, terminate_in_the_middle_of_a_group_waits_for_every_member) {
  const int k = world_size() == 1 ? 1 : static_cast<int>(std::min<std::size_t>(2, workers_of_world()));
  mpipool_test::gate gate("group-terminate");
  std::vector<std::string> started, finished;
  for (int member = 0; member < k; ++member) {
    started.push_back(gate.path() + ".member" + std::to_string(member) + ".started");
    finished.push_back(gate.path() + ".member" + std::to_string(member) + ".finished");
    std::filesystem::remove(started.back());
    std::filesystem::remove(finished.back());
  }
  with_pool([&](mpipool::pool& pool) {
    auto r = pool.map_async(mpipool::ranks(k), gated_member, std::vector<std::string>(3, gate.path()));
    for (const std::string& path : started) mpipool_test::gate::wait(path);  // the group is inside its item
    pool.terminate();  // fails the call at once...
    EXPECT_THROW((void)r.get(), mpipool::pool_terminated);
    for (const std::string& path : finished) EXPECT_FALSE(exists(path)) << path;
    gate.open();  // ...and the group finishes its item: join waits for it
    pool.join();
  });
  if (mpipool_test::world_rank() != 0) return;  // the body, and so the files, are rank 0's
  for (const std::string& path : finished) EXPECT_TRUE(exists(path)) << "a member was cut short: " << path;
  for (const std::string& path : started) std::filesystem::remove(path);
  for (const std::string& path : finished) std::filesystem::remove(path);
}

TEST(parallel, gather_all_returns_every_members_result_in_group_rank_order) {
  with_pool([](mpipool::pool& pool) {
    const int k = world_size() == 1 ? 1 : static_cast<int>(std::min<std::size_t>(3, workers_of_world()));
    auto expected = [k](long x) {
      std::vector<long> parts;
      for (int member = 0; member < k; ++member) parts.push_back(x * member + k);
      return parts;
    };
    EXPECT_EQ(pool.apply(mpipool::ranks(k, mpipool::gather_all), member_part, 10L), expected(10));
    const std::vector<std::vector<long>> all =
        pool.map(mpipool::ranks(k, mpipool::gather_all), member_part, std::vector<long>{1, 2, 3, 4, 5});
    ASSERT_EQ(all.size(), 5u);
    for (long x = 1; x <= 5; ++x) EXPECT_EQ(all[static_cast<std::size_t>(x - 1)], expected(x)) << x;
  });
}
