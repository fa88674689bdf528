#pragma once
// Whether the ranks of this node share its cores: more ranks on the node than cores they may
// run on, counted over the union of their affinity masks (one rank bound to one core has that
// core to itself; unbound ranks on a laptop share all of them). Waits use it to choose how
// they spin: where a core is a rank's own, the first microseconds of a wait poll without
// yielding, for the lowest latency; where cores are shared, every look yields, so that a
// waiting rank never holds a core that a working one needs.

#include <boost/mpi/communicator.hpp>

namespace mpipool::detail {

// Collective over `comm`: every rank learns about its own node.
bool node_shares_cores(const boost::mpi::communicator& comm);

}  // namespace mpipool::detail
