#pragma once
// A doorbell per rank on the master's node: a 32-bit counter in memory the node's processes
// share, which a sender bumps after its message has gone and a waiter blocks on with a futex.
// A blocked rank costs no CPU at all, yet wakes within a futex wake-up of the message, where
// polling with sleeps must choose between CPU and latency. Ranks on other nodes have none and
// poll with the backoff.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include <boost/mpi/communicator.hpp>

#include "wire/items_done.hpp"

namespace mpipool::detail {

// One rank's bell. It lives in a page shared between processes, so its futex is not private.
// Only one thread ever waits on a bell; any thread of any process on the node may ring it.
class alignas(64) doorbell {
 public:
  // What the counter reads now. Read it before looking for events: a ring after this is never
  // lost, as wait() returns at once once the counter moved on.
  std::uint32_t rings() const { return rings_.load(); }
  // Bumps the counter and wakes the waiter if it sleeps. Call after the message has gone.
  void ring();
  // Blocks until the counter moves on from `seen`, or `timeout` passes (a wait always has one:
  // a lost ring then costs latency, never a hang). Returns whether the counter moved on.
  bool wait(std::uint32_t seen, std::chrono::microseconds timeout);

 private:
  std::atomic<std::uint32_t> rings_{0};
  // Set while the waiter is in (or on its way into) the futex: a ring makes a syscall only then.
  std::atomic<std::uint32_t> sleeping_{0};
};
static_assert(sizeof(doorbell) == 64, "one bell per cache line: ringing one must not disturb another");
static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "a bell is shared between processes");

// The bells of the ranks of a pool's communicator that share the master's node, in one page
// that MPI_Win_allocate_shared maps into each of them, and beside them each rank's count of
// items done (items_done.hpp). Made and freed collectively, on every
// rank of the pool, on its MPI thread: after the master's progress thread joined and the
// workers were released, so that no one rings a bell that is gone.
class node_doorbells {
 public:
  // Collective over `comm`. With no shared window (a rank alone on its node, an MPI that cannot
  // make one, or MPIPOOL_DOORBELL=off in the environment) there are no bells at all.
  explicit node_doorbells(const boost::mpi::communicator& comm);
  ~node_doorbells();
  node_doorbells(const node_doorbells&) = delete;
  node_doorbells& operator=(const node_doorbells&) = delete;

  // The bell of `rank` of the pool's communicator, or null if it has none (another node than
  // the master's, or no window). A rank with a bell is on the master's node.
  doorbell* of(int rank) const;
  // The items-done count of `rank`, or null where it has no bell.
  items_done_counter* items_done_of(int rank) const;
  bool any() const { return window_ != MPI_WIN_NULL; }

  // Whether the environment asks for no doorbells (MPIPOOL_DOORBELL=off), for the backoff alone.
  static bool disabled_by_environment();

 private:
  MPI_Win window_ = MPI_WIN_NULL;
  std::vector<doorbell*> by_rank_;  // indexed by the pool's rank
  std::vector<items_done_counter*> items_done_by_rank_;  // likewise
};

}  // namespace mpipool::detail
