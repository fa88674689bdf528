#include "worker/worker.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

#include <boost/mpi/environment.hpp>
#include <boost/mpi/request.hpp>
#include <boost/mpi/status.hpp>

#include "wire/doorbell.hpp"
#include "worker/executor.hpp"
#include "worker/group_communicators.hpp"
#include "worker/isolated_executor.hpp"
#include "worker/items_done_publisher.hpp"
#include "mpipool/detail/protocol.hpp"
#include "mpipool/detail/outcomes.hpp"
#include "wire/transport.hpp"
#include "wire/wait.hpp"

namespace mpipool::detail {

namespace {

// Looks for a cancel of the running job between items, at most once a millisecond, so that
// tiny tasks do not pay for a probe each. The master may have sent more chunks of a cancelled
// job before the cancel (it keeps the next chunk in the worker's queue): the watch remembers
// cancelled jobs, so that such a chunk ends before its first item, until the master says the
// job is forgotten (it then sends no more of it). A cancel of every_job (terminate()) covers
// every job from then on.
class cancel_watch {
 public:
  cancel_watch(const boost::mpi::communicator& comm, int master_rank) : comm_(comm), master_rank_(master_rank) {}

  bool operator()(std::uint64_t job) {
    if (terminated_ || (!cancelled_.empty() && std::ranges::find(cancelled_, job) != cancelled_.end())) return true;
    look();
    return terminated_ || std::ranges::find(cancelled_, job) != cancelled_.end();
  }

  // Whether the pool is being terminated: an isolated item running is then killed.
  bool terminated() {
    if (!terminated_) look();
    return terminated_;
  }

  void receive_cancel() {
    std::uint64_t job = 0;
    comm_.recv(master_rank_, static_cast<int>(tag::cancel), reinterpret_cast<char*>(&job), sizeof job);
    if (job == every_job) terminated_ = true;
    else if (std::ranges::find(cancelled_, job) == cancelled_.end()) cancelled_.push_back(job);
  }

  // Also done at each look: moving this rank's own messages on.
  void also_at_each_look(std::function<void()> hook) { at_look_ = std::move(hook); }

  // Before running a chunk: the jobs it says to forget will send no more chunks.
  void before_chunk(std::span<const char> chunk) {
    if (cancelled_.empty()) return;
    for (std::uint64_t job : read_chunk(chunk).forget) std::erase(cancelled_, job);
  }

 private:
  // Receives the cancels that have come, at most once a millisecond.
  void look() {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_look_ < std::chrono::milliseconds(1)) return;
    last_look_ = now;
    if (at_look_) at_look_();
    // Open MPI's first probe may only pull pending messages in: probe twice before saying no.
    const int cancel = static_cast<int>(tag::cancel);
    while (comm_.iprobe(master_rank_, cancel) || comm_.iprobe(master_rank_, cancel)) receive_cancel();
  }

  const boost::mpi::communicator& comm_;
  const int master_rank_;
  std::chrono::steady_clock::time_point last_look_{};
  std::vector<std::uint64_t> cancelled_;  // few at a time: a vector beats a set
  bool terminated_ = false;
  std::function<void()> at_look_;
};

// The worker's results on their way to the master. A large message goes only as the master
// receives it, and the master, busy or asleep, may take a while: the worker meanwhile runs the
// next chunk it was sent, into a second buffer, and waits for the first only when that one is
// ready to go. Measured, 1 worker with chunks of 256, 1024 and 4096 ints: 1.9x, 1.2x and 1.1x
// the items per second of waiting at once. Where a message moves only while its sender calls
// MPI (TCP, shared memory without single-copy reads), it moves on at the worker's looks for
// cancels (once a millisecond, between items), and the master, which receives without waiting
// (incoming_message), serves the others meanwhile; a group's relay receives the same way. A
// worker off its master's node sends as before (`overlap` false).
class results_sender {
 public:
  results_sender(const boost::mpi::communicator& comm, int master_rank, doorbell* master_bell, bool overlap)
      : comm_(comm), master_rank_(master_rank), master_bell_(master_bell), overlap_(overlap) {}

  // Sends `results` and rings the master; `results` comes back empty, with the capacity of the
  // buffer whose message has gone.
  void send(byte_buffer& results) {
    finish();
    // A message sent in parts is received whole, in a receive that waits for every part
    // (incoming_message): where parts move only as this rank calls MPI, the receiver would wait
    // on it through its next chunk, so such a message goes before the next chunk starts.
    const bool in_parts = results.size() > message_part_limit();
    sending_.emplace(comm_, master_rank_, static_cast<int>(tag::results), std::move(results));
    if (master_bell_) master_bell_->ring();
    if (!overlap_ || in_parts) finish();
    results = std::move(spare_);
    results.clear();
    spare_ = byte_buffer{};
  }

