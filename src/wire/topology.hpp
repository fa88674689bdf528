#pragma once
// Who talks to whom. Without groups, every worker talks to the master (rank 0). With groups
// (pool_options::ranks_per_group, or MPIPOOL_RANKS_PER_GROUP in the environment), ranks 1.. are
// cut into consecutive groups of R ranks, standing for the nodes of a cluster; the first rank of
// every group of two or more is its relay, a sub-master that runs no tasks and passes every
// message between the master and the group's other ranks (worker/relay.hpp). The master then
// exchanges messages with the relays only, and each worker with its relay. A group of one rank
// (the last, when the ranks do not divide evenly) talks to the master itself.
//
// Pure arithmetic, the same on every rank: tested without MPI.

#include <cstddef>
#include <vector>

namespace mpipool::detail {

class pool_topology {
 public:
  // `size`: ranks in the pool; `ranks_per_group`: below 2 for no groups.
  pool_topology(int size, int ranks_per_group);

  bool grouped() const { return !relays_.empty(); }
  // Where the master sends a message meant for `rank`: its relay, or `rank` itself.
  int route_to(int rank) const { return route_[static_cast<std::size_t>(rank)]; }
  // The rank that `rank` takes its work from: 0, or its relay.
  int master_of(int rank) const {
    const int route = route_to(rank);
    return route == rank ? 0 : route;
  }
  bool is_relay(int rank) const { return relay_[static_cast<std::size_t>(rank)]; }
  const std::vector<int>& relays() const { return relays_; }
  // The ranks that run tasks, ascending: every rank but 0 and the relays (rank 0 alone in a
  // pool of one).
  const std::vector<int>& workers() const { return workers_; }

 private:
  std::vector<int> route_;
  std::vector<bool> relay_;
  std::vector<int> relays_;
  std::vector<int> workers_;
};

// The group size a pool uses: `option` when it is not 0, else MPIPOOL_RANKS_PER_GROUP, else 0.
// Throws std::invalid_argument for a negative option or a setting that is not a whole number.
int ranks_per_group_setting(int option);

}  // namespace mpipool::detail
