#pragma once
// The messages of one tag being received without waiting (incoming_message), from any source:
// posted as their probes find them, then handed on as each is all here, each source's in the
// order they came. One still on its way holds back the later ones of its source only. The
// master and a group's relay receive their workers' results through one each.

#include <algorithm>
#include <deque>
#include <utility>
#include <vector>

#include <boost/mpi/communicator.hpp>

#include "wire/transport.hpp"

namespace mpipool::detail {

class incoming_queue {
 public:
  // Posts a receive for every message of `message_tag` that has come, into buffers from
  // `take_buffer()`; returns whether it posted any.
  template <class TakeBuffer>
  bool post_arrived(const boost::mpi::communicator& comm, int message_tag, TakeBuffer&& take_buffer) {
    bool any = false;
    while (auto status = comm.iprobe(boost::mpi::any_source, message_tag)) {
      incoming_.emplace_back(comm, *status, take_buffer());
      any = true;
    }
    return any;
  }

  // Calls `take(source, bytes)` for each message that is all here, in order per source; returns
  // whether it took any. `take` owns the buffer from then on.
  template <class Take>
  bool take_ready(Take&& take) {
    bool any = false;
    waiting_sources_.clear();
    for (auto it = incoming_.begin(); it != incoming_.end();) {
      const int source = it->source();
      const bool held_back = std::ranges::find(waiting_sources_, source) != waiting_sources_.end();
      if (held_back || !it->test()) {
        if (!held_back) waiting_sources_.push_back(source);
        ++it;
        continue;
      }
      byte_buffer message = it->release();
      it = incoming_.erase(it);
      take(source, std::move(message));
      any = true;
    }
    return any;
  }

  // No message on its way: none to wait for, and none whose sender may have to call MPI for it
  // to move (which rings no one).
  bool empty() const { return incoming_.empty(); }

 private:
  std::deque<incoming_message> incoming_;
  std::vector<int> waiting_sources_;  // take_ready's scratch: sources with a message on its way
};

}  // namespace mpipool::detail