  // Whether a message is still on its way: the master rings no one when it takes it, so a
  // wait meanwhile must poll.
  bool pending() {
    if (sending_ && sending_->test()) take_back();
    return sending_.has_value();
  }

  // Waits until the message on its way has gone.
  void finish() {
    if (!sending_) return;
    backoff waiting;
    while (!sending_->test()) waiting.pause();
    take_back();
  }

 private:
  void take_back() {
    spare_ = sending_->release();
    trim_message_buffer(spare_);
    sending_.reset();
  }

  const boost::mpi::communicator& comm_;
  const int master_rank_;
  doorbell* const master_bell_;
  const bool overlap_;
  std::optional<outgoing_message> sending_;
  byte_buffer spare_;
};

// The serve loop, with the executor that runs the chunks: in this process, or in a helper.
template <class Executor>
int serve_with(const boost::mpi::communicator& comm, const node_doorbells& bells, Executor& executor, int master_rank) {
  cancel_watch watch(comm, master_rank);
  // Off the master's node, the count goes as a message; eight bytes go at once (eagerly).
  items_done_publisher items_done(bells.items_done_of(comm.rank()), [&comm, master_rank](std::uint64_t finished) {
    comm.send(master_rank, static_cast<int>(tag::items_done), finished);
  });
  const std::function<bool(std::uint64_t)> should_stop = [&watch, &items_done](std::uint64_t job) {
    items_done.between_items();  // asked between items: a moment to tell the master how far it came
    return watch(job);
  };
  if constexpr (std::is_same_v<Executor, isolated_executor>) executor.kill_items_when([&watch] { return watch.terminated(); });
  byte_buffer inbox;
  byte_buffer results;
  byte_buffer section;  // one chunk's results, in a bundle
  // The master rings this rank's bell after every message it sends here.
  event_wait idle(bells.of(comm.rank()));
  // The pool's master or this group's relay, on this node.
  const bool overlap = bells.of(master_rank) != nullptr;
  results_sender sender(comm, master_rank, bells.of(master_rank), overlap);
  watch.also_at_each_look([&sender] { sender.pending(); });
  for (;;) {
    idle.arm();
    auto status = comm.iprobe(master_rank, boost::mpi::any_tag);
    if (!status) {
      idle.pause(!sender.pending());
      continue;
    }
    idle.reset();
    switch (static_cast<tag>(status->tag())) {
      case tag::exit: {
        int exit_code = 0;
        comm.recv(master_rank, status->tag(), exit_code);
        sender.finish();  // the master took every result before it said exit: this is at once
        return exit_code;
      }
      case tag::cancel:  // for a chunk that has finished, or is still to come
        watch.receive_cancel();
        break;
      default: {
        receive_message(comm, *status, inbox);
        // One chunk, or a bundle of them: one results section each, in one reply.
        std::span<const char> rest = inbox;
        results.clear();
        while (!rest.empty()) {
          const std::span<const char> chunk = take_section<chunk_header>(rest);
          const bool alone = chunk.size() == inbox.size();
          byte_buffer& out = alone ? results : section;
          watch.before_chunk(chunk);
          items_done.chunk_starts(chunk);
          executor.execute(chunk, out, should_stop);
          items_done.chunk_ended(out);
          compact_fixed_outcomes(out);
          if (alone) break;
          set_section_size<results_header>(out, 0);
          results.insert(results.end(), out.begin(), out.end());
        }
        trim_message_buffer(inbox);
        sender.send(results);
      }
    }
  }
}

}  // namespace

int serve(const boost::mpi::communicator& comm, const node_doorbells& bells, const isolation_settings& isolation,
          int master_rank) {
  use_fine_timer_slack();
  if (isolation.isolated) {
    isolated_executor executor(boost::mpi::environment::processor_name(), isolation);
    return serve_with(comm, bells, executor, master_rank);
  }
  task_executor executor(boost::mpi::environment::processor_name());
  group_communicators groups(comm, boost::mpi::environment::processor_name());  // freed on leaving
  executor.use_groups(&groups);
  return serve_with(comm, bells, executor, master_rank);
}

}  // namespace mpipool::detail
