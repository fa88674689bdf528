#include "master/outbox.hpp"

#include <utility>

namespace mpipool::detail {

void outbox::send(int rank, tag kind, byte_buffer&& bytes) {
  if (spare_sends_.empty()) spare_sends_.emplace_back();
  const int to = topology_.route_to(rank);
  // Through the worker's relay; to a stocking sub-master's own slot, wrapped alike, naming it.
  if (to != rank || topology_.is_relay(rank)) {
    byte_buffer wrapped = take_buffer();
    wrap_routed(wrapped, {rank, static_cast<int>(kind)}, bytes);
    give_back(std::move(bytes));
    spare_sends_.front().emplace(comm_, to, static_cast<int>(tag::chunk), std::move(wrapped));
  } else {
    spare_sends_.front().emplace(comm_, rank, static_cast<int>(kind), std::move(bytes));
  }
  sends_.splice(sends_.end(), spare_sends_, spare_sends_.begin());
  ring(rank);
}

bool outbox::complete() {
  batch_.test(sends_, [](std::optional<pending_send>& send) -> outgoing_message& { return send->message; });
  bool any = false;
  for (auto it = sends_.begin(); it != sends_.end();) {
    pending_send& send = **it;
    if (send.message.test_after_batch()) {
      // Rung again: a send that could not be posted at once (the receiver's queue was full)
      // may reach it only now, after the ring it woke for.
      ring(send.rank);
      give_back(send.message.release());
      it->reset();
      const auto done = it++;
      spare_sends_.splice(spare_sends_.begin(), sends_, done);
      any = true;
    } else {
      ++it;
    }
  }
  return any;
}

byte_buffer outbox::take_buffer() {
  if (spare_buffers_.empty()) return {};
  byte_buffer bytes = std::move(spare_buffers_.back());
  spare_buffers_.pop_back();
  return bytes;
}

void outbox::give_back(byte_buffer&& bytes) {
  trim_message_buffer(bytes);
  spare_buffers_.push_back(std::move(bytes));
}

}  // namespace mpipool::detail
