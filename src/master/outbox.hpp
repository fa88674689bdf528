#pragma once
// The master's sends in progress: each message to a worker (through its relay, if it has one)
// is posted at once and rung, then tested turn by turn until it has gone. The buffers of sent
// messages are kept for the next ones, and so are the list nodes the sends live in: no
// allocation per chunk.

#include <list>
#include <optional>
#include <vector>

#include <boost/mpi/communicator.hpp>

#include "mpipool/detail/protocol.hpp"
#include "wire/doorbell.hpp"
#include "wire/topology.hpp"
#include "wire/transport.hpp"

namespace mpipool::detail {

class outbox {
 public:
  // `bells`: indexed by rank, the bell of the rank a message for it goes to (itself, or its
  // relay), or null. Neither `comm` nor the others are owned; they must outlive the outbox.
  outbox(const boost::mpi::communicator& comm, const pool_topology& topology, const std::vector<doorbell*>& bells)
      : comm_(comm), topology_(topology), bells_(bells) {}

  // Posts `bytes` to worker `rank` with tag `kind` (wrapped for its relay where it has one) and
  // rings it.
  void send(int rank, tag kind, byte_buffer&& bytes);
  // Tests every send in progress; returns whether any has gone.
  bool complete();
  // Whether no send is in progress.
  bool empty() const { return sends_.empty(); }

  // A buffer for the next message, with the capacity of one that has gone (or none).
  byte_buffer take_buffer();
  // A buffer that is no longer needed, for take_buffer.
  void give_back(byte_buffer&& bytes);

  void ring(int rank) const {
    if (doorbell* bell = bells_[static_cast<std::size_t>(rank)]) bell->ring();
  }

 private:
  struct pending_send {
    pending_send(const boost::mpi::communicator& comm, int dest, int tag, byte_buffer&& bytes)
        : rank(dest), message(comm, dest, tag, std::move(bytes)) {}
    int rank;  // the worker it is for, which is rung again once it has gone
    outgoing_message message;
  };

  const boost::mpi::communicator& comm_;
  const pool_topology& topology_;
  const std::vector<doorbell*>& bells_;
  // A send stays where it was built, so each has a list node of its own; done, its node goes to
  // spare_sends_ for the next one (perf, 2 ranks at chunksize 1: linking a fresh node was 7% of
  // the master).
  std::list<std::optional<pending_send>> sends_;
  std::list<std::optional<pending_send>> spare_sends_;
  std::vector<byte_buffer> spare_buffers_;
  send_batch batch_;
};

}  // namespace mpipool::detail
