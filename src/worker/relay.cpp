#include "worker/relay.hpp"

#include <cstdint>
#include <algorithm>
#include <cstring>
#include <utility>
#include <list>
#include <optional>

#include <boost/mpi/status.hpp>

#include "mpipool/detail/protocol.hpp"
#include "wire/doorbell.hpp"
#include "wire/incoming_queue.hpp"
#include "wire/transport.hpp"
#include "wire/wait.hpp"

namespace mpipool::detail {

namespace {

constexpr int master_rank = 0;

struct pending {
  pending(const boost::mpi::communicator& comm, int dest, int message_tag, byte_buffer&& bytes)
      : message(comm, dest, message_tag, std::move(bytes)) {}
  outgoing_message message;
};

class relay_loop {
 public:
  relay_loop(const boost::mpi::communicator& comm, const node_doorbells& bells) : comm_(comm), bells_(bells) {}

  int run() {
    event_wait idle(bells_.of(comm_.rank()));
    for (;;) {
      idle.arm();
      bool any = take_from_master();
      any |= take_results();
      any |= take_items_done();
      any |= complete_sends();
      if (exit_code_ && sends_.empty() && incoming_.empty()) return *exit_code_;
      if (any) idle.reset();
      else idle.pause(every_event_rings());
    }
  }

 private:
  // The master's messages, each passed on to the worker it names as it came.
  bool take_from_master() {
    bool any = false;
    const int down = static_cast<int>(tag::chunk);
    while (auto status = comm_.iprobe(master_rank, down)) {
      receive_message(comm_, *status, received_);
      any = true;
      const auto [route, message] = unwrap_routed(received_);
      if (route.tag == static_cast<int>(tag::exit)) {
        int code = 0;
        std::memcpy(&code, message.data(), std::min(message.size(), sizeof code));
        if (route.rank == comm_.rank()) {
          exit_code_ = code;
          continue;
        }
        comm_.send(route.rank, route.tag, code);  // as the master sends it: one int
      } else {
        sends_.emplace_back(comm_, route.rank, route.tag, byte_buffer(message.begin(), message.end()));
      }
      ring(route.rank);
    }
    return any;
  }

  // The workers' results, each wrapped for the master once it is all here. They are received
  // without waiting, as the master receives them (incoming_message): a results message above
  // the eager limit moves only as its worker calls MPI where shared memory has no single-copy
  // reads, and its worker may be running its next chunk meanwhile.
  bool take_results() {
    const bool posted = incoming_.post_arrived(comm_, static_cast<int>(tag::results),
                                               [this] { return std::exchange(spare_, byte_buffer()); });
    const bool taken = incoming_.take_ready([this](int from, byte_buffer&& message) {
      pass_up(from, static_cast<int>(tag::results), message);
      spare_ = std::move(message);
      trim_message_buffer(spare_);
    });
    return posted || taken;
  }

  // The workers' counts of finished items (progress shown, off the node's page): eight bytes,
  // which go at once.
  bool take_items_done() {
    bool any = false;
    const int items_done = static_cast<int>(tag::items_done);
    while (auto status = comm_.iprobe(boost::mpi::any_source, items_done)) {
      std::uint64_t finished = 0;
      comm_.recv(status->source(), items_done, finished);  // as the worker sends it: one integer
      pass_up(status->source(), items_done,
              std::span<const char>(reinterpret_cast<const char*>(&finished), sizeof finished));
      any = true;
    }
    return any;
  }

  // A worker's message, wrapped for the master.
  void pass_up(int from, int message_tag, std::span<const char> message) {
    wrap_routed(wrapped_, {from, message_tag}, message);
    sends_.emplace_back(comm_, master_rank, static_cast<int>(tag::results), std::move(wrapped_));
    wrapped_ = byte_buffer();
    ring(master_rank);
  }

  bool complete_sends() {
    // One MPI call for them all: Open MPI may yield the core in every call that finds nothing
    // done (send_batch).
    batch_.test(sends_, [](pending& send) -> outgoing_message& { return send.message; });
    bool any = false;
    for (auto it = sends_.begin(); it != sends_.end();) {
      if (it->message.test_after_batch()) {
        it = sends_.erase(it);
        any = true;
      } else {
        ++it;
      }
    }
    return any;
  }

  void ring(int rank) const {
    if (doorbell* bell = bells_.of(rank)) bell->ring();
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
  incoming_queue incoming_;  // workers' results being received
  byte_buffer spare_;        // the next receive's buffer
  byte_buffer received_;
  byte_buffer wrapped_;
  std::optional<int> exit_code_;
};

}  // namespace

int relay(const boost::mpi::communicator& comm, const node_doorbells& bells) {
  use_fine_timer_slack();
  return relay_loop(comm, bells).run();
}

}  // namespace mpipool::detail
