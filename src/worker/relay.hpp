#pragma once
// A group's relay (wire/topology.hpp): a sub-master that runs no tasks. It passes the master's
// messages to its group's workers, and theirs to the master, each wrapped in a route_header
// between it and the master (protocol.hpp), in the order they come: between one worker and the
// master nothing changes but the way, so every semantic of the pool holds through it. The
// master then receives from, and sends to, its relays only.

#include <boost/mpi/communicator.hpp>

namespace mpipool::detail {

class node_doorbells;

// Relays until the master says exit to this rank, after its exits to the workers (which it has
// passed on by then); returns the exit code it gave. Waits on this rank's bell in `bells` if it
// has one, and rings the bell of each rank it sends to.
int relay(const boost::mpi::communicator& comm, const node_doorbells& bells);

}  // namespace mpipool::detail
