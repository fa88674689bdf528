#include "mpipool/detail/worker.hpp"

#include <chrono>
#include <cstdint>

#include <boost/mpi/environment.hpp>
#include <boost/mpi/request.hpp>
#include <boost/mpi/status.hpp>

#include "mpipool/detail/executor.hpp"
#include "mpipool/detail/protocol.hpp"
#include "mpipool/detail/wait.hpp"

namespace mpipool::detail {

namespace {

constexpr int master_rank = 0;

// Looks for a cancel of the running job between items, at most once a millisecond, so that
// tiny tasks do not pay for a probe each.
class cancel_watch {
 public:
  explicit cancel_watch(const boost::mpi::communicator& comm) : comm_(comm) {}

  bool operator()(std::uint64_t job) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_look_ < std::chrono::milliseconds(1)) return false;
    last_look_ = now;
    // Open MPI's first probe may only pull pending messages in: probe twice before saying no.
    bool cancelled = false;
    const int cancel = static_cast<int>(tag::cancel);
    while (comm_.iprobe(master_rank, cancel) || comm_.iprobe(master_rank, cancel))
      cancelled |= receive_cancel(comm_) == job;
    return cancelled;
  }

  static std::uint64_t receive_cancel(const boost::mpi::communicator& comm) {
    std::uint64_t job = 0;
    comm.recv(master_rank, static_cast<int>(tag::cancel), reinterpret_cast<char*>(&job), sizeof job);
    return job;
  }

 private:
  const boost::mpi::communicator& comm_;
  std::chrono::steady_clock::time_point last_look_{};
};

void send_and_wait(const boost::mpi::communicator& comm, const byte_buffer& bytes) {
  check_message_size(bytes.size());
  auto request = comm.isend(master_rank, static_cast<int>(tag::results), bytes.data(),
                            static_cast<int>(bytes.size()));
  backoff waiting;
  while (!request.test()) waiting.pause();
}

}  // namespace

int serve(const boost::mpi::communicator& comm) {
  use_fine_timer_slack();
  task_executor executor(boost::mpi::environment::processor_name());
  cancel_watch watch(comm);
  const std::function<bool(std::uint64_t)> should_stop = [&watch](std::uint64_t job) { return watch(job); };
  byte_buffer inbox;
  byte_buffer results;
  backoff idle;
  for (;;) {
    auto status = comm.iprobe(master_rank, boost::mpi::any_tag);
    if (!status) {
      idle.pause();
      continue;
    }
    idle.reset();
    switch (static_cast<tag>(status->tag())) {
      case tag::exit: {
        int exit_code = 0;
        comm.recv(master_rank, status->tag(), exit_code);
        return exit_code;
      }
      case tag::cancel:  // for a chunk that had already finished
        cancel_watch::receive_cancel(comm);
        break;
      default: {
        const int size = status->count<char>().value_or(0);
        inbox.resize(static_cast<std::size_t>(size));
        comm.recv(master_rank, status->tag(), inbox.data(), size);
        executor.execute(inbox, results, should_stop);
        send_and_wait(comm, results);
      }
    }
  }
}

}  // namespace mpipool::detail
