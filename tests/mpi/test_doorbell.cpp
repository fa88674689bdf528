// The doorbells of the ranks on the master's node, over MPI: who has one, that a ring after a
// message wakes its receiver, and that a pool without them (MPIPOOL_DOORBELL=off) still works.
#include <chrono>
#include <cstdlib>
#include <ranges>
#include <thread>
#include <vector>

#include <boost/mpi/communicator.hpp>
#include <gtest/gtest.h>

#include "wire/core_sharing.hpp"
#include "wire/doorbell.hpp"
#include "wire/wait.hpp"
#include "support.hpp"

using mpipool::detail::doorbell;
using mpipool::detail::event_wait;
using mpipool::detail::node_doorbells;

namespace {

int triple(int x) { return 3 * x; }
MPIPOOL_REGISTER(triple);

// Sets an environment variable on this rank for as long as it lives.
class environment_setting {
 public:
  environment_setting(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~environment_setting() { unsetenv(name_); }
  environment_setting(const environment_setting&) = delete;
  environment_setting& operator=(const environment_setting&) = delete;

 private:
  const char* name_;
};

// Waits on `bell` until a message from `source` with `tag` is there, then receives it.
int receive_when_rung(const boost::mpi::communicator& comm, doorbell* bell, int source, int tag) {
  event_wait waiting(bell);
  for (;;) {
    waiting.arm();
    if (comm.iprobe(source, tag)) break;
    waiting.pause();
  }
  int value = 0;
  comm.recv(source, tag, value);
  return value;
}

}  // namespace

// Every test's ranks run on one host (mpirun on this machine): all share the master's node.
// (The whole suite may run with MPIPOOL_DOORBELL=off, for the polling path.)
TEST(node_doorbells, every_rank_on_the_masters_node_has_a_bell_when_there_is_someone_to_ring_it) {
  boost::mpi::communicator comm(MPI_COMM_WORLD, boost::mpi::comm_duplicate);
  const node_doorbells bells(comm);
  const bool expected = comm.size() > 1 && !node_doorbells::disabled_by_environment();
  EXPECT_EQ(bells.any(), expected);
  for (int rank = 0; rank < comm.size(); ++rank) EXPECT_EQ(bells.of(rank) != nullptr, expected) << "rank " << rank;
  EXPECT_EQ(bells.of(comm.size()), nullptr);
  if (expected) {
    EXPECT_NE(bells.of(0), bells.of(comm.size() - 1));
  }
}

// Rounds of ping and pong between the master and each worker. A worker says when it starts to
// wait, and its ping comes well after the spin that comes before blocking, so its ring finds the
// worker blocked: a lost ring would leave it blocked until the safety timeout, so the rounds
// must take less than half of it each, on average. (Without bells the waits poll, with sleeps
// far shorter than that.)
TEST(node_doorbells, a_ring_after_a_message_wakes_its_receiver) {
  boost::mpi::communicator comm(MPI_COMM_WORLD, boost::mpi::comm_duplicate);
  const node_doorbells bells(comm);
  constexpr int ping = 1;
  constexpr int pong = 2;
  constexpr int waiting_tag = 3;
  constexpr int rounds = 4;
  constexpr auto well_past_the_spin = std::chrono::milliseconds(5);
  if (comm.rank() == 0) {
    const auto start = std::chrono::steady_clock::now();
    for (int round = 0; round < rounds; ++round) {
      for (int rank = 1; rank < comm.size(); ++rank) {
        int waiting = 0;
        comm.recv(rank, waiting_tag, waiting);
        std::this_thread::sleep_for(well_past_the_spin);  // where the ring lands, not a synchronisation
        comm.send(rank, ping, 100 * round + rank);
        if (doorbell* bell = bells.of(rank)) bell->ring();
        EXPECT_EQ(receive_when_rung(comm, bells.of(0), rank, pong), 100 * round + rank + 1000);
      }
    }
    const auto took = std::chrono::steady_clock::now() - start;
    const int exchanges = rounds * (comm.size() - 1);
    if (exchanges > 0) {
      EXPECT_LT(took, exchanges * event_wait::safety_timeout / 2)
          << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms for " << exchanges
          << " exchanges";
    }
  } else {
    for (int round = 0; round < rounds; ++round) {
      comm.send(0, waiting_tag, 1);
      const int got = receive_when_rung(comm, bells.of(comm.rank()), 0, ping);
      EXPECT_EQ(got, 100 * round + comm.rank());
      comm.send(0, pong, got + 1000);
      if (doorbell* bell = bells.of(0)) bell->ring();
    }
  }
}

TEST(node_doorbells, none_when_the_environment_says_off) {
  const environment_setting off("MPIPOOL_DOORBELL", "off");
  boost::mpi::communicator comm(MPI_COMM_WORLD, boost::mpi::comm_duplicate);
  const node_doorbells bells(comm);
  EXPECT_FALSE(bells.any());
  for (int rank = 0; rank < comm.size(); ++rank) EXPECT_EQ(bells.of(rank), nullptr);
}

TEST(node_doorbells, a_pool_without_them_polls_and_gets_every_result) {
  const environment_setting off("MPIPOOL_DOORBELL", "off");
  const int code = mpipool_test::with_pool([](mpipool::pool& pool) {
    EXPECT_EQ(pool.apply(triple, 14), 42);
    const std::vector<int> tripled = pool.map(triple, std::views::iota(0, 200), 1);
    for (int i = 0; i < 200; ++i) EXPECT_EQ(tripled[static_cast<std::size_t>(i)], 3 * i);
    int next = 0;
    for (int value : pool.imap(triple, std::views::iota(0, 50))) EXPECT_EQ(value, 3 * next++);
    EXPECT_EQ(next, 50);
    return 0;
  });
  EXPECT_EQ(code, 0);
}

TEST(node_doorbells, a_pool_with_them_gets_every_result) {
  const int code = mpipool_test::with_pool([](mpipool::pool& pool) {
    for (int i = 0; i < 100; ++i) EXPECT_EQ(pool.apply(triple, i), 3 * i);  // back to back
    const std::vector<int> tripled = pool.map(triple, std::views::iota(0, 200), 1);
    for (int i = 0; i < 200; ++i) EXPECT_EQ(tripled[static_cast<std::size_t>(i)], 3 * i);
    return 0;
  });
  EXPECT_EQ(code, 0);
}

// More ranks on the node than cores in their masks: shared. The tests run every rank on one
// machine, so the ranks of the node are the ranks of the world.
TEST(core_sharing, is_said_when_the_nodes_ranks_outnumber_its_cores) {
  const boost::mpi::communicator world;
  const bool shared = mpipool::detail::node_shares_cores(world);
  const auto cores = std::thread::hardware_concurrency();
  if (cores > 0 && static_cast<unsigned>(world.size()) > cores) {
    EXPECT_TRUE(shared);
  }
  if (world.size() == 1) {
    EXPECT_FALSE(shared);  // one rank has at least the core it runs on
  }
  // Every rank of a node learns the same answer.
  int mine = shared ? 1 : 0;
  int all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  EXPECT_TRUE(all == 0 || all == world.size());
}
