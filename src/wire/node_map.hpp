#pragma once
// Which node each rank of a communicator runs on: the ranks that share memory
// (MPI_COMM_TYPE_SHARED) are one node. For pools grouped by node (wire/topology.hpp).

#include <vector>

#include <boost/mpi/communicator.hpp>

namespace mpipool::detail {

// Collective over `comm`: each rank's node, named by the lowest rank of `comm` on it.
std::vector<int> node_of_each_rank(const boost::mpi::communicator& comm);

}  // namespace mpipool::detail
