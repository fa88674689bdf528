#pragma once
// What a group's relay (relay.hpp) and its stocking sub-master (sub_master.hpp) share: their
// serve loop, their sends (tested with one MPI call), the workers' results received without
// waiting, the messages they pass on unchanged (the master's to a worker by name, the workers'
// counts of finished items), and the bells they ring and wait on.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <list>
#include <optional>
#include <span>
#include <utility>

#include <boost/mpi/communicator.hpp>
#include <boost/mpi/status.hpp>

#include "mpipool/detail/protocol.hpp"
#include "wire/doorbell.hpp"
#include "wire/incoming_queue.hpp"
#include "wire/transport.hpp"
#include "wire/wait.hpp"

namespace mpipool::detail {

class group_link {
 public:
  static constexpr int master_rank = 0;

  group_link(const boost::mpi::communicator& comm, const node_doorbells& bells) : comm_(comm), bells_(bells) {}
  // Its sends are in flight from where it is; on_sent's callback may point into its owner.
  group_link(const group_link&) = delete;
  group_link& operator=(const group_link&) = delete;

  // Runs `step()` (whether it did anything) each turn, with the items-done counts and the sends,
  // until told to exit (exit_with) with nothing left to send or receive; returns the exit code.
  // Between turns that found nothing it waits on this rank's bell, or polls where something
  // it waits for rings no bell.
  template <class Step>
  int serve(Step&& step) {
    event_wait idle(bells_.of(comm_.rank()));
    for (;;) {
      idle.arm();
      bool any = step();
      any |= pass_items_done();
      any |= complete_sends();
      if (exit_code_ && sends_.empty() && incoming_.empty()) return *exit_code_;
      if (any) idle.reset();
      else idle.pause(every_event_rings());
    }
  }
  void exit_with(int code) { exit_code_ = code; }

  const boost::mpi::communicator& comm() const { return comm_; }

  // Sends `bytes` to `dest` without waiting, and rings its bell.
  void send(int dest, int message_tag, byte_buffer&& bytes) {
    sends_.emplace_back(comm_, dest, message_tag, std::move(bytes));
    ring(dest);
  }
  // `message`, wrapped for the master as coming from `from` with its own tag.
  void send_up(int from, int message_tag, std::span<const char> message) {
    byte_buffer wrapped;
    wrap_routed(wrapped, {from, message_tag}, message);
    send(master_rank, static_cast<int>(tag::results), std::move(wrapped));
  }
  // A message the master sent a worker by name, passed on as it is.
  void pass_down(route_header route, std::span<const char> message) {
    if (route.tag == static_cast<int>(tag::exit)) {
      comm_.send(route.rank, route.tag, exit_code_of(message));  // as the master sends it: one int
      ring(route.rank);
    } else {
      send(route.rank, route.tag, byte_buffer(message.begin(), message.end()));
    }
  }
  static int exit_code_of(std::span<const char> message) {
    int code = 0;
    std::memcpy(&code, message.data(), std::min(message.size(), sizeof code));
    return code;
  }

  // The workers' results being received, without waiting: a results message above the eager
  // limit moves only as its worker calls MPI where shared memory has no single-copy reads, and
  // the worker may be running its next chunk meanwhile.
  incoming_queue& incoming() { return incoming_; }

  // A sent message's buffer, once it has gone, goes to `released` (spare buffers).
  template <class Released>
  void on_sent(Released&& released) {
    released_ = std::forward<Released>(released);
  }

  void ring(int rank) const {
    if (doorbell* bell = bells_.of(rank)) bell->ring();
  }

 private:
  struct pending {
    pending(const boost::mpi::communicator& comm, int dest, int message_tag, byte_buffer&& bytes)
        : message(comm, dest, message_tag, std::move(bytes)) {}
    outgoing_message message;
  };

  // The workers' counts of finished items (progress shown, off the node's page): eight bytes,
  // which go up at once.
  bool pass_items_done() {
    bool any = false;
    const int items_done = static_cast<int>(tag::items_done);
    while (auto status = comm_.iprobe(boost::mpi::any_source, items_done)) {
      std::uint64_t finished = 0;
      comm_.recv(status->source(), items_done, finished);  // as the worker sends it: one integer
      send_up(status->source(), items_done,
              std::span<const char>(reinterpret_cast<const char*>(&finished), sizeof finished));
      any = true;
    }
    return any;
  }

  bool complete_sends() {
    // One MPI call for them all: Open MPI may yield the core in every call that finds nothing
    // done (send_batch).
    batch_.test(sends_, [](pending& send) -> outgoing_message& { return send.message; });
    bool any = false;
    for (auto it = sends_.begin(); it != sends_.end();) {
      if (it->message.test_after_batch()) {
        if (released_) released_(it->message.release());
        it = sends_.erase(it);
        any = true;
      } else {
        ++it;
      }
    }
    return any;
  }

  // Whether everything it waits for rings its bell: the master's messages (when it is on this
  // node) and the workers' (on this node, as a group is), with no send of its own in progress
  // and no message on its way in.
  bool every_event_rings() const {
    return sends_.empty() && incoming_.empty() && bells_.of(master_rank) != nullptr;
  }

  const boost::mpi::communicator& comm_;
  const node_doorbells& bells_;
  std::list<pending> sends_;
  send_batch batch_;
  incoming_queue incoming_;
  std::function<void(byte_buffer&&)> released_;
  std::optional<int> exit_code_;
};

}  // namespace mpipool::detail
