#pragma once
// Where callers' threads meet the pool's progress thread: the calls they submit, the jobs they
// cancel, their pokes, close() and terminate(), their mpi_sections, and a caller that drives
// its own apply. Everything here is under one mutex, and nothing here calls MPI: the progress
// thread (or a driving caller) takes the commands at the start of each turn and acts on them
// in master.cpp. The progress thread's own ways to wait for callers are here too: parked for
// an mpi_section, and asleep while a caller drives.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "master/lifecycle.hpp"
#include "mpipool/detail/job.hpp"
#include "mpipool/errors.hpp"
#include "wire/doorbell.hpp"
#include "wire/wait.hpp"

namespace mpipool::detail {

class command_inbox {
 public:
  // `bell`: the progress thread's, rung with every command; it must outlive the pool's run.
  explicit command_inbox(doorbell& bell) : bell_(bell) {}
  command_inbox(const command_inbox&) = delete;
  command_inbox& operator=(const command_inbox&) = delete;

  using queued_job = std::pair<std::uint64_t, std::unique_ptr<job>>;

  // --- Callers' side ---------------------------------------------------------------------------

  pool_state state() const { return lifecycle_.state(); }
  // Queues a call; returns its id. Throws std::logic_error once the pool takes no calls.
  std::uint64_t submit(std::unique_ptr<job> work);
  // A call whose caller would drive it (master::submit_and_drive), the loop's turn held. If
  // `may_drive()`, asked with nothing else queued, the call is the caller's to put in the tables
  // and `work` is left as it is: returns its id and true. Otherwise it is queued as by submit.
  std::pair<std::uint64_t, bool> submit_or_drive(std::unique_ptr<job>& work, const std::function<bool()>& may_drive);
  // The driving caller is done: with its result (`finished`), the progress thread sleeps on for
  // caller_lease, as the caller's next apply is likely to come; without it, it takes over now.
  void end_drive(bool finished);
  // Asks the progress thread to drop a job, and waits until it has; returns at once when the
  // caller's own mpi_section holds it parked (it drops the job before anything else).
  void cancel(std::uint64_t job_id);
  void poke();
  void local_results_ready();  // the one-rank pool's task thread has results
  void close();
  // Asks to terminate, and waits until the progress thread has failed every unfinished call.
  void terminate();
  // The terminate request that follows is the end of the pool's body: no callbacks run.
  void mark_body_ended();
  // The caller's mpi_section: parks the progress thread outside MPI (see master.hpp).
  bool enter_mpi_section();
  void leave_mpi_section();
  // Waits until every worker ran the initializer, or the pool stopped; the first failure.
  std::optional<remote_failure> wait_for_setup();

  // --- The progress thread's side (and a driving caller's) -------------------------------------

  // Whether anything waits for the progress thread.
  bool has_command() const;
  // What the commands ask, taken at once.
  struct commands {
    std::vector<queued_job> arrived;
    std::vector<std::uint64_t> cancelled;
    bool poked = false;
    bool closing = false;     // close() or terminate() was asked: no stream holds back any more
    pool_state asked{};       // the state callers asked for
    bool body_ended = false;  // the terminate request is the body's end
  };
  // Nothing if there is no command.
  std::optional<commands> take();
  // The loop looks at the one-rank pool's task thread's results now: a new ring is a new command.
  void local_results_taken();
  void cancels_handled(std::size_t count);
  void terminated();  // every unfinished call failed: terminate() returns
  // A stop signal was acted on: no new calls, and the signal is no command any more.
  void refuse_calls_after_signal();
  void setup_finished(const std::optional<remote_failure>& failure);
  // The pool stopped: no more calls, no more rings. Returns the calls that came too late, and
  // whether the body's end asked for the stop.
  std::pair<std::vector<queued_job>, bool> stop();
  void wake_waiters();
  // Parks while callers' mpi_sections are open (the turn held, so no caller drives either).
  void step_aside_while_asked();
  // Sleeps while a caller drives, and for the lease after; returns whether it slept.
  bool sleep_while_caller_drives();

  // Long, because each look of the sleeping progress thread takes a core from the caller or a
  // worker (with 3 ranks on 2 cores, looks every 200 us cost it 15% of a core); harmless, because
  // the pool is idle while it lasts: a command ends it at once, and only a stop signal (which
  // rings the bell alone) waits for its end.
  static constexpr std::chrono::microseconds caller_lease{2000};

 private:
  void ring();  // mutex_ held
  bool has_command_locked() const;  // mutex_ held

  doorbell& bell_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;  // callers wait here
  std::condition_variable resume_;   // the progress thread, parked or asleep, waits here
  std::vector<queued_job> incoming_;
  std::vector<std::uint64_t> cancels_;
  std::uint64_t next_job_id_ = setup_job + 1;
  std::uint64_t cancels_done_ = 0;  // cancel requests handled so far
  std::uint64_t cancels_asked_ = 0;
  bool poked_ = false;
  bool local_results_ready_ = false;
  std::size_t mpi_sections_ = 0;  // open mpi_sections, over every caller thread
  bool parked_ = false;           // the progress thread stepped aside for them
  bool caller_driving_ = false;   // a caller runs the loop's turns (master::submit_and_drive)
  // Until then the progress thread sleeps unless a command comes: a caller drove the loop lately.
  std::chrono::steady_clock::time_point lease_end_{};
  lifecycle lifecycle_;  // moved under mutex_, so that submit() sees it atomically with its enqueue
  // How far the progress thread has acted on lifecycle_: closing once it stopped holding back
  // streams, terminating once it failed every unfinished job.
  pool_state acted_on_ = pool_state::running;
  bool body_ended_ = false;     // the terminate request comes from end_of_body()
  bool signal_acted_on_ = false;
  bool setup_done_ = false;
  std::optional<remote_failure> setup_failure_;
};

}  // namespace mpipool::detail
