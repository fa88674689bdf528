#include "master/master.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include <boost/mpi/environment.hpp>
#include <boost/mpi/status.hpp>

#include "faults/crash_report.hpp"
#include "faults/fault_injection.hpp"
#include "mpipool/detail/mpi_section_state.hpp"
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

std::vector<doorbell*> bells_by_rank(const node_doorbells& bells, int size) {
  std::vector<doorbell*> by_rank(static_cast<std::size_t>(size), nullptr);
  for (int rank = 1; rank < size; ++rank) by_rank[static_cast<std::size_t>(rank)] = bells.of(rank);
  return by_rank;
}

}  // namespace

master::master(const boost::mpi::communicator& comm, const node_doorbells& bells, const isolation_settings& isolation)
    : comm_(static_cast<MPI_Comm>(comm), boost::mpi::comm_attach),
      size_(comm_.size()),
      local_(size_ == 1),
      host_(boost::mpi::environment::processor_name()),
      bell_(bells.of(0) ? bells.of(0) : &own_bell_),
      worker_bells_(bells_by_rank(bells, size_)),
      thread_multiple_(mpi_grants_thread_multiple()),
      // The task thread of a one-rank pool runs one chunk at a time: nothing to prefetch.
      policy_(static_cast<std::size_t>(size_), local_ ? 1 : dispatch_policy::prefetch_depth) {
  workers_.resize(static_cast<std::size_t>(size_));
  if (local_) {
    local_worker_ = std::make_unique<local_worker>(host_, isolation, [this] {
      std::lock_guard lock(mutex_);
      local_results_ready_ = true;
      ring_progress_thread();
    });
  }
}

void master::ring_progress_thread() {
  // Once stopped, the progress thread waits no more, and a bell in the node's page may be gone.
  if (!lifecycle_.stopped()) bell_->ring();
}

void master::ring_worker(int rank) {
  if (doorbell* bell = worker_bells_[static_cast<std::size_t>(rank)]) bell->ring();
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
  std::optional<remote_failure> failure;
  {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return setup_done_ || lifecycle_.stopped(); });
    failure = setup_failure_;
  }
  if (failure) {
    terminate();
    join();
    throw initializer_error(std::move(*failure));
  }
}

std::uint64_t master::submit(std::unique_ptr<job> work) {
  std::uint64_t id = 0;
  {
    std::lock_guard lock(mutex_);
    // The pool checked this already; here it is checked again, atomically with the enqueue, for
    // a submission that raced a close() or terminate() from another thread.
    if (!lifecycle_.running()) throw std::logic_error("mpipool: pool not running");
    id = next_job_id_++;
    incoming_.emplace_back(id, std::move(work));
    ring_progress_thread();
  }
  return id;
}

void master::cancel(std::uint64_t job_id) {
  if (std::this_thread::get_id() == thread_id_) {  // from a callback: the job is ours to drop
    drop(job_id);
    return;
  }
  std::unique_lock lock(mutex_);
  if (lifecycle_.stopped()) return;
  cancels_.push_back(job_id);
  const std::uint64_t ticket = ++cancels_asked_;
  ring_progress_thread();
  // A stream dropped inside this thread's mpi_section: the parked progress thread cannot act
  // now, and when it resumes it drops the job before it reads any input or message again.
  if (holds_parking_mpi_section()) return;
  changed_.wait(lock, [&] { return cancels_done_ >= ticket || lifecycle_.stopped(); });
}

void master::poke() {
  {
    std::lock_guard lock(mutex_);
    poked_ = true;
    ring_progress_thread();
  }
}

void master::close() {
  {
    std::lock_guard lock(mutex_);
    lifecycle_.advance_to(pool_state::closing);
    ring_progress_thread();
  }
}

void master::terminate() {
  if (!started_.load()) return;
  std::unique_lock lock(mutex_);
  lifecycle_.advance_to(pool_state::terminating);
  ring_progress_thread();
  changed_.wait(lock, [this] { return acted_on_ >= pool_state::terminating || lifecycle_.stopped(); });
}

