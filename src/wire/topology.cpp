#include "wire/topology.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

#include "mpipool/options.hpp"

namespace mpipool::detail {

namespace {

// Rank r's group when ranks 1.. go in consecutive groups of `ranks_per_group`.
std::vector<int> consecutive_groups(int size, int ranks_per_group) {
  std::vector<int> group_of(static_cast<std::size_t>(size), pool_topology::no_group);
  if (ranks_per_group >= 2)
    for (int rank = 1; rank < size; ++rank) group_of[static_cast<std::size_t>(rank)] = (rank - 1) / ranks_per_group;
  return group_of;
}

}  // namespace

pool_topology::pool_topology(int size, int ranks_per_group)
    : pool_topology(consecutive_groups(size, ranks_per_group)) {}

pool_topology pool_topology::by_node(const std::vector<int>& node_of_rank) {
  // Node names are any numbers (no_group among them): the groups are numbered from 0.
  std::map<int, int> group_of_node;
  std::vector<int> group_of(node_of_rank.size(), no_group);
  for (std::size_t rank = 1; rank < node_of_rank.size(); ++rank) {
    const int node = node_of_rank[rank];
    if (node == node_of_rank[0]) continue;  // the master's node: no relay
    group_of[rank] = group_of_node.try_emplace(node, static_cast<int>(group_of_node.size())).first->second;
  }
  return pool_topology(group_of);
}

pool_topology::pool_topology(const std::vector<int>& group_of_rank)
    : route_(group_of_rank.size()), relay_(group_of_rank.size(), false) {
  const int size = static_cast<int>(group_of_rank.size());
  for (int rank = 0; rank < size; ++rank) route_[static_cast<std::size_t>(rank)] = rank;
  if (size == 1) {
    workers_.push_back(0);
    return;
  }
  // Each group's members, ascending; its lowest relays when it has two or more.
  std::map<int, std::vector<int>> members;
  for (int rank = 1; rank < size; ++rank) {
    const int group = group_of_rank[static_cast<std::size_t>(rank)];
    if (group != no_group) members[group].push_back(rank);
  }
  for (const auto& group : members) {
    const std::vector<int>& ranks = group.second;
    if (ranks.size() < 2) continue;
    relay_[static_cast<std::size_t>(ranks.front())] = true;
    relays_.push_back(ranks.front());
    for (auto rank = ranks.begin() + 1; rank != ranks.end(); ++rank)
      route_[static_cast<std::size_t>(*rank)] = ranks.front();
  }
  std::sort(relays_.begin(), relays_.end());
  for (int rank = 1; rank < size; ++rank)
    if (!relay_[static_cast<std::size_t>(rank)]) workers_.push_back(rank);
}

void pool_topology::set_stocking(bool stocking) {
  stocking_ = stocking && !relays_.empty();
  slots_.clear();
  weight_.assign(route_.size(), 1);
  if (!stocking_) return;
  for (int rank = 1; rank < static_cast<int>(route_.size()); ++rank) {
    const int route = route_[static_cast<std::size_t>(rank)];
    if (route == rank) slots_.push_back(rank);  // a relay, or a worker that talks to the master
    else ++weight_[static_cast<std::size_t>(route)];
  }
  for (int relay : relays_) --weight_[static_cast<std::size_t>(relay)];  // counted itself above
}

int ranks_per_group_setting(int option) {
  if (option < 0 && option != pool_options::group_per_node)
    throw std::invalid_argument("mpipool: pool_options::ranks_per_group must not be negative (but group_per_node)");
  if (option != 0) return option;
  const char* env = std::getenv("MPIPOOL_RANKS_PER_GROUP");
  if (env == nullptr || *env == '\0') return 0;
  if (std::string_view(env) == "node") return pool_options::group_per_node;
  char* end = nullptr;
  const long value = std::strtol(env, &end, 10);
  if (*end != '\0' || value < 0 || value > 1'000'000)
    throw std::invalid_argument(std::string("mpipool: MPIPOOL_RANKS_PER_GROUP must be a whole number of ranks or \"node\", not \"") +
                                env + "\"");
  return static_cast<int>(value);
}

}  // namespace mpipool::detail

namespace mpipool::detail {

bool stocking_setting(bool option) {
  if (option) return true;
  const char* env = std::getenv("MPIPOOL_SUB_MASTERS");
  if (env == nullptr || *env == '\0' || std::string_view(env) == "relay") return false;
  if (std::string_view(env) == "stock") return true;
  throw std::invalid_argument(std::string("mpipool: MPIPOOL_SUB_MASTERS must be \"stock\" or \"relay\", not \"") + env +
                              "\"");
}

}  // namespace mpipool::detail
