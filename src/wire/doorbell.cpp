#include "wire/doorbell.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace mpipool::detail {

namespace {

long futex(std::atomic<std::uint32_t>& word, int operation, std::uint32_t value, const timespec* timeout) {
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), operation, value, timeout, nullptr, 0);
}

// Every rank must take the same path through the collective calls below: they agree first.
bool all_agree(MPI_Comm comm, bool mine) {
  int yes = mine ? 1 : 0;
  int all = 0;
  MPI_Allreduce(&yes, &all, 1, MPI_INT, MPI_MIN, comm);
  return all == 1;
}

}  // namespace

void doorbell::ring() {
  rings_.fetch_add(1);
  // Sequentially consistent with the waiter's store to sleeping_ and its futex's look at the
  // counter: either it sees this ring and does not sleep, or this sees it asleep and wakes it.
  if (sleeping_.load() != 0) futex(rings_, FUTEX_WAKE, 1, nullptr);
}

bool doorbell::wait(std::uint32_t seen, std::chrono::microseconds timeout) {
  sleeping_.store(1);
  if (rings_.load() == seen) {
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout);
    const timespec relative{static_cast<time_t>(seconds.count()),
                            static_cast<long>(std::chrono::nanoseconds(timeout - seconds).count())};
    futex(rings_, FUTEX_WAIT, seen, &relative);  // returns at once if the counter moved on
  }
  sleeping_.store(0);
  return rings_.load() != seen;
}

bool node_doorbells::disabled_by_environment() {
  const char* setting = std::getenv("MPIPOOL_DOORBELL");
  return setting != nullptr && std::strcmp(setting, "off") == 0;
}

node_doorbells::node_doorbells(const boost::mpi::communicator& comm)
    : by_rank_(static_cast<std::size_t>(comm.size()), nullptr),
      items_done_by_rank_(static_cast<std::size_t>(comm.size()), nullptr) {
  const MPI_Comm pool = static_cast<MPI_Comm>(comm);
  if (!all_agree(pool, !disabled_by_environment())) return;
  MPI_Comm node = MPI_COMM_NULL;
  MPI_Comm_split_type(pool, MPI_COMM_TYPE_SHARED, comm.rank(), MPI_INFO_NULL, &node);
  int node_size = 0;
  int node_rank = 0;
  MPI_Comm_size(node, &node_size);
  MPI_Comm_rank(node, &node_rank);
  std::vector<int> pool_rank_of(static_cast<std::size_t>(node_size));
  const int my_pool_rank = comm.rank();
  MPI_Allgather(&my_pool_rank, 1, MPI_INT, pool_rank_of.data(), 1, MPI_INT, node);
  bool masters_node = false;
  for (int rank : pool_rank_of) masters_node |= rank == 0;
  // Only the master's node rings bells, and a master alone there has no one to ring it. Every
  // rank of a node takes the same branch: they saw the same list.
  if (!masters_node || node_size == 1) {
    MPI_Comm_free(&node);
    return;
  }
  // A window that cannot be made is no error: the pool polls instead.
  MPI_Comm_set_errhandler(node, MPI_ERRORS_RETURN);
  // The bells, then the counts: one cache line each, and one spare line (below).
  const MPI_Aint bytes =
      node_rank == 0 ? static_cast<MPI_Aint>((node_size + 1) * sizeof(doorbell) + node_size * sizeof(items_done_counter))
                     : 0;
  void* mine = nullptr;
  MPI_Win window = MPI_WIN_NULL;
  const bool made = MPI_Win_allocate_shared(bytes, 1, MPI_INFO_NULL, node, &mine, &window) == MPI_SUCCESS;
  char* base = nullptr;
  if (made) {
    MPI_Aint size = 0;
    int unit = 0;
    void* first = nullptr;
    if (MPI_Win_shared_query(window, 0, &size, &unit, &first) == MPI_SUCCESS) base = static_cast<char*>(first);
  }
  if (!all_agree(node, base != nullptr)) {
    if (made) MPI_Win_free(&window);
    MPI_Comm_free(&node);
    return;
  }
  // One spare bell's room lets the first start on a cache line, wherever MPI put the page.
  const auto aligned = (reinterpret_cast<std::uintptr_t>(base) + alignof(doorbell) - 1) & ~(alignof(doorbell) - 1);
  auto* bells = reinterpret_cast<doorbell*>(aligned);
  auto* counts = reinterpret_cast<items_done_counter*>(bells + node_size);
  if (node_rank == 0) {
    for (int slot = 0; slot < node_size; ++slot) new (&bells[slot]) doorbell();
    for (int slot = 0; slot < node_size; ++slot) new (&counts[slot]) items_done_counter();
  }
  MPI_Barrier(node);  // no one rings or waits on a bell before it was made
  for (int slot = 0; slot < node_size; ++slot) {
    const auto rank = static_cast<std::size_t>(pool_rank_of[static_cast<std::size_t>(slot)]);
    by_rank_[rank] = &bells[slot];
    items_done_by_rank_[rank] = &counts[slot];
  }
  window_ = window;
  MPI_Comm_free(&node);  // the window keeps its group
}

node_doorbells::~node_doorbells() {
  if (window_ != MPI_WIN_NULL) MPI_Win_free(&window_);
}

doorbell* node_doorbells::of(int rank) const {
  if (rank < 0 || static_cast<std::size_t>(rank) >= by_rank_.size()) return nullptr;
  return by_rank_[static_cast<std::size_t>(rank)];
}

items_done_counter* node_doorbells::items_done_of(int rank) const {
  if (rank < 0 || static_cast<std::size_t>(rank) >= items_done_by_rank_.size()) return nullptr;
  return items_done_by_rank_[static_cast<std::size_t>(rank)];
}

}  // namespace mpipool::detail