void master::end_of_body() {
  {
    std::lock_guard lock(mutex_);
    if (lifecycle_.state() < pool_state::terminating) body_ended_ = true;
  }
  terminate();
}

void master::join() {
  std::lock_guard lock(join_mutex_);
  if (thread_.joinable()) thread_.join();
}

void master::release_workers(int exit_code) {
  for (int rank = 1; rank < size_; ++rank) {
    comm_.send(rank, static_cast<int>(tag::exit), exit_code);
    ring_worker(rank);
  }
}

bool master::enter_mpi_section() {
  {
    std::lock_guard lock(mutex_);
    if (lifecycle_.stopped()) return false;
    ++mpi_sections_;
    if (parked_) return true;  // another section holds it parked already
    ring_progress_thread();
  }
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return parked_ || lifecycle_.stopped(); });
  if (parked_) return true;
  --mpi_sections_;  // it stopped instead: nothing to hold
  return false;
}

void master::leave_mpi_section() {
  {
    std::lock_guard lock(mutex_);
    if (--mpi_sections_ > 0) return;
  }
  resume_.notify_one();
}

void master::step_aside_while_asked() {
  std::unique_lock lock(mutex_);
  if (mpi_sections_ == 0) return;
  parked_ = true;
  changed_.notify_all();
  resume_.wait(lock, [this] { return mpi_sections_ == 0; });
  parked_ = false;
}

void master::progress() {
  try {
    serve_until_stopped();
    report_run();
    ring_on_stop_signal(nullptr);  // no one waits on the bell any more
    std::vector<std::pair<std::uint64_t, std::unique_ptr<job>>> late;
    bool body_ended = false;
    {
      std::lock_guard lock(mutex_);
      lifecycle_.advance_to(pool_state::stopped);
      late.swap(incoming_);
      body_ended = body_ended_;
      changed_.notify_all();
    }
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
    step_aside_while_asked();  // between steps: no MPI call of this thread is under way
    idle.arm();  // before looking: a ring from here on ends the wait at once
    bool progressed = take_commands();
    progressed |= poll_messages();
    progressed |= dispatch();
    progressed |= complete_sends();
    if (should_stop()) break;
    if (progressed) idle.reset();
    else wait_for_event(idle);
    if (trace_) observe_turn(progressed);
  }
}

void master::observe_turn(bool progressed) {
  const auto now = trace_recorder::clock::now();
  trace_->master_turn(progressed, now);
  if (display_) display_->show(jobs_, now);
}

