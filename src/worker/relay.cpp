#include "worker/relay.hpp"

#include <cstdint>
#include <algorithm>
#include <cstring>
#include <list>
#include <optional>

#include <boost/mpi/status.hpp>

#include "mpipool/detail/protocol.hpp"
#include "wire/doorbell.hpp"
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
      any |= take_from_workers(static_cast<int>(tag::results));
      any |= take_from_workers(static_cast<int>(tag::items_done));
      any |= complete_sends();
      if (exit_code_ && sends_.empty()) return *exit_code_;
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

  // The workers' messages of one tag, each wrapped for the master.
  bool take_from_workers(int message_tag) {
    bool any = false;
    while (auto status = comm_.iprobe(boost::mpi::any_source, message_tag)) {
      const int from = status->source();
      if (message_tag == static_cast<int>(tag::items_done)) {
        std::uint64_t finished = 0;
        comm_.recv(from, message_tag, finished);  // as the worker sends it: one integer
        wrap_routed(wrapped_, {from, message_tag},
                    std::span<const char>(reinterpret_cast<const char*>(&finished), sizeof finished));
      } else {
        receive_message(comm_, *status, received_);
        wrap_routed(wrapped_, {from, message_tag}, received_);
        trim_message_buffer(received_);
      }
      sends_.emplace_back(comm_, master_rank, static_cast<int>(tag::results), std::move(wrapped_));
      wrapped_ = byte_buffer();
      ring(master_rank);
      any = true;
    }
    return any;
  }

  bool complete_sends() {
    bool any = false;
    for (auto it = sends_.begin(); it != sends_.end();) {
      if (it->message.test()) {
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
  // node) and the workers' (on this node, as a group is), with no send of its own in progress.
  bool every_event_rings() const { return sends_.empty() && bells_.of(master_rank) != nullptr; }

  const boost::mpi::communicator& comm_;
  const node_doorbells& bells_;
  std::list<pending> sends_;
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
