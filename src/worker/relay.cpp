#include "worker/relay.hpp"

#include <utility>

#include <boost/mpi/status.hpp>

#include "mpipool/detail/protocol.hpp"
#include "wire/transport.hpp"
#include "wire/wait.hpp"
#include "worker/group_link.hpp"

namespace mpipool::detail {

namespace {

class relay_loop {
 public:
  relay_loop(const boost::mpi::communicator& comm, const node_doorbells& bells) : link_(comm, bells) {}

  int run() {
    return link_.serve([this] {
      const bool down = take_from_master();
      return take_results() || down;
    });
  }

 private:
  // The master's messages, each passed on to the worker it names as it came.
  bool take_from_master() {
    bool any = false;
    const boost::mpi::communicator& comm = link_.comm();
    while (auto status = comm.iprobe(group_link::master_rank, static_cast<int>(tag::chunk))) {
      receive_message(comm, *status, received_);
      any = true;
      const auto [route, message] = unwrap_routed(received_);
      if (route.rank == comm.rank() && route.tag == static_cast<int>(tag::exit)) link_.exit_with(group_link::exit_code_of(message));
      else link_.pass_down(route, message);
    }
    return any;
  }

  // The workers' results, each wrapped for the master once it is all here (group_link::incoming).
  bool take_results() {
    const bool posted = link_.incoming().post_arrived(link_.comm(), static_cast<int>(tag::results),
                                                      [this] { return std::exchange(spare_, byte_buffer()); });
    const bool taken = link_.incoming().take_ready([this](int from, byte_buffer&& message) {
      link_.send_up(from, static_cast<int>(tag::results), message);
      spare_ = std::move(message);
      trim_message_buffer(spare_);
    });
    return posted || taken;
  }

  group_link link_;
  byte_buffer spare_;  // the next receive's buffer
  byte_buffer received_;
};

}  // namespace

int relay(const boost::mpi::communicator& comm, const node_doorbells& bells) {
  use_fine_timer_slack();
  return relay_loop(comm, bells).run();
}

}  // namespace mpipool::detail
