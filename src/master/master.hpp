#pragma once
// The pool master: the loop that wires the pool's parts together. Each turn takes callers'
// commands from the inbox (command_inbox.hpp), receives the workers' results messages, and lets
// the dispatcher (dispatcher.hpp: the job and worker tables, the policy, the sends) hand them to
// their jobs and send the next chunks; then it picks how to wait for the next event. The turn
// runs on the progress thread, or on a caller that drives its own apply while the pool is idle
// (submit_and_drive); a mutex makes sure only one runs it, so the loop is the only code on the
// master rank that calls MPI while a pool runs, and MPI_THREAD_SERIALIZED is enough. The
// caller's own MPI calls wait for the progress thread to park in an mpi_section.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/mpi/communicator.hpp>
#include <boost/mpi/request.hpp>

#include "wire/doorbell.hpp"
#include "wire/incoming_queue.hpp"
#include "wire/items_done.hpp"
#include "worker/isolated_executor.hpp"
#include "mpipool/detail/job.hpp"
#include "mpipool/detail/job_control.hpp"
#include "master/command_inbox.hpp"
#include "master/dispatcher.hpp"
#include "master/lifecycle.hpp"
#include "worker/local_worker.hpp"
#include "observe/progress_display.hpp"
#include "observe/trace_recorder.hpp"
#include "wire/transport.hpp"
#include "wire/topology.hpp"
#include "wire/wait.hpp"
#include "mpipool/errors.hpp"
#include "mpipool/options.hpp"

namespace mpipool::detail {

class master final : public job_control, public std::enable_shared_from_this<master> {
 public:
  // With a communicator of one rank, the master runs the tasks itself, on a task thread. The
  // master does not own `comm`: whoever made it frees it, on its own thread, after join(), so
  // that no MPI call happens wherever the last owner of the master happens to let it go. The
  // same holds for `bells`, which must outlive the progress thread. `isolation` is for the
  // task thread of a one-rank pool.
  // `cores_shared`: the master's node has more ranks than cores (core_sharing.hpp).
  // `topology`: which ranks work, and through which relay (wire/topology.hpp); by default every
  // rank but 0 works and talks to the master itself.
  master(const boost::mpi::communicator& comm, const node_doorbells& bells, const isolation_settings& isolation = {},
         bool cores_shared = false, std::optional<pool_topology> topology = std::nullopt);
  ~master();
  master(const master&) = delete;
  master& operator=(const master&) = delete;

  // Starts the progress thread and waits until every worker ran the initializer.
  // Throws initializer_error (after stopping) if one failed. The options' progress display and
  // trace (or the environment's) are set up here.
  void start(const pool_options& options);

  // Processes that run tasks: the worker ranks, or the master itself when alone.
  std::size_t worker_count() const { return topology_.workers().size(); }
  // Whether tasks run in helper processes (isolation_from: the options or the environment).
  bool isolated() const { return isolated_; }
  // Whether the pool shows its calls' progress; known once start() has run.
  bool shows_progress() const { return display_ != nullptr; }
  // Whether the pool runs on one rank, the master's own process running the tasks.
  bool is_local() const { return local_; }
  std::thread::id progress_thread() const { return thread_id_; }
  // The pool's state, as callers asked for it: close() and terminate() move it at once; the
  // progress thread acts on it, then stops.
  pool_state state() const { return inbox_.state(); }

  // Returns the job's id.
  std::uint64_t submit(std::unique_ptr<job> work);
  // As submit, for a caller that will wait for the job's result at once (a plain apply). When
  // the pool has nothing else to do, the caller runs the loop's turns itself until `done()`:
  // it sends the chunk and takes the result on its own thread, so that the round trip costs no
  // hand-off to the progress thread and back. It stops driving, and leaves the job to the
  // progress thread, once anything else needs the loop, or after backoff::spin_for. Returns the
  // job's id; the caller then waits for its result as after submit.
  std::uint64_t submit_and_drive(std::unique_ptr<job> work, const std::function<bool()>& done);
  void cancel(std::uint64_t job_id) override;
  void poke() override;
  void close();      // finish every submitted job, then stop
  void terminate();  // fail unfinished jobs and cut running chunks short; returns once done so
  // The body returned: terminate what it left unfinished, as Python's `with Pool()` does,
  // without running its callbacks (they may refer to the body's locals, which are gone), and
  // say so on stderr if there was any.
  void end_of_body();
  void join();       // waits until the progress thread has stopped
  // After join: tells every worker to leave its serve loop and return `exit_code`.
  void release_workers(int exit_code);

  // The caller's own MPI code (mpi_section). Whether MPI grants MPI_THREAD_MULTIPLE, in which
  // case the progress thread never has to step aside.
  bool caller_mpi_is_free() const { return thread_multiple_; }
  // Asks the progress thread to park outside any MPI call until every section has ended, and
  // returns once it is parked: true. False (and nothing held) if the pool has stopped, so that
  // its thread makes no MPI call any more.
  bool enter_mpi_section();
  void leave_mpi_section();

