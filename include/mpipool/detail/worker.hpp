#pragma once
// The worker's serve loop: wait for a chunk, run it, send the results (which ask for more).

#include <boost/mpi/communicator.hpp>

namespace mpipool::detail {

class node_doorbells;

// Serves the master (rank 0 of `comm`) until it says exit; returns the exit code it gave.
// Waits on this rank's bell in `bells` if it has one, and rings the master's after each send.
int serve(const boost::mpi::communicator& comm, const node_doorbells& bells);

}  // namespace mpipool::detail
