#pragma once
// The worker's serve loop: wait for a chunk, run it, send the results (which ask for more).

#include <boost/mpi/communicator.hpp>

namespace mpipool::detail {

// Serves the master (rank 0 of `comm`) until it says exit; returns the exit code it gave.
int serve(const boost::mpi::communicator& comm);

}  // namespace mpipool::detail