 private:
  void progress();
  void serve_until_stopped();
  // Whether a caller may drive its own call now (turn_mutex_ held, and the inbox's lock, with
  // nothing in it): nothing is in the tables, and nothing is watched turn by turn (a trace, a
  // progress display).
  bool caller_may_drive() const;
  // Locks `turn` if the progress thread leaves it free within a few tries.
  static bool take_turn_soon(std::unique_lock<std::mutex>& turn);
  // The caller's turns (turn_mutex_ held): returns whether `done()` came true before anything
  // else needed the loop or the spin ended.
  bool drive_until(const std::function<bool()>& done);
  // Something failed that no single call can be blamed for: fail every pending call, report,
  // and abort the job.
  [[noreturn]] void fail_everything(const std::exception_ptr& error);
  bool take_commands();
  // Receives the results messages that have come, and hands each to the dispatcher.
  bool poll_messages();
  bool take_local_results();
  // A message from a relay: a worker's results or items-done count, wrapped.
  void handle_routed(int relay, std::span<const char> wrapped);
  bool should_stop() const;
  // How the progress thread waits for its next event, once a turn found nothing to do.
  enum class idle_wait {
    // Something it waits for rings no bell (a send in progress, a busy worker off the node):
    // spin, then sleep in steps that grow.
    poll,
    // Every event rings its bell: spin (a reply may be due within microseconds), then block.
    spin_then_block,
    // Every worker runs a chunk with its next message already queued, enough work for
    // block_when_queued_for, on this node: no worker needs the master before then, and the
    // results ring. Spinning would only take the core (measured, 2 ranks at chunks of 4096
    // ints: the progress thread spun 3/4 of the time), so block at once.
    block,
    // As block, with a send still in progress: for no longer than the backoff's sleeps.
    block_briefly,
  };
  // Several wake-ups of a blocked thread (about 12 us each): a worker whose queue holds less
  // could run dry before the master is back (1 worker, bundles of 14 chunks of 64 ints, about
  // 13 us a message: 9% fewer items per second when the master blocked).
  static constexpr double block_when_queued_for = 50e-6;
  // `how`: as how_to_wait(), read while the turn was held.
  void wait_for_event(event_wait& idle, idle_wait how);
  idle_wait how_to_wait() const;

  // SIGTERM or SIGINT reached this process: fail every unfinished call with pool_interrupted,
  // cut running chunks short and refuse new calls; then, once the chunks in flight are back or
  // stopped_calls_wait has passed, say how far each call came.
  void stop_on_signal(int signal, bool run_callbacks);
  void report_stopped_calls_when_due();
  // The items that workers have finished in chunks whose results are still out, by job: for
  // the progress display and the stop line only.
  using items_by_job = progress_display::items_by_job;
  items_by_job items_in_flight() const;
  // Results came back for a job no longer in the tables: counted for the stop line if a stop
  // signal failed it.
  void count_late_items(std::uint64_t job_id, std::uint64_t items);
  // Receives the items_done messages of workers whose count is not in the node's page.
  void take_items_done_messages();
  // A worker's count of finished items from its latest items_done message (counts only grow).
  void note_items_done(int rank, std::uint64_t finished);
  // With progress or tracing on: one turn of the loop ended (busy if `progressed`).
  void observe_turn(bool progressed);
  // The pool stopped: the trace is written and the summary printed.
  void report_run();

  boost::mpi::communicator comm_;  // attached, not owned
  const int size_;  // cached: callers' threads must not call MPI
  const bool local_;
  const pool_topology topology_;
  const std::string host_;
  // The progress thread waits on this bell for everything: worker results, callers' commands
  // and the task thread's results. One in the node's shared page, or, without one, its own:
  // then only callers and the task thread ring it, and busy workers are polled.
  doorbell own_bell_;
  doorbell* const bell_;
  // Indexed by rank: the bell of the rank a message for it goes to (itself, or its relay); null
  // where that rank has none.
  const std::vector<doorbell*> worker_bells_;
  // The task thread's count of items done, in a one-rank pool.
  items_done_counter local_items_done_;
  // Each worker's own count of items done (items_done.hpp), indexed by rank; null where none.
  const std::vector<items_done_counter*> worker_items_done_;
  // Where there is none, the count from its latest items_done message (progress shown only).
  std::vector<std::uint64_t> items_done_sent_;
  std::chrono::steady_clock::time_point items_done_taken_{};
  static constexpr std::chrono::milliseconds take_items_done_every{100};
  const bool thread_multiple_;  // queried before the progress thread starts
  const bool isolated_;

  // Where callers' threads meet the progress thread: their commands, and the pool's state.
  command_inbox inbox_;

  std::atomic<bool> started_{false};
  std::mutex join_mutex_;  // guards thread_ once started: join() and the destructor may race
  std::thread thread_;
  std::thread::id thread_id_;

  // Held by whoever runs a turn of the loop: the progress thread, or a caller that drives its
  // own apply. What follows is owned by the progress thread, and read or written only by the
  // holder of this mutex (or by the progress thread once the pool stopped taking calls).
  std::mutex turn_mutex_;
  std::unique_ptr<local_worker> local_worker_;  // with one rank only
  dispatcher dispatcher_;
  bool closing_ = false;      // the inbox said closing, for the turn's own reads
  bool terminating_ = false;  // terminating was acted on, likewise
  int stopped_by_signal_ = 0;  // the stop signal acted on, or 0
  // The calls a stop signal failed, until the line that says how far each came: the items
  // done before the stop, and those of its chunks cut short as they come back.
  struct stopped_call {
    std::uint64_t id;
    const char* method;
    std::string task;
    std::uint64_t done;
    std::optional<std::uint64_t> total;
  };
  std::vector<stopped_call> stopped_calls_;
  std::chrono::steady_clock::time_point stopped_calls_due_{};
  static constexpr std::chrono::seconds stopped_calls_wait{2};
  incoming_queue incoming_;  // results messages being received (poll_messages)
  // Both null unless asked for: then the loop costs one branch per turn and per chunk.
  std::unique_ptr<trace_recorder> trace_;
  std::unique_ptr<progress_display> display_;
};

}  // namespace mpipool::detail
