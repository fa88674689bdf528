#include "wire/node_map.hpp"

#include <mpi.h>

namespace mpipool::detail {

std::vector<int> node_of_each_rank(const boost::mpi::communicator& comm) {
  MPI_Comm node = MPI_COMM_NULL;
  MPI_Comm_split_type(static_cast<MPI_Comm>(comm), MPI_COMM_TYPE_SHARED, comm.rank(), MPI_INFO_NULL, &node);
  int rank = comm.rank();
  int lowest = rank;
  MPI_Allreduce(&rank, &lowest, 1, MPI_INT, MPI_MIN, node);
  MPI_Comm_free(&node);
  std::vector<int> node_of(static_cast<std::size_t>(comm.size()));
  MPI_Allgather(&lowest, 1, MPI_INT, node_of.data(), 1, MPI_INT, static_cast<MPI_Comm>(comm));
  return node_of;
}

}  // namespace mpipool::detail
