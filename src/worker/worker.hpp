#pragma once
// The worker's serve loop: wait for a chunk, run it, send the results (which ask for more).

#include <boost/mpi/communicator.hpp>

namespace mpipool::detail {

class node_doorbells;
struct isolation_settings;

// Serves its master (rank `master_rank` of `comm`: the pool's master, rank 0, or the relay of
// this rank's group, see wire/topology.hpp) until it says exit; returns the exit code it gave.
// Waits on this rank's bell in `bells` if it has one, and rings the master's after each send.
// With `isolation` on, the tasks run in a helper process (isolated_executor.hpp).
int serve(const boost::mpi::communicator& comm, const node_doorbells& bells, const isolation_settings& isolation,
          int master_rank = 0);

}  // namespace mpipool::detail
