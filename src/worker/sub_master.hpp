#pragma once
// A group's stocking sub-master (wire/topology.hpp, pool_options::stock_sub_masters): a rank that
// runs no tasks and stands, for the master, as one worker with the room of its group's workers.
// The master sends it a group's worth of chunks at a time, ahead of need; it keeps them in its
// stock and hands them to its workers as they ask (a message running and one queued each), so
// the master sends a message per refill of the group, not per worker's message. It sends each
// worker the tasks it lacks and the jobs it may forget, and passes the workers' results up as
// they come, several in one message, each stamped with the worker that ran it
// (results_header::worker_rank), so errors, the trace and progress still name the real worker.
//
// Node-chunks: chunks of fixed-size items come as one (chunk_header::pieces), which it cuts
// into the caller's chunks by their item counts. A worker's results of consecutive pieces, each
// a fixed_run of one size, go up put together as one section; any other piece's (a failure, a
// piece cut short) as they are. Each such section says how many pieces it holds
// (results_header::more_parts), and the one with the node-chunk's last piece closes it, so the
// master keeps its books per node-chunk and per part rather than per chunk.
//
// Cancels: a job cancelled loses the chunks still in stock at once (answered as cut short, with
// no items), and the workers running its chunks are told, as the master tells its own. The
// set-up chunk goes to every worker, each reply passed up as a part of it. Anything the master
// sends a worker by name (its exit) passes on as through a relay.

#include <boost/mpi/communicator.hpp>

namespace mpipool::detail {

class node_doorbells;
class pool_topology;

// Serves until the master says exit to this rank, after its exits to the workers (passed on by
// then); returns the exit code it gave.
int sub_master(const boost::mpi::communicator& comm, const pool_topology& topology, const node_doorbells& bells);

}  // namespace mpipool::detail
