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

// The error a call fails with when something of it failed on the master: a journal_error as it
// is (it names the file, and callers catch it by its type), anything else named as such.
std::exception_ptr failure_on_master(const std::string& task, const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const journal_error&) {
    return error;
  } catch (...) {
  }
  const item_error what = describe(error);
  return std::make_exception_ptr(
      mpipool::error("mpipool: task '" + task + "' failed on the master: " + what.type_name + ": " + what.message));
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
      // The task thread of a one-rank pool runs one chunk at a time: nothing to prefetch.
      policy_(static_cast<std::size_t>(size_), local_ ? 1 : dispatch_policy::prefetch_depth, topology_.workers().size()),
      outbox_(comm_, topology_, worker_bells_) {
  workers_.resize(static_cast<std::size_t>(size_));
  policy_.set_cores_shared(cores_shared);
  items_done_sent_.resize(static_cast<std::size_t>(size_));
  // Plain FIFO grouping, for comparison (bench/parallel_tasks.cpp): a parallel task that cannot
  // get its group holds every later call back at once, with no backfill.
  if (const char* backfill = std::getenv("MPIPOOL_GROUP_BACKFILL"); backfill && std::string(backfill) == "off")
    policy_.set_fifo_grouping(true);
  if (local_) {
    local_worker_ = std::make_unique<local_worker>(host_, isolation, local_items_done_,
                                                   [this] { inbox_.local_results_ready(); });
  }
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
  {
    std::lock_guard lock(join_mutex_);
    thread_ = std::thread([this, &initializer] {
      use_fine_timer_slack();
      ring_on_stop_signal(bell_);
      try {
        send_setup(initializer);
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
    admit(id, std::move(work));
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
  return !local_ && !trace_ && setup_done_ && !closing_ && !terminating_ && jobs_.empty() && draining_.empty() &&
         stopped_calls_.empty();
}

bool master::drive_until(const std::function<bool()>& done) {
  backoff waiting;  // its spin only: past it the caller leaves the call to the progress thread
  const auto give_up = std::chrono::steady_clock::now() + backoff::spin_for;
  for (;;) {
    dispatch();
    poll_messages();
    outbox_.complete();
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
    drop(job_id);
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
    outbox_.ring(rank);
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
    for (auto& [id, work] : late) jobs_.emplace(id, std::move(work));
    abandon_all(!body_ended);
    // Every chunk is back: the journals of stopped calls hold what came back. Each is synced
    // and closed as its job goes, before the body's thread can return from run().
    draining_.clear();
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
    progressed |= dispatch();
    progressed |= outbox_.complete();
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
  display_->show(jobs_, now, [this] { return items_in_flight(); });
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
      workers.push_back({rank, local_ ? host_ : workers_[static_cast<std::size_t>(rank)].host});
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
    for (auto& [id, work] : jobs_) pending.emplace_back(id, std::move(work));
    jobs_.clear();
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

void master::fail_job(std::uint64_t job_id, const std::exception_ptr& error) {
  std::unique_ptr<job> failed = detach(job_id);
  if (!failed) return;
  failed->abandon(failure_on_master(failed->task().name, error), true);
  keep_journaling(job_id, std::move(failed));
}

bool master::chunk_in_flight(std::uint64_t job_id) const {
  return std::ranges::any_of(workers_, [&](const worker_slot& worker) { return worker.has_chunk_of(job_id); });
}

void master::keep_journaling(std::uint64_t job_id, std::unique_ptr<job> work) {
  if (!work || !work->keeps_journal()) return;
  if (!chunk_in_flight(job_id)) work->close_journal();
  draining_.emplace(job_id, std::move(work));
}

void master::journal_late(std::uint64_t job_id, item_range items, std::span<const char> outcomes) {
  auto it = draining_.find(job_id);
  if (it == draining_.end()) return;  // no journal: its results are no longer wanted
  it->second->journal_late(items, outcomes);
  if (!chunk_in_flight(job_id)) it->second->close_journal();
}

void master::settle_jobs() {
  // A journaled job finishes when its journal is read or synced, which its thread says by a poke.
  std::vector<std::uint64_t> finished;
  for (const auto& [id, work] : jobs_)
    if (work->finished()) finished.push_back(id);
  std::ranges::sort(finished);
  for (std::uint64_t id : finished) retire(id);
  std::erase_if(draining_, [](const auto& entry) { return entry.second->journal_closed(); });
}

bool master::take_commands() {
  std::optional<command_inbox::commands> taken = inbox_.take();
  if (!taken) return false;
  closing_ = taken->closing;
  bool terminate_now = taken->asked >= pool_state::terminating && !terminating_;
  const bool body_ended = taken->body_ended;
  for (auto& [id, work] : taken->arrived) admit(id, std::move(work));
  if (const int signal = requested_stop_signal(); signal != 0 && stopped_by_signal_ == 0) {
    stop_on_signal(signal, !body_ended);
    terminate_now = false;  // done: every unfinished call failed with the signal
  }
  if (!taken->cancelled.empty()) {
    for (std::uint64_t id : taken->cancelled) drop(id);
    inbox_.cancels_handled(taken->cancelled.size());
  }
  if (taken->poked) settle_jobs();
  if (terminate_now) {
    terminating_ = true;
    const std::size_t unfinished = abandon_all(!body_ended);
    kill_running_items();
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

void master::admit(std::uint64_t id, std::unique_ptr<job> work) {
  if (trace_) {
    trace_->job_started(id, work->method(), work->task().name);
    if (display_) display_->job_started(id, *work, trace_recorder::clock::now());
  }
  const bool finished = work->finished();  // an empty map: nothing to send
  policy_.add_job(id, work->takes_turns(), static_cast<std::size_t>(std::max(work->task().group_width, 1)));
  jobs_.emplace(id, std::move(work));
  if (finished) retire(id);
}

void master::stop_on_signal(int signal, bool run_callbacks) {
  stopped_by_signal_ = signal;
  inbox_.refuse_calls_after_signal();  // new calls are refused from now on
  const char* name = stop_signal_name(signal);
  // How far each call came is said once its chunks in flight are back (report_stopped_calls_when_due).
  for (const auto& [id, work] : jobs_) {
    const job::progress_report done = work->progress();
    stopped_calls_.push_back({id, work->method(), work->task().name, done.done, done.total});
  }
  std::ranges::sort(stopped_calls_, {}, &stopped_call::id);  // in the order they were called
  stopped_calls_due_ = std::chrono::steady_clock::now() + stopped_calls_wait;
  if (stopped_calls_.empty()) {
    std::fprintf(stderr, "mpipool: %s while no call was running\n", name);
    std::fflush(stderr);
  }
  abandon_all(run_callbacks, std::make_exception_ptr(pool_interrupted(
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
  const bool back = policy_.total_in_flight() == 0;
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

master::items_by_job master::items_in_flight() const {
  items_by_job found;
  for (std::size_t rank = 0; rank < workers_.size(); ++rank) {
    const items_done_counter* counter = worker_items_done_[rank];
    const std::uint64_t finished =
        counter != nullptr ? counter->items.load(std::memory_order_relaxed) : items_done_sent_[rank];
    workers_[rank].split_items_in_flight(finished,
                                         [&](std::uint64_t job_id, std::uint64_t items) { found[job_id] += items; });
  }
  return found;
}

std::size_t master::abandon_all(bool run_callbacks, std::exception_ptr why) {
  policy_.clear_jobs();
  if (!why)
    why = std::make_exception_ptr(pool_terminated("mpipool: the pool was terminated before this result was ready"));
  auto unfinished = std::move(jobs_);
  jobs_.clear();
  for (auto& [id, work] : unfinished) work->abandon(why, run_callbacks);
  if (local_) {
    local_worker_->stop_all();
  } else {
    // Every chunk in flight, running or waiting in the worker's queue, is cut short.
    for (std::size_t rank = 1; rank < workers_.size(); ++rank) {
      for (std::uint64_t job_id : workers_[rank].jobs_in_flight()) send_cancel(static_cast<int>(rank), job_id);
    }
  }
  // What the chunks cut short bring back still goes to the journals.
  const std::size_t count = unfinished.size();
  for (auto& [id, work] : unfinished) keep_journaling(id, std::move(work));
  return count;
}

void master::kill_running_items() {
  if (local_) {
    local_worker_->kill_running();
    return;
  }
  for (std::size_t rank = 1; rank < workers_.size(); ++rank)
    if (!workers_[rank].idle()) send_cancel(static_cast<int>(rank), every_job);
}

void master::send_cancel(int rank, std::uint64_t job_id) {
  byte_buffer bytes = outbox_.take_buffer();
  const auto* raw = reinterpret_cast<const char*>(&job_id);
  bytes.assign(raw, raw + sizeof job_id);
  outbox_.send(rank, tag::cancel, std::move(bytes));
}

std::unique_ptr<job> master::detach(std::uint64_t job_id) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return nullptr;  // finished already
  std::unique_ptr<job> detached = std::move(it->second);
  jobs_.erase(it);
  policy_.remove_job(job_id);
  for (std::size_t rank = 0; rank < workers_.size(); ++rank) {
    worker_slot& worker = workers_[rank];
    if (worker.holds.erase(job_id) != 0) worker.forget.push_back(job_id);
    // One cancel covers the worker's running chunk and any waiting behind it: the worker
    // remembers the job, and answers a chunk of it that comes later as cut short at once.
    if (!worker.has_chunk_of(job_id)) continue;
    if (local_) local_worker_->cancel(job_id);
    else send_cancel(static_cast<int>(rank), job_id);
  }
  return detached;
}

void master::drop(std::uint64_t job_id) { keep_journaling(job_id, detach(job_id)); }

bool master::take_local_results() {
  inbox_.local_results_taken();  // whatever the flag said, the task thread's queue is looked at
  std::optional<byte_buffer> results = local_worker_->take_results();
  if (!results) return false;
  raise_injected_fault(fault_point::results_receive);
  handle_message(0, *results);
  outbox_.give_back(std::move(*results));
  return true;
}

bool master::poll_messages() {
  if (local_) return take_local_results();
  // A receive posted is progress: the wait that follows spins first, and its sleeps start
  // short, for a message whose sender must call MPI for it to move (TCP above its eager limit).
  bool any = false;
  while (auto status = comm_.iprobe(boost::mpi::any_source, static_cast<int>(tag::results))) {
    incoming_.emplace_back(comm_, *status, outbox_.take_buffer());
    any = true;
  }
  // Each source's messages in the order they came: one still on its way holds back the later
  // ones of its source (a relay's), and no one else's.
  waiting_sources_.clear();
  for (auto it = incoming_.begin(); it != incoming_.end();) {
    const int source = it->source();
    if (std::ranges::find(waiting_sources_, source) != waiting_sources_.end() || !it->test()) {
      waiting_sources_.push_back(source);
      ++it;
      continue;
    }
    byte_buffer message = it->release();
    it = incoming_.erase(it);
    raise_injected_fault(fault_point::results_receive);
    if (topology_.is_relay(source)) handle_routed(message);
    else handle_message(source, message);
    outbox_.give_back(std::move(message));
    any = true;
  }
  return any;
}

job_readiness master::readiness(std::uint64_t job_id) {
  job& candidate = *jobs_.at(job_id);
  if (candidate.exhausted()) return job_readiness::exhausted;
  return candidate.has_chunks(closing_) ? job_readiness::ready : job_readiness::waiting;
}

bool master::dispatch() {
  bool any = false;
  while (setup_done_ && !terminating_ && policy_.any_worker_free()) {
    const std::optional<std::uint64_t> next =
        policy_.next_job([this](std::uint64_t id) { return readiness(id); });
    if (!next) break;
    const std::uint64_t id = *next;
    job& work = *jobs_.at(id);
    if (work.task().group_width > 1) {
      if (!dispatch_group(id, work)) break;
      any = true;
      continue;
    }
    const std::optional<int> chosen = policy_.worker_for(id, work.chunks_left(policy_.chunks_worth_knowing()));
    if (!chosen) break;  // only busy workers, and prefetch would not pay
    const int rank = *chosen;
    policy_.chunk_taken(id);
    std::optional<byte_buffer> chunk;
    any = true;
    try {
      // A parallel task of one rank is still a group: its task gets a communicator.
      chunk = work.task().group_width == 1 ? build_chunk(rank, id, work, {rank})
                                            : build_chunk(rank, id, work, {}, policy_.chunks_per_message(id, rank));
    } catch (...) {  // no memory for the chunk: that call fails, the pool goes on
      fail_job(id, std::current_exception());
      continue;
    }
    if (!chunk) {
      if (jobs_.contains(id) && work.finished()) retire(id);
      continue;
    }
    try {
      deliver_chunk(rank, id, std::move(*chunk));
    } catch (const transport_broken&) {
      throw;  // the worker got part of it: nothing can go on
    } catch (...) {  // the chunk could not be sent: the worker never got it
      fail_job(id, std::current_exception());
      continue;
    }
    // Only now is the worker running it, holding its task, and done with its forget list.
    worker_slot& worker = workers_[static_cast<std::size_t>(rank)];
    worker.holds.insert(id);
    worker.forget.clear();
  }
  policy_.end_round();
  return any;
}

bool master::dispatch_group(std::uint64_t id, job& work) {
  const std::vector<int> members = policy_.group_for(id);
  if (members.empty()) return false;
  policy_.chunk_taken(id);
  std::vector<byte_buffer> chunks;
  try {
    std::optional<byte_buffer> first = build_chunk(members.front(), id, work, members);
    if (!first) {
      if (jobs_.contains(id) && work.finished()) retire(id);
      return true;
    }
    const chunk_view view = read_chunk(*first);
    for (std::size_t m = 1; m < members.size(); ++m) chunks.push_back(copy_chunk_for(members[m], id, work, members, view));
    chunks.insert(chunks.begin(), std::move(*first));
  } catch (...) {  // no memory for the chunk: that call fails, the pool goes on
    fail_job(id, std::current_exception());
    return true;
  }
  for (std::size_t m = 0; m < members.size(); ++m) {
    try {
      deliver_chunk(members[m], id, std::move(chunks[m]));
    } catch (const transport_broken&) {
      throw;
    } catch (...) {
      // Members that got the chunk already would wait for this one in their collectives: only
      // ending the job releases them.
      if (m > 0) throw;
      fail_job(id, std::current_exception());
      return true;
    }
    worker_slot& worker = workers_[static_cast<std::size_t>(members[m])];
    worker.holds.insert(id);
    worker.forget.clear();
  }
  policy_.group_chunk_sent(members);
  return true;
}

byte_buffer master::copy_chunk_for(int rank, std::uint64_t job_id, job& work, const std::vector<int>& group,
                                   const chunk_view& first) {
  byte_buffer bytes = begin_chunk_for(rank, job_id, work, first.header.items, group);
  bytes.insert(bytes.end(), first.items.begin(), first.items.end());
  return bytes;
}

byte_buffer master::begin_chunk_for(int rank, std::uint64_t job_id, const job& work, item_range items,
                                    const std::vector<int>& group) {
  const worker_slot& worker = workers_[static_cast<std::size_t>(rank)];
  const bool needs_task = !worker.holds.contains(job_id);
  const task_definition& task = work.task();
  const std::string_view key = needs_task ? std::string_view(task.key) : std::string_view();
  const std::span<const char> state = needs_task ? std::span<const char>(task.state) : std::span<const char>();
  byte_buffer bytes = outbox_.take_buffer();
  begin_chunk(bytes, {job_id, items, static_cast<std::uint32_t>(key.size()), static_cast<std::uint32_t>(state.size()),
                      static_cast<std::uint32_t>(worker.forget.size()), 0, static_cast<std::uint32_t>(group.size())},
              key, state, worker.forget, group);
  return bytes;
}

void master::send_setup(const bound_call& initializer) {
  const bound_call_data* init = initializer.data();
  byte_buffer bytes;
  const std::string_view key = init ? std::string_view(init->task.key) : std::string_view();
  const std::span<const char> state = init ? std::span<const char>(init->task.state) : std::span<const char>();
  begin_chunk(bytes, {setup_job, {0, init ? 1u : 0u}, static_cast<std::uint32_t>(key.size()),
                      static_cast<std::uint32_t>(state.size()), 0, display_ ? 1u : 0u},
              key, state, {});
  if (init) bytes.insert(bytes.end(), init->args.begin(), init->args.end());
  const auto now = worker_slot::clock::now();
  if (local_) {
    policy_.chunk_sent(0);
    workers_[0].sent(setup_job, now);
    local_worker_->run(std::move(bytes));
    return;
  }
  for (int rank : topology_.workers()) {
    policy_.chunk_sent(rank);
    workers_[static_cast<std::size_t>(rank)].sent(setup_job, now);
    outbox_.send(rank, tag::chunk, byte_buffer(bytes));
  }
}

std::optional<byte_buffer> master::build_chunk(int rank, std::uint64_t job_id, job& work,
                                               const std::vector<int>& group, std::size_t most) {
  byte_buffer bytes = begin_chunk_for(rank, job_id, work, {}, group);
  for (std::size_t taken = 0; taken < most; ++taken) {
    const std::size_t at = taken == 0 ? 0 : bytes.size();
    if (taken > 0) {
      if (readiness(job_id) != job_readiness::ready) break;
      policy_.chunk_taken(job_id);
      // The worker has the task and its forget list from the bundle's first chunk.
      append_chunk(bytes, {job_id, {}, 0, 0, 0, 0, 0}, {}, {}, {});
    }
    item_range items;
    const std::size_t items_at = bytes.size();
    try {
      items = work.next_chunk(bytes);
    } catch (...) {  // an argument that cannot be serialized
      outbox_.give_back(std::move(bytes));
      fail_job(job_id, std::current_exception());
      return std::nullopt;
    }
    if (items.count == 0) {  // a lazy input ended or failed right there: nothing more to send
      bytes.resize(at);
      break;
    }
    set_chunk_items(bytes, items, at);
    if (most > 1) set_section_size<chunk_header>(bytes, at);
    // What one more chunk adds to a bundle: its header and items (the first also carries the
    // task and the forget list, once per message). Once a message: a job's chunks are alike.
    if (taken == 0) policy_.record_chunk_bytes(job_id, sizeof(chunk_header) + (bytes.size() - items_at));
  }
  if (bytes.empty()) {
    outbox_.give_back(std::move(bytes));
    return std::nullopt;
  }
  return bytes;
}

void master::deliver_chunk(int rank, std::uint64_t job_id, byte_buffer&& bytes) {
  raise_injected_fault(fault_point::chunk_send);
  // One chunk, or a bundle: each counts, in the worker's table and the policy's, as a chunk.
  delivered_.clear();
  for (std::span<const char> rest = bytes; !rest.empty();) {
    const std::span<const char> chunk = take_section<chunk_header>(rest);
    delivered_.push_back({chunk.size(), frame_cursor(chunk).take<chunk_header>().items.count});
  }
  if (local_) local_worker_->run(std::move(bytes));
  else outbox_.send(rank, tag::chunk, std::move(bytes));
  // Only once it is on its way.
  const auto sent = worker_slot::clock::now();
  worker_slot& worker = workers_[static_cast<std::size_t>(rank)];
  bool first = true;
  for (const auto& [size, items] : delivered_) {
    policy_.chunk_sent(rank, job_id);
    worker.sent(job_id, sent, size, items, std::exchange(first, false));
  }
}

void master::handle_routed(std::span<const char> wrapped) {
  const auto [route, message] = unwrap_routed(wrapped);
  if (route.rank <= 0 || route.rank >= size_ || topology_.is_relay(route.rank))
    throw std::runtime_error("mpipool: protocol error: a relay passed on a message from rank " + std::to_string(route.rank));
  if (route.tag == static_cast<int>(tag::items_done)) {
    std::uint64_t finished = 0;
    std::memcpy(&finished, message.data(), std::min(message.size(), sizeof finished));
    note_items_done(route.rank, finished);
    return;
  }
  handle_message(route.rank, message);
}

void master::handle_message(int rank, std::span<const char> message) {
  worker_slot& worker = workers_[static_cast<std::size_t>(rank)];
  const auto received = worker_slot::clock::now();
  // A bundle's chunks come back together: each is given an equal share of the time its worker
  // spent on them all, so that the policy's typical time stays a chunk's.
  std::uint64_t job = setup_job;
  double busy_seconds = 0;
  std::size_t chunks = 0;
  for (std::span<const char> rest = message; !rest.empty(); ++chunks) {
    const std::span<const char> section = take_section<results_header>(rest);
    // Results come back in the order the chunks went: these are of its oldest chunk.
    const worker_slot::finished_chunk done = worker.returned(received);
    policy_.chunk_returned(rank);
    if (chunks == 0) job = done.job;
    busy_seconds += done.seconds;
    handle_results(rank, section, done, received);
  }
  if (job != setup_job && chunks > 0) policy_.record_chunk_time(job, busy_seconds / static_cast<double>(chunks));
}

void master::handle_results(int rank, std::span<const char> message, const worker_slot::finished_chunk& done,
                            worker_slot::clock::time_point received) {
  worker_slot& worker = workers_[static_cast<std::size_t>(rank)];
  const std::uint64_t running = done.job;
  results_view results;
  try {
    if (running != setup_job) raise_injected_fault(fault_point::results_decode);
    results = read_results(message);
  } catch (...) {  // a garbled message: the call that worker was running fails with it
    if (running == setup_job) throw;
    // How many items it brought is unknown: as many as went, so that the worker's own count
    // of finished items (items_in_flight) never runs ahead of its chunks.
    worker.items_returned(done.items);
    fail_job(running, std::current_exception());
    return;
  }
  if (results.header.job == setup_job) {
    finish_setup(rank, results);
    return;
  }
  worker.items_returned(results.header.items.count);
  policy_.record_run_time(results.header.job, static_cast<double>(results.header.run_ns) * 1e-9);
  if (trace_)
    trace_->chunk_done(rank, results.header.job, results.header.items, done.bytes, message.size(),
                       results.header.run_ns, received);
  // A parallel task's members other than its rank 0 only ask for more: the group's rank 0
  // reports the outcome the members agreed on.
  if (results.header.group_follower) return;
  auto it = jobs_.find(results.header.job);
  if (it == jobs_.end()) {  // abandoned or dropped: its results go to its journal only, if it has one,
                            // and are counted if it was stopped
    for (stopped_call& call : stopped_calls_)
      if (call.id == results.header.job) call.done += results.header.items.count;
    journal_late(results.header.job, results.header.items, results.outcomes);
    return;
  }
  std::exception_ptr failure;  // a result that cannot be deserialized, no memory, a journal's error
  try {
    it->second->accept(results.header.items, results.outcomes, {rank, worker.host});
  } catch (...) {
    failure = std::current_exception();
  }
  // Failed after the catch block: the caller may read the error and drop it at once, and the
  // exception object (a journal's, shared) must not be freed by the catch block's end here, in
  // libstdc++'s uninstrumented code, where ThreadSanitizer sees a free racing with the read.
  if (failure) {
    fail_job(results.header.job, failure);
    return;
  }
  if (it->second->finished()) retire(results.header.job);
}

void master::finish_setup(int rank, const results_view& results) {
  worker_slot& worker = workers_[static_cast<std::size_t>(rank)];
  worker.host = std::string(results.host);
  worker.holds.erase(setup_job);
  if (results.header.items.count == 1) {
    decode_outcomes<void>(results.outcomes, 1, [](std::uint32_t) {}, [&](std::uint32_t, item_error failure) {
      if (!first_setup_failure_ || first_setup_failure_->rank > rank)
        first_setup_failure_ = remote_failure{failure.type_name, failure.message, rank, worker.host};
    });
  }
  if (++ready_ < worker_count()) return;
  // Parallel tasks' groups prefer the ranks of one node: a node is known by its host name,
  // numbered by its lowest rank.
  const std::vector<int>& all = topology_.workers();
  for (int member : all) {
    auto node = all.begin();
    while (workers_[static_cast<std::size_t>(*node)].host != workers_[static_cast<std::size_t>(member)].host) ++node;
    policy_.set_node(member, static_cast<std::size_t>(*node));
  }
  setup_done_ = true;
  inbox_.setup_finished(first_setup_failure_);
}

void master::retire(std::uint64_t job_id) {
  std::unique_ptr<job> done = detach(job_id);
  if (display_) display_->job_finished(job_id, *done, trace_recorder::clock::now());
  try {
    done->publish();  // runs the callbacks, on this thread, before the result is ready
  } catch (...) {     // no memory to assemble the result
    done->abandon(failure_on_master(done->task().name, std::current_exception()), true);
  }
}

bool master::should_stop() const {
  const bool drained = policy_.total_in_flight() == 0 && outbox_.empty() && incoming_.empty() && setup_done_;
  return drained && (terminating_ || (closing_ && jobs_.empty()));
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
  bool stocked = topology_.relays().empty();
  const auto typical_seconds = [this](std::uint64_t job) { return policy_.typical_chunk_seconds(job); };
  for (std::size_t rank = 1; rank < workers_.size(); ++rank) {
    const worker_slot& worker = workers_[rank];
    if (!worker.idle() && !worker_bells_[rank]) return idle_wait::poll;
    if (!stocked || worker.messages_in_flight() < 2) {
      stocked = false;
      continue;
    }
    stocked = worker.queued_at_least(block_when_queued_for, typical_seconds);
  }
  // A send still going may move only while this thread calls MPI (shared memory without
  // single-copy reads): the worker that starts receiving it rings no one, so block only briefly.
  if (stocked) return outbox_.empty() ? idle_wait::block : idle_wait::block_briefly;
  return outbox_.empty() ? idle_wait::spin_then_block : idle_wait::poll;
}

}  // namespace mpipool::detail
