#pragma once
// Who talks to whom. Without groups, every worker talks to the master (rank 0). With groups
// (pool_options::ranks_per_group, or MPIPOOL_RANKS_PER_GROUP in the environment), ranks 1.. are
// cut into consecutive groups of R ranks, standing for the nodes of a cluster; the first rank of
// every group of two or more is its relay, a sub-master that runs no tasks and passes every
// message between the master and the group's other ranks (worker/relay.hpp). The master then
// exchanges messages with the relays only, and each worker with its relay. A group of one rank
// (the last, when the ranks do not divide evenly) talks to the master itself. Grouped by node
// instead (pool_options::group_per_node), each node's ranks form a group whose lowest rank
// relays, except those on the master's node: there a relay would only add a hop between ranks
// that share memory with the master anyway.
//
// Stocking (pool_options::stock_sub_masters, or MPIPOOL_SUB_MASTERS=stock): each relay is a
// stocking sub-master instead (worker/sub_master.hpp). The master then sends a group's chunks to
// its sub-master as to one worker with the group's workers' room (its weight), ahead of need,
// and the sub-master hands them to its workers as they ask.
//
// Pure arithmetic, the same on every rank: tested without MPI.

#include <cstddef>
#include <vector>

namespace mpipool::detail {

class pool_topology {
 public:
  // `size`: ranks in the pool; `ranks_per_group`: below 2 for no groups.
  pool_topology(int size, int ranks_per_group);
  // A group per node: `node_of_rank` names each rank's node (any number, the same for the ranks
  // of one node), rank 0's included.
  static pool_topology by_node(const std::vector<int>& node_of_rank);
  // A rank's group that talks to the master itself (see the constructor below).
  static constexpr int no_group = -1;

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

  // Stocking sub-masters (see the top): set once, before the pool starts.
  void set_stocking(bool stocking);
  bool stocking() const { return stocking_; }
  // Whether `rank` is a stocking sub-master (a relay, when stocking).
  bool is_sub_master(int rank) const { return stocking_ && is_relay(rank); }
  // The ranks the master sends ordinary chunks to, ascending: the workers; when stocking, the
  // sub-masters and the workers that talk to the master themselves.
  const std::vector<int>& slots() const { return stocking_ ? slots_ : workers_; }
  // How many workers take their chunks from `rank`'s slot: a stocking sub-master's group's
  // workers; 1 otherwise.
  int weight(int rank) const { return stocking_ ? weight_[static_cast<std::size_t>(rank)] : 1; }

 private:
  std::vector<int> route_;
  std::vector<bool> relay_;
  std::vector<int> relays_;
  std::vector<int> workers_;
  bool stocking_ = false;
  std::vector<int> slots_;
  std::vector<int> weight_;  // by rank

  // `group_of_rank`: each rank's group (rank 0's is not read), or no_group.
  explicit pool_topology(const std::vector<int>& group_of_rank);
};

// The group size a pool uses: `option` when it is not 0, else MPIPOOL_RANKS_PER_GROUP ("node":
// pool_options::group_per_node), else 0. Throws std::invalid_argument for a negative option
// other than group_per_node, or a setting that is neither a whole number nor "node".
int ranks_per_group_setting(int option);
// Whether relays stock chunks: `option`, else MPIPOOL_SUB_MASTERS ("stock"; "relay" or unset:
// no). Throws std::invalid_argument for any other value.
bool stocking_setting(bool option);

}  // namespace mpipool::detail