void master::report_run() {
  if (!trace_) return;
  try {
    if (display_) display_->finish();
    std::vector<trace_recorder::worker_name> workers;
    if (local_) workers.push_back({0, host_});
    for (int rank = 1; rank < size_ && !local_; ++rank)
      workers.push_back({rank, workers_[static_cast<std::size_t>(rank)].host});
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
    std::vector<std::pair<std::uint64_t, std::unique_ptr<job>>> pending;
    {
      std::lock_guard lock(mutex_);
      lifecycle_.advance_to(pool_state::stopped);
      pending.swap(incoming_);
    }
    for (auto& [id, work] : jobs_) pending.emplace_back(id, std::move(work));
    jobs_.clear();
    const auto why = std::make_exception_ptr(mpipool::error("mpipool: " + problem + "; every pending call fails"));
    for (auto& [id, work] : pending) {
      try {
        if (work) work->abandon(why, true);
      } catch (...) {  // one job's failure must not keep the others waiting
      }
    }
    {
      std::lock_guard lock(mutex_);
      changed_.notify_all();
    }
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

bool master::has_command() const {
  // stopped is the progress thread's own doing: nothing to act on.
  return !incoming_.empty() || !cancels_.empty() || poked_ || local_results_ready_ || mpi_sections_ > 0 ||
         std::min(lifecycle_.state(), pool_state::terminating) > acted_on_ ||
         (requested_stop_signal() != 0 && stopped_by_signal_ == 0);
}

bool master::take_commands() {
  std::vector<std::pair<std::uint64_t, std::unique_ptr<job>>> arrived;
  std::vector<std::uint64_t> cancelled;
  bool terminate_now = false;
  bool body_ended = false;
  bool poked = false;
  {
    std::lock_guard lock(mutex_);
    if (!has_command()) return false;
    arrived.swap(incoming_);
    cancelled.swap(cancels_);
    poked = std::exchange(poked_, false);
    const pool_state asked = lifecycle_.state();
    // Terminating implies closing: no stream holds back any more (none is served either).
    if (asked >= pool_state::closing && acted_on_ < pool_state::closing) acted_on_ = pool_state::closing;
    closing_ = acted_on_ >= pool_state::closing;
    terminate_now = asked >= pool_state::terminating && !terminating_;
    body_ended = body_ended_;
  }
  for (auto& [id, work] : arrived) {
    if (trace_) {
      trace_->job_started(id, work->method(), work->task().name);
      if (display_) display_->job_started(id, *work, trace_recorder::clock::now());
    }
    const bool finished = work->finished();  // an empty map: nothing to send
    policy_.add_job(id, work->takes_turns());
    jobs_.emplace(id, std::move(work));
    if (finished) retire(id);
  }
  if (const int signal = requested_stop_signal(); signal != 0 && stopped_by_signal_ == 0) {
    stop_on_signal(signal, !body_ended);
    terminate_now = false;  // done: every unfinished call failed with the signal
  }
  if (!cancelled.empty()) {
    for (std::uint64_t id : cancelled) drop(id);
    std::lock_guard lock(mutex_);
    cancels_done_ += cancelled.size();
    changed_.notify_all();
  }
  if (poked) settle_jobs();
  if (terminate_now) {
    terminating_ = true;
    const std::size_t unfinished = abandon_all(!body_ended);
    if (body_ended && unfinished > 0)
      std::fprintf(stderr,
                   "mpipool: rank 0 on host %s: the body returned with %zu call%s unfinished; %s terminated "
                   "without running %s callbacks (wait for results, or close() and join() the pool, before "
                   "the body returns)\n",
                   host_.c_str(), unfinished, unfinished == 1 ? "" : "s", unfinished == 1 ? "it was" : "they were",
                   unfinished == 1 ? "its" : "their");
    std::lock_guard lock(mutex_);
    acted_on_ = pool_state::terminating;
    changed_.notify_all();
  }
  return true;
}

void master::stop_on_signal(int signal, bool run_callbacks) {
  stopped_by_signal_ = signal;
  {
    std::lock_guard lock(mutex_);
    lifecycle_.advance_to(pool_state::terminating);  // new calls are refused from now on
  }
  const char* name = stop_signal_name(signal);
  std::vector<std::uint64_t> unfinished;
  for (const auto& [id, work] : jobs_) unfinished.push_back(id);
  std::ranges::sort(unfinished);  // in the order they were called
  for (std::uint64_t id : unfinished) {
    const job& work = *jobs_.at(id);
    const job::progress_report done = work.progress();
    if (done.total)
      std::fprintf(stderr, "mpipool: %s during %s of '%s': %llu of %llu items done\n", name, work.method(),
                   work.task().name.c_str(), static_cast<unsigned long long>(done.done),
                   static_cast<unsigned long long>(*done.total));
    else
      std::fprintf(stderr, "mpipool: %s during %s of '%s': %llu items done, of an input of unknown length\n", name,
                   work.method(), work.task().name.c_str(), static_cast<unsigned long long>(done.done));
  }
  if (unfinished.empty()) std::fprintf(stderr, "mpipool: %s while no call was running\n", name);
  std::fflush(stderr);
  abandon_all(run_callbacks, std::make_exception_ptr(pool_interrupted(
                                 std::string("mpipool: the pool was stopped by ") + name + " before this result was ready",
                                 signal)));
  closing_ = true;
  terminating_ = true;
  std::lock_guard lock(mutex_);
  acted_on_ = pool_state::terminating;
  changed_.notify_all();
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

void master::send_cancel(int rank, std::uint64_t job_id) {
  byte_buffer bytes = take_buffer();
  const auto* raw = reinterpret_cast<const char*>(&job_id);
  bytes.assign(raw, raw + sizeof job_id);
  send_bytes(rank, tag::cancel, std::move(bytes));
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
  {
    std::lock_guard lock(mutex_);
    local_results_ready_ = false;
  }
  std::optional<byte_buffer> results = local_worker_->take_results();
  if (!results) return false;
  raise_injected_fault(fault_point::results_receive);
  handle_results(0, *results);
  trim_message_buffer(*results);
  spare_buffers_.push_back(std::move(*results));
  return true;
}

bool master::poll_messages() {
  if (local_) return take_local_results();
  bool any = false;
  while (auto status = comm_.iprobe(boost::mpi::any_source, static_cast<int>(tag::results))) {
    raise_injected_fault(fault_point::results_receive);
    receive_message(comm_, *status, inbox_);
    handle_results(status->source(), inbox_);
    trim_message_buffer(inbox_);
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
    const std::optional<std::uint64_t> next = policy_.next_job([this](std::uint64_t id) { return readiness(id); });
    if (!next) break;
    const std::uint64_t id = *next;
    job& work = *jobs_.at(id);
    const std::optional<int> chosen = policy_.worker_for(id, work.chunks_left(policy_.chunks_worth_knowing()));
    if (!chosen) break;  // only busy workers, and prefetch would not pay
    const int rank = *chosen;
    policy_.chunk_taken(id);
    std::optional<byte_buffer> chunk;
    any = true;
    try {
      chunk = build_chunk(rank, id, work);
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

void master::send_setup(const bound_call& initializer) {
  const bound_call_data* init = initializer.data();
  byte_buffer bytes;
  const std::string_view key = init ? std::string_view(init->task.key) : std::string_view();
  const std::span<const char> state = init ? std::span<const char>(init->task.state) : std::span<const char>();
  begin_chunk(bytes, {setup_job, {0, init ? 1u : 0u}, static_cast<std::uint32_t>(key.size()),
                      static_cast<std::uint32_t>(state.size()), 0},
              key, state, {});
  if (init) bytes.insert(bytes.end(), init->args.begin(), init->args.end());
  const auto now = worker_slot::clock::now();
  if (local_) {
    policy_.chunk_sent(0);
    workers_[0].sent(setup_job, now);
    local_worker_->run(std::move(bytes));
    return;
  }
  for (int rank = 1; rank < size_; ++rank) {
    policy_.chunk_sent(rank);
    workers_[static_cast<std::size_t>(rank)].sent(setup_job, now);
    send_bytes(rank, tag::chunk, byte_buffer(bytes));
  }
}

std::optional<byte_buffer> master::build_chunk(int rank, std::uint64_t job_id, job& work) {
  worker_slot& worker = workers_[static_cast<std::size_t>(rank)];
  const bool needs_task = !worker.holds.contains(job_id);
  const task_definition& task = work.task();
  const std::string_view key = needs_task ? std::string_view(task.key) : std::string_view();
  const std::span<const char> state = needs_task ? std::span<const char>(task.state) : std::span<const char>();
  byte_buffer bytes = take_buffer();
  begin_chunk(bytes, {job_id, {}, static_cast<std::uint32_t>(key.size()),
                      static_cast<std::uint32_t>(state.size()),
                      static_cast<std::uint32_t>(worker.forget.size())},
              key, state, worker.forget);
  item_range items;
  try {
    items = work.next_chunk(bytes);
  } catch (...) {  // an argument that cannot be serialized
    spare_buffers_.push_back(std::move(bytes));
    fail_job(job_id, std::current_exception());
    return std::nullopt;
  }
  if (items.count == 0) {  // a lazy input ended or failed right there: nothing to send
    spare_buffers_.push_back(std::move(bytes));
    return std::nullopt;
  }
  set_chunk_items(bytes, items);
  return bytes;
}

void master::deliver_chunk(int rank, std::uint64_t job_id, byte_buffer&& bytes) {
  raise_injected_fault(fault_point::chunk_send);
  const std::uint64_t size = bytes.size();
  if (local_) local_worker_->run(std::move(bytes));
  else send_bytes(rank, tag::chunk, std::move(bytes));
  // Only once it is on its way.
  policy_.chunk_sent(rank);
  workers_[static_cast<std::size_t>(rank)].sent(job_id, worker_slot::clock::now(), size);
}

void master::send_bytes(int rank, tag kind, byte_buffer&& bytes) {
  sends_.emplace_back(comm_, rank, static_cast<int>(kind), std::move(bytes));
  ring_worker(rank);
}

bool master::complete_sends() {
  bool any = false;
  for (auto it = sends_.begin(); it != sends_.end();) {
    if (it->message.test()) {
      // Rung again: a send that could not be posted at once (the receiver's queue was full)
      // may reach it only now, after the ring it woke for.
      ring_worker(it->rank);
      byte_buffer sent = it->message.release();
      trim_message_buffer(sent);
      spare_buffers_.push_back(std::move(sent));
      it = sends_.erase(it);
      any = true;
    } else {
      ++it;
    }
  }
  return any;
}

byte_buffer master::take_buffer() {
  if (spare_buffers_.empty()) return {};
  byte_buffer bytes = std::move(spare_buffers_.back());
  spare_buffers_.pop_back();
  return bytes;
}

void master::handle_results(int rank, std::span<const char> message) {
  worker_slot& worker = workers_[static_cast<std::size_t>(rank)];
  // Results come back in the order the chunks went: these are of its oldest chunk.
  const auto received = worker_slot::clock::now();
  const worker_slot::finished_chunk done = worker.returned(received);
  const std::uint64_t running = done.job;
  policy_.chunk_returned(rank);
  if (running != setup_job) policy_.record_chunk_time(running, done.seconds);
  results_view results;
  try {
    if (running != setup_job) raise_injected_fault(fault_point::results_decode);
    results = read_results(message);
  } catch (...) {  // a garbled message: the call that worker was running fails with it
    if (running == setup_job) throw;
    fail_job(running, std::current_exception());
    return;
  }
  if (results.header.job == setup_job) {
    finish_setup(rank, results);
    return;
  }
  if (trace_)
    trace_->chunk_done(rank, results.header.job, results.header.items, done.bytes, message.size(),
                       results.header.run_ns, received);
  auto it = jobs_.find(results.header.job);
  if (it == jobs_.end()) {  // abandoned or dropped: its results go to its journal only, if it has one
    journal_late(results.header.job, results.header.items, results.outcomes);
    return;
  }
  try {
    it->second->accept(results.header.items, results.outcomes, {rank, worker.host});
  } catch (...) {  // a result that cannot be deserialized, or no memory for it
    fail_job(results.header.job, std::current_exception());
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
  std::lock_guard lock(mutex_);
  setup_done_ = true;
  setup_failure_ = first_setup_failure_;
  changed_.notify_all();
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
  const bool drained = policy_.total_in_flight() == 0 && sends_.empty() && setup_done_;
  return drained && (terminating_ || (closing_ && jobs_.empty()));
}

void master::wait_for_event(event_wait& idle) {
  {
    std::lock_guard lock(mutex_);
    if (has_command()) return;
  }
  // A caller that just got its result often sends the next call at once: the spin before
  // blocking saves it the wake-up of a blocked thread (about 12 us).
  idle.pause(every_event_rings());
}

bool master::every_event_rings() const {
  if (local_) return true;  // the task thread rings when it is done
  if (!sends_.empty()) return false;
  for (std::size_t rank = 1; rank < workers_.size(); ++rank)
    if (!workers_[rank].idle() && !worker_bells_[rank]) return false;
  return true;
}

}  // namespace mpipool::detail
