#include "wire/topology.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace mpipool::detail {

pool_topology::pool_topology(int size, int ranks_per_group)
    : route_(static_cast<std::size_t>(size)), relay_(static_cast<std::size_t>(size), false) {
  for (int rank = 0; rank < size; ++rank) route_[static_cast<std::size_t>(rank)] = rank;
  if (size == 1) {
    workers_.push_back(0);
    return;
  }
  const int group = ranks_per_group >= 2 ? ranks_per_group : size;  // no groups: one, with no relay
  for (int first = 1; first < size; first += group) {
    const int end = std::min(size, first + group);
    const bool relayed = ranks_per_group >= 2 && end - first >= 2;
    if (relayed) {
      relay_[static_cast<std::size_t>(first)] = true;
      relays_.push_back(first);
    }
    for (int rank = relayed ? first + 1 : first; rank < end; ++rank) {
      if (relayed) route_[static_cast<std::size_t>(rank)] = first;
      workers_.push_back(rank);
    }
  }
}

int ranks_per_group_setting(int option) {
  if (option < 0) throw std::invalid_argument("mpipool: pool_options::ranks_per_group must not be negative");
  if (option != 0) return option;
  const char* env = std::getenv("MPIPOOL_RANKS_PER_GROUP");
  if (env == nullptr || *env == '\0') return 0;
  char* end = nullptr;
  const long value = std::strtol(env, &end, 10);
  if (*end != '\0' || value < 0 || value > 1'000'000)
    throw std::invalid_argument(std::string("mpipool: MPIPOOL_RANKS_PER_GROUP must be a whole number of ranks, not \"") +
                                env + "\"");
  return static_cast<int>(value);
}

}  // namespace mpipool::detail
