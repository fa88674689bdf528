#include "master/master.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <string>
#include <utility>

#include <boost/mpi/environment.hpp>
#include <boost/mpi/status.hpp>

#include "faults/crash_report.hpp"
#include "faults/fault_injection.hpp"
#include "faults/stop_signals.hpp"

namespace mpipool::detail {

namespace {
bool mpi_grants_thread_multiple() {
  int provided = MPI_THREAD_SINGLE;
  MPI_Query_thread(&provided);
  return provided >= MPI_THREAD_MULTIPLE;
}

std::vector<doorbell*> bells_by_rank(const node_doorbells& bells, const pool_topology& topology, int size) {
  std::vector<doorbell*> by_rank(static_cast<std::size_t>(size), nullptr);
  for (int rank = 1; rank < size; ++rank) by_rank[static_cast<std::size_t>(rank)] = bells.of(topology.route_to(rank));
  return by_rank;
}

// The workers' items-done counts, by rank: in the node's page, or the task thread's `local`.
std::vector<items_done_counter*> items_done_by_rank(const node_doorbells& bells, int size, items_done_counter& local) {
  if (size == 1) return {&local};
  std::vector<items_done_counter*> by_rank(static_cast<std::size_t>(size), nullptr);
  for (int rank = 1; rank < size; ++rank) by_rank[static_cast<std::size_t>(rank)] = bells.items_done_of(rank);
  return by_rank;
}

}  // namespace

master::master(const boost::mpi::communicator& comm, const node_doorbells& bells, const isolation_settings& isolation,
               bool cores_shared, std::optional<pool_topology> topology)
    : comm_(static_cast<MPI_Comm>(comm), boost::mpi::comm_attach),
      size_(comm_.size()),
      local_(size_ == 1),
      topology_(topology ? std::move(*topology) : pool_topology(size_, 0)),
      host_(boost::mpi::environment::processor_name()),
      bell_(bells.of(0) ? bells.of(0) : &own_bell_),
      worker_bells_(bells_by_rank(bells, topology_, size_)),
      worker_items_done_(items_done_by_rank(bells, size_, local_items_done_)),
      thread_multiple_(mpi_grants_thread_multiple()),
      isolated_(isolation.isolated),
      inbox_(*bell_),
      local_worker_(local_ ? std::make_unique<local_worker>(host_, isolation, local_items_done_,
                                                            [this] { inbox_.local_results_ready(); })
                           : nullptr),
      dispatcher_(comm_, topology_, worker_bells_, local_worker_.get(), cores_shared,
                  {.setup_finished = [this](const std::optional<remote_failure>& failure) { inbox_.setup_finished(failure); },
                   .late_items = [this](std::uint64_t job, std::uint64_t items) { count_late_items(job, items); }}) {
  items_done_sent_.resize(static_cast<std::size_t>(size_));
}

master::~master() {
  if (started_.load()) {
    terminate();
    join();
  }
}

void master::start(const pool_options& options) {
  const bound_call& initializer = options.initializer;
  std::string trace_path = options.trace_path;
  if (const char* env = std::getenv("MPIPOOL_TRACE"); trace_path.empty() && env) trace_path = env;
  display_ = progress_display::from_settings(options.progress);
  if (!trace_path.empty() || display_)
    trace_ = std::make_unique<trace_recorder>(std::move(trace_path), static_cast<std::size_t>(size_),
                                              trace_recorder::clock::now());
  dispatcher_.observe(trace_.get(), display_.get());
  {
    std::lock_guard lock(join_mutex_);
    thread_ = std::thread([this, &initializer] {
      use_fine_timer_slack();
      ring_on_stop_signal(bell_);
      try {
        dispatcher_.send_setup(initializer, display_ != nullptr);
      } catch (...) {
        fail_everything(std::current_exception());
      }
      progress();
    });
    thread_id_ = thread_.get_id();
  }
  started_.store(true);
  std::optional<remote_failure> failure = inbox_.wait_for_setup();
  if (failure) {
    terminate();
    join();
    throw initializer_error(std::move(*failure));
  }
}

std::uint64_t master::submit(std::unique_ptr<job> work) { return inbox_.submit(std::move(work)); }

std::uint64_t master::submit_and_drive(std::unique_ptr<job> work, const std::function<bool()>& done) {
  std::unique_lock turn(turn_mutex_, std::defer_lock);
  // An idle progress thread spins a while after each event, a turn after a turn, a yield
  // between them: a few tries find the loop free. A busy one keeps it: it takes the call.
  if (!take_turn_soon(turn)) return submit(std::move(work));
  const auto [id, drives] = inbox_.submit_or_drive(work, [this] { return caller_may_drive(); });
  if (!drives) return id;
  bool finished = false;
  try {
    // Straight into the tables, not through the commands: whatever other threads send from
    // now on stays there, for the progress thread.
    dispatcher_.admit(id, std::move(work));
    finished = drive_until(done);
  } catch (...) {  // as on the progress thread: the transport or the tables failed
    fail_everything(std::current_exception());
  }
  inbox_.end_drive(finished);
  return id;
}

bool master::take_turn_soon(std::unique_lock<std::mutex>& turn) {
  constexpr int tries = 8;
  for (int attempt = 0; attempt < tries; ++attempt) {
    if (turn.try_lock()) return true;
    std::this_thread::yield();
  }
  return false;
}

bool master::caller_may_drive() const {
  return !local_ && !trace_ && dispatcher_.setup_done() && !closing_ && !terminating_ && dispatcher_.idle() &&
         stopped_calls_.empty();
}

bool master::drive_until(const std::function<bool()>& done) {
  backoff waiting;  // its spin only: past it the caller leaves the call to the progress thread
  const auto give_up = std::chrono::steady_clock::now() + backoff::spin_for;
  for (;;) {
    dispatcher_.dispatch(false);  // nothing is closing while a caller drives
    poll_messages();
    dispatcher_.complete_sends();
    if (done()) return true;
    if (inbox_.has_command()) return false;  // another thread's command: the progress thread's work
    const auto now = std::chrono::steady_clock::now();
    if (now >= give_up) return false;  // a long task: wait blocked
    if (waiting.hot(now)) cpu_relax();
    else std::this_thread::yield();
  }
}

void master::cancel(std::uint64_t job_id) {
  if (std::this_thread::get_id() == thread_id_) {  // from a callback: the job is ours to drop
    dispatcher_.drop(job_id);
    return;
  }
  inbox_.cancel(job_id);
}

void master::poke() { inbox_.poke(); }

void master::close() { inbox_.close(); }

void master::terminate() {
  if (started_.load()) inbox_.terminate();
}

void master::end_of_body() {
  inbox_.mark_body_ended();
  terminate();
}

void master::join() {
  std::lock_guard lock(join_mutex_);
  if (thread_.joinable()) thread_.join();
}

void master::release_workers(int exit_code) {
  auto tell = [&](int rank) {
    const int to = topology_.route_to(rank);
    if (!topology_.is_relay(to)) {
      comm_.send(rank, static_cast<int>(tag::exit), exit_code);
    } else {  // through its relay, which leaves once told itself, after its workers
      byte_buffer wrapped;
      wrap_routed(wrapped, {rank, static_cast<int>(tag::exit)},
                  std::span<const char>(reinterpret_cast<const char*>(&exit_code), sizeof exit_code));
      comm_.send(to, static_cast<int>(tag::chunk), wrapped.data(), static_cast<int>(wrapped.size()));
    }
    dispatcher_.sends().ring(rank);
  };
  if (local_) return;
  for (int rank : topology_.workers()) tell(rank);
  for (int relay : topology_.relays()) tell(relay);
}

bool master::enter_mpi_section() { return inbox_.enter_mpi_section(); }

void master::leave_mpi_section() { inbox_.leave_mpi_section(); }

void master::progress() {
  try {
    serve_until_stopped();
    // No caller drives a pool that stopped taking calls; the tables are this thread's alone.
    std::lock_guard turn(turn_mutex_);
    // Every chunk is back, so no more will come: none is left for a later pool on this communicator.
    if (display_ && !local_) take_items_done_messages();
    report_run();
    ring_on_stop_signal(nullptr);  // no one waits on the bell any more
    auto [late, body_ended] = inbox_.stop();
    // Nothing may be left waiting for a result that will never come.
    dispatcher_.abandon_all(!body_ended, nullptr, std::move(late));
    // Every chunk is back: the journals of stopped calls hold what came back. Each is synced
    // and closed as its job goes, before the body's thread can return from run().
    dispatcher_.close_journals();
  } catch (...) {
    fail_everything(std::current_exception());
  }
}

void master::serve_until_stopped() {
  event_wait idle(bell_);
  for (;;) {
    if (inbox_.sleep_while_caller_drives()) continue;
    std::unique_lock turn(turn_mutex_, std::try_to_lock);
    if (!turn) {  // a caller took the loop a moment ago: it says so at once, in the inbox
      std::this_thread::yield();
      continue;
    }
    // Parked with the turn held: no caller drives (or calls MPI) during an mpi_section.
    inbox_.step_aside_while_asked();  // between steps: no MPI call of this thread is under way
    idle.arm();  // before looking: a ring from here on ends the wait at once
    bool progressed = take_commands();
    progressed |= poll_messages();
    if (!terminating_) progressed |= dispatcher_.dispatch(closing_);
    progressed |= dispatcher_.complete_sends();
    if (!stopped_calls_.empty()) report_stopped_calls_when_due();
    if (should_stop()) break;
    const idle_wait how = progressed ? idle_wait::spin_then_block : how_to_wait();
    turn.unlock();
    if (progressed) idle.reset();
    else wait_for_event(idle, how);
    // With a trace no caller drives (caller_may_drive): the tables are this thread's here.
    if (trace_) observe_turn(progressed);
  }
}

void master::observe_turn(bool progressed) {
  const auto now = trace_recorder::clock::now();
  trace_->master_turn(progressed, now);
  if (!display_) return;
  // Workers send items_done messages only while progress is shown: taken a few times a
  // second, not at every turn, to keep the loop's cost.
  if (!local_ && now - items_done_taken_ >= take_items_done_every) {
    items_done_taken_ = now;
    take_items_done_messages();
  }
  display_->show(dispatcher_.jobs(), now, [this] { return items_in_flight(); });
}

void master::take_items_done_messages() {
  const int items_done = static_cast<int>(tag::items_done);
  while (auto status = comm_.iprobe(boost::mpi::any_source, items_done)) {
    std::uint64_t finished = 0;
    comm_.recv(status->source(), items_done, finished);
    note_items_done(status->source(), finished);
  }
}

void master::note_items_done(int rank, std::uint64_t finished) {
  auto& latest = items_done_sent_[static_cast<std::size_t>(rank)];
  latest = std::max(latest, finished);
}

void master::report_run() {
  if (!trace_) return;
  try {
    if (display_) display_->finish();
    std::vector<trace_recorder::worker_name> workers;
    for (int rank : topology_.workers())  // rank 0 alone in a one-rank pool
      workers.push_back({rank, local_ ? host_ : dispatcher_.host_of(rank)});
    trace_->finish(host_, workers, trace_recorder::clock::now(), stderr);
  } catch (...) {  // no memory for the report: the run itself is not harmed
    const item_error what = describe(std::current_exception());
    std::fprintf(stderr, "mpipool: rank 0: no trace or summary: %s: %s\n", what.type_name.c_str(),
                 what.message.c_str());
  }
}

void master::fail_everything(const std::exception_ptr& error) {
  try {
    const item_error what = describe(error);
    const std::string problem = "the pool's progress thread failed: " + what.type_name + ": " + what.message;
    std::vector<command_inbox::queued_job> pending = inbox_.stop().first;
    for (auto& entry : dispatcher_.take_jobs()) pending.push_back(std::move(entry));
    const auto why = std::make_exception_ptr(mpipool::error("mpipool: " + problem + "; every pending call fails"));
    for (auto& [id, work] : pending) {
      try {
        if (work) work->abandon(why, true);
      } catch (...) {  // one job's failure must not keep the others waiting
      }
    }
    inbox_.wake_waiters();
    std::fprintf(stderr, "mpipool: rank 0 on host %s: %s; aborting the job\n", host_.c_str(), problem.c_str());
  } catch (...) {  // not even memory to say it: abort all the same
    std::fprintf(stderr, "mpipool: rank 0: the pool's progress thread failed; aborting the job\n");
  }
  std::fflush(stderr);
  comm_.abort(EXIT_FAILURE);
  std::abort();  // MPI_Abort does not return; this tells the compiler so
}

bool master::take_commands() {
  std::optional<command_inbox::commands> taken = inbox_.take();
  if (!taken) return false;
  closing_ = taken->closing;
  bool terminate_now = taken->asked >= pool_state::terminating && !terminating_;
  const bool body_ended = taken->body_ended;
  for (auto& [id, work] : taken->arrived) dispatcher_.admit(id, std::move(work));
  if (const int signal = requested_stop_signal(); signal != 0 && stopped_by_signal_ == 0) {
    stop_on_signal(signal, !body_ended);
    terminate_now = false;  // done: every unfinished call failed with the signal
  }
  if (!taken->cancelled.empty()) {
    for (std::uint64_t id : taken->cancelled) dispatcher_.drop(id);
    inbox_.cancels_handled(taken->cancelled.size());
  }
  if (taken->poked) dispatcher_.settle_jobs();
  if (terminate_now) {
    terminating_ = true;
    const std::size_t unfinished = dispatcher_.abandon_all(!body_ended);
    dispatcher_.kill_running_items();
    if (body_ended && unfinished > 0)
      std::fprintf(stderr,
                   "mpipool: rank 0 on host %s: the body returned with %zu call%s unfinished; %s terminated "
                   "without running %s callbacks (wait for results, or close() and join() the pool, before "
                   "the body returns)\n",
                   host_.c_str(), unfinished, unfinished == 1 ? "" : "s", unfinished == 1 ? "it was" : "they were",
                   unfinished == 1 ? "its" : "their");
    inbox_.terminated();
  }
  return true;
}

void master::stop_on_signal(int signal, bool run_callbacks) {
  stopped_by_signal_ = signal;
  inbox_.refuse_calls_after_signal();  // new calls are refused from now on
  const char* name = stop_signal_name(signal);
  // How far each call came is said once its chunks in flight are back (report_stopped_calls_when_due).
  for (const auto& [id, work] : dispatcher_.jobs()) {
    const job::progress_report done = work->progress();
    stopped_calls_.push_back({id, work->method(), work->task().name, done.done, done.total});
  }
  std::ranges::sort(stopped_calls_, {}, &stopped_call::id);  // in the order they were called
  stopped_calls_due_ = std::chrono::steady_clock::now() + stopped_calls_wait;
  if (stopped_calls_.empty()) {
    std::fprintf(stderr, "mpipool: %s while no call was running\n", name);
    std::fflush(stderr);
  }
  dispatcher_.abandon_all(run_callbacks, std::make_exception_ptr(pool_interrupted(
                                 std::string("mpipool: the pool was stopped by ") + name + " before this result was ready",
                                 signal)));
  closing_ = true;
  terminating_ = true;
  inbox_.terminated();
}

void master::report_stopped_calls_when_due() {
  // Cut short after their current item, the chunks come back within an item's time; an item
  // may take longer than the SIGKILL that follows a time limit leaves, so the line waits no
  // more than stopped_calls_wait.
  const bool back = dispatcher_.chunks_in_flight() == 0;
  if (!back && std::chrono::steady_clock::now() < stopped_calls_due_) return;
  const items_by_job still_running = back ? items_by_job() : items_in_flight();
  const char* name = stop_signal_name(stopped_by_signal_);
  for (const stopped_call& call : stopped_calls_) {
    const auto running = still_running.find(call.id);
    const std::uint64_t done = call.done + (running == still_running.end() ? 0 : running->second);
    if (call.total)
      std::fprintf(stderr, "mpipool: %s during %s of '%s': %llu of %llu items done\n", name, call.method,
                   call.task.c_str(), static_cast<unsigned long long>(done), static_cast<unsigned long long>(*call.total));
    else
      std::fprintf(stderr, "mpipool: %s during %s of '%s': %llu items done, of an input of unknown length\n", name,
                   call.method, call.task.c_str(), static_cast<unsigned long long>(done));
  }
  std::fflush(stderr);
  stopped_calls_.clear();
}

void master::count_late_items(std::uint64_t job_id, std::uint64_t items) {
  for (stopped_call& call : stopped_calls_)
    if (call.id == job_id) call.done += items;
}

master::items_by_job master::items_in_flight() const {
  return dispatcher_.items_in_flight([this](std::size_t rank) {
    const items_done_counter* counter = worker_items_done_[rank];
    return counter != nullptr ? counter->items.load(std::memory_order_relaxed) : items_done_sent_[rank];
  });
}

bool master::take_local_results() {
  inbox_.local_results_taken();  // whatever the flag said, the task thread's queue is looked at
  std::optional<byte_buffer> results = local_worker_->take_results();
  if (!results) return false;
  raise_injected_fault(fault_point::results_receive);
  dispatcher_.take_results(0, *results);
  dispatcher_.sends().give_back(std::move(*results));
  return true;
}

bool master::poll_messages() {
  if (local_) return take_local_results();
  // A receive posted is progress: the wait that follows spins first, and its sleeps start
  // short, for a message whose sender must call MPI for it to move (TCP above its eager limit).
  const bool posted = incoming_.post_arrived(comm_, static_cast<int>(tag::results),
                                             [this] { return dispatcher_.sends().take_buffer(); });
  const bool taken = incoming_.take_ready([this](int source, byte_buffer&& message) {
    raise_injected_fault(fault_point::results_receive);
    if (topology_.is_relay(source)) handle_routed(source, message);
    else dispatcher_.take_results(source, message);
    dispatcher_.sends().give_back(std::move(message));
  });
  return posted || taken;
}

void master::handle_routed(int relay, std::span<const char> wrapped) {
  const auto [route, message] = unwrap_routed(wrapped);
  // A stocking sub-master's own results name it; a relay passes on its workers' only.
  const bool own_slot = route.rank == relay && topology_.is_sub_master(relay) && route.tag == static_cast<int>(tag::results);
  if (route.rank <= 0 || route.rank >= size_ || (topology_.is_relay(route.rank) && !own_slot))
    throw std::runtime_error("mpipool: protocol error: a relay passed on a message from rank " + std::to_string(route.rank));
  if (route.tag == static_cast<int>(tag::items_done)) {
    std::uint64_t finished = 0;
    std::memcpy(&finished, message.data(), std::min(message.size(), sizeof finished));
    note_items_done(route.rank, finished);
    return;
  }
  dispatcher_.take_results(route.rank, message);
}

bool master::should_stop() const {
  const bool drained = dispatcher_.chunks_in_flight() == 0 && !dispatcher_.sending() && incoming_.empty() &&
                       dispatcher_.setup_done();
  return drained && (terminating_ || (closing_ && dispatcher_.jobs().empty()));
}

void master::wait_for_event(event_wait& idle, idle_wait how) {
  if (inbox_.has_command()) return;
  switch (how) {
    case idle_wait::block:
      idle.block(true);
      break;
    case idle_wait::block_briefly:
      idle.block(false);
      break;
    case idle_wait::spin_then_block:
      // A caller that just got its result often sends the next call at once, and a worker's
      // reply may be due within microseconds: the spin before blocking saves the wake-up of a
      // blocked thread (about 12 us).
      idle.pause(true);
      break;
    case idle_wait::poll:
      idle.pause(false);
      break;
  }
}

master::idle_wait master::how_to_wait() const {
  if (local_) return idle_wait::spin_then_block;  // the task thread rings when it is done
  // A message still on its way may move only as its sender calls MPI, which rings no one.
  if (!incoming_.empty()) return idle_wait::poll;
  const bool sending = dispatcher_.sending();
  switch (dispatcher_.workers_outlook(block_when_queued_for)) {
    case dispatcher::workers_state::unheard:
      return idle_wait::poll;
    case dispatcher::workers_state::stocked:
      // A send still going may move only while this thread calls MPI (shared memory without
      // single-copy reads): the worker that starts receiving it rings no one, so block only briefly.
      return sending ? idle_wait::block_briefly : idle_wait::block;
    case dispatcher::workers_state::other:
      break;
  }
  return sending ? idle_wait::poll : idle_wait::spin_then_block;
}

}  // namespace mpipool::detail
