#include "wire/core_sharing.hpp"

#include <sched.h>

#include <array>
#include <cstdint>

namespace mpipool::detail {

namespace {

constexpr int mask_words = CPU_SETSIZE / 64;

// This process's affinity mask as words, for a bitwise-or over the node.
std::array<std::uint64_t, mask_words> own_cores() {
  std::array<std::uint64_t, mask_words> words{};
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return words;  // unknown: counted as none
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) words[static_cast<std::size_t>(cpu / 64)] |= std::uint64_t{1} << (cpu % 64);
  return words;
}

}  // namespace

bool node_shares_cores(const boost::mpi::communicator& comm) {
  MPI_Comm node = MPI_COMM_NULL;
  MPI_Comm_split_type(static_cast<MPI_Comm>(comm), MPI_COMM_TYPE_SHARED, comm.rank(), MPI_INFO_NULL, &node);
  int ranks = 0;
  MPI_Comm_size(node, &ranks);
  const std::array<std::uint64_t, mask_words> mine = own_cores();
  std::array<std::uint64_t, mask_words> all{};
  MPI_Allreduce(mine.data(), all.data(), mask_words, MPI_UINT64_T, MPI_BOR, node);
  MPI_Comm_free(&node);
  int cores = 0;
  for (std::uint64_t word : all) cores += __builtin_popcountll(word);
  // With no mask at all (an unknown platform), assume the worst: shared.
  return cores == 0 || ranks > cores;
}

}  // namespace mpipool::detail
