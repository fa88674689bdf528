#pragma once
// Moves one byte buffer between two ranks, whatever its size. MPI counts are ints, so one MPI
// message carries at most 2 GiB; a larger buffer goes in parts:
//
//   1..limit bytes:        one message on the message's tag, as is (small messages cost nothing extra)
//   0 or more than limit:  an empty message on the message's tag, then, on its continuation tag
//                          (tag + continuation_tag_offset) from the same sender, the total size
//                          (8 bytes) and the parts, each at most `limit` bytes
//
// The empty first message is what a receiver probes for, so a probe on a message's tag never
// matches a part, and MPI's non-overtaking rule keeps the parts in order: between one pair of
// ranks, messages of one tag must be received in the order they were sent (which a probe on
// that tag followed by receive_message does). The limit is the sender's alone: a receiver takes
// parts of any size.

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include <boost/mpi/communicator.hpp>
#include <boost/mpi/request.hpp>
#include <boost/mpi/status.hpp>

#include "mpipool/detail/archive.hpp"

namespace mpipool::detail {

// Tags of messages sent through here must be below this; their parts use tag + this.
inline constexpr int continuation_tag_offset = 4096;

// The largest buffer sent as one MPI message, and the size of the parts of larger ones.
// 1 GiB by default. A test may lower it, on every rank, before a pool starts.
std::size_t message_part_limit();
void set_message_part_limit(std::size_t bytes);

// A non-blocking send of one buffer, which it holds until the send is done. It stays where it
// was built (the header's size is sent from inside it).
// A message was sent only in part: the receiver is out of step, and the pool cannot go on.
struct transport_broken : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class outgoing_message {
 public:
  outgoing_message(const boost::mpi::communicator& comm, int dest, int tag, byte_buffer&& bytes);
  outgoing_message(const outgoing_message&) = delete;
  outgoing_message& operator=(const outgoing_message&) = delete;

  // Whether every part has gone; the buffer may then be taken back.
  bool test();
  byte_buffer release() { return std::move(bytes_); }
  // As test(), after a send_batch tested the first message: no MPI call while that is in
  // progress, nor for a message sent whole.
  bool test_after_batch() { return first_done_ && test(); }
  // For send_batch: the first message's request while it is in progress, else null;
  // first_done() once the batch found it done (MPI freed it).
  MPI_Request* first_request() { return first_done_ ? nullptr : &first_; }
  void first_done() {
    first_ = MPI_REQUEST_NULL;
    first_done_ = true;
  }

 private:
  byte_buffer bytes_;
  std::uint64_t total_size_ = 0;
  // MPI's own request, not Boost.MPI's: its handler is a heap object per send, and every chunk
  // and every result is one send (perf, 2 ranks at chunksize 1: 7.5% of the master's time).
  MPI_Request first_ = MPI_REQUEST_NULL;
  std::vector<boost::mpi::request> parts_;  // size and parts of a message sent in parts
  bool first_done_ = false;
  std::size_t parts_done_ = 0;
};

// Tests many sends with one MPI call, so that MPI progresses once, not once per send: Open MPI
// yields the core in each call that finds nothing done when mpirun sees more ranks than cores
// (mpi_yield_when_idle), and the master has a few sends per worker in progress (perf, 17 ranks
// on 2 cores, chunks of 4096 ints: those yields were 10% of the master's samples). Afterwards a
// send's test() makes no MPI call unless the send went in parts.
class send_batch {
 public:
  // Tests the outgoing_message of each of `sends`, as `message_of(send)` gives it.
  template <class Sends, class MessageOf>
  void test(Sends& sends, MessageOf&& message_of) {
    owners_.clear();
    for (auto& send : sends) owners_.push_back(&message_of(send));
    test_owners();
  }

 private:
  void test_owners();

  std::vector<outgoing_message*> owners_;  // scratch, kept for the next test
  std::vector<MPI_Request> requests_;
  std::vector<int> indices_;
};

// Receives the message whose first MPI message `probed` describes (from a probe on its tag),
// parts and all, into `into`.
void receive_message(const boost::mpi::communicator& comm, const boost::mpi::status& probed, byte_buffer& into);

// A message being received without waiting for it: started from a probe on its tag, then
// tested until it is all here. A receiver that waits in a receive waits for the sender too
// where a large message moves only while its sender calls MPI (TCP above its eager limit,
// shared memory without single-copy reads); this one goes on with other work meanwhile.
// A message sent in parts (over message_part_limit) is received whole, at once.
class incoming_message {
 public:
  incoming_message(const boost::mpi::communicator& comm, const boost::mpi::status& probed, byte_buffer&& into);
  // Moves keep the request (a deque's erase moves the later ones down); only a finished or
  // moved-from one may be assigned over.
  incoming_message(incoming_message&& other) noexcept;
  incoming_message& operator=(incoming_message&& other) noexcept;
  incoming_message(const incoming_message&) = delete;
  incoming_message& operator=(const incoming_message&) = delete;

  int source() const { return source_; }
  // Whether it is all here; then release() gives it.
  bool test();
  byte_buffer release() { return std::move(bytes_); }

 private:
  int source_;
  byte_buffer bytes_;
  MPI_Request request_ = MPI_REQUEST_NULL;  // null once done
};

// Frees a buffer that carried a large message, so that one big value does not keep its memory
// for as long as the pool runs; a small one keeps its capacity for the next message.
void trim_message_buffer(byte_buffer& bytes);

}  // namespace mpipool::detail
