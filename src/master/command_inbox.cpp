#include "master/command_inbox.hpp"

#include <algorithm>
#include <stdexcept>

#include "faults/stop_signals.hpp"
#include "mpipool/detail/mpi_section_state.hpp"

namespace mpipool::detail {

void command_inbox::ring() {
  // Once stopped, the progress thread waits no more, and a bell in the node's page may be gone.
  if (!lifecycle_.stopped()) bell_.ring();
  resume_.notify_one();  // it may sleep while a caller drives (sleep_while_caller_drives)
}

std::uint64_t command_inbox::submit(std::unique_ptr<job> work) {
  std::lock_guard lock(mutex_);
  // The pool checked this already; here it is checked again, atomically with the enqueue, for
  // a submission that raced a close() or terminate() from another thread.
  if (!lifecycle_.running()) throw std::logic_error("mpipool: pool not running");
  const std::uint64_t id = next_job_id_++;
  incoming_.emplace_back(id, std::move(work));
  ring();
  return id;
}

std::pair<std::uint64_t, bool> command_inbox::submit_or_drive(std::unique_ptr<job>& work,
                                                             const std::function<bool()>& may_drive) {
  std::lock_guard lock(mutex_);
  if (!lifecycle_.running()) throw std::logic_error("mpipool: pool not running");
  const std::uint64_t id = next_job_id_++;
  if (!has_command_locked() && may_drive()) {
    caller_driving_ = true;
    return {id, true};
  }
  incoming_.emplace_back(id, std::move(work));
  ring();
  return {id, false};
}

void command_inbox::end_drive(bool finished) {
  std::lock_guard lock(mutex_);
  caller_driving_ = false;
  const auto now = std::chrono::steady_clock::now();
  lease_end_ = finished ? now + caller_lease : now;
  if (!finished) ring();
}

void command_inbox::cancel(std::uint64_t job_id) {
  std::unique_lock lock(mutex_);
  if (lifecycle_.stopped()) return;
  cancels_.push_back(job_id);
  const std::uint64_t ticket = ++cancels_asked_;
  ring();
  // A stream dropped inside this thread's mpi_section: the parked progress thread cannot act
  // now, and when it resumes it drops the job before it reads any input or message again.
  if (holds_parking_mpi_section()) return;
  changed_.wait(lock, [&] { return cancels_done_ >= ticket || lifecycle_.stopped(); });
}

void command_inbox::poke() {
  std::lock_guard lock(mutex_);
  poked_ = true;
  ring();
}

void command_inbox::local_results_ready() {
  std::lock_guard lock(mutex_);
  local_results_ready_ = true;
  ring();
}

void command_inbox::close() {
  std::lock_guard lock(mutex_);
  lifecycle_.advance_to(pool_state::closing);
  ring();
}

void command_inbox::terminate() {
  std::unique_lock lock(mutex_);
  lifecycle_.advance_to(pool_state::terminating);
  ring();
  changed_.wait(lock, [this] { return acted_on_ >= pool_state::terminating || lifecycle_.stopped(); });
}

void command_inbox::mark_body_ended() {
  std::lock_guard lock(mutex_);
  if (lifecycle_.state() < pool_state::terminating) body_ended_ = true;
}

bool command_inbox::enter_mpi_section() {
  std::unique_lock lock(mutex_);
  if (lifecycle_.stopped()) return false;
  ++mpi_sections_;
  if (parked_) return true;  // another section holds it parked already
  ring();
  changed_.wait(lock, [this] { return parked_ || lifecycle_.stopped(); });
  if (parked_) return true;
  --mpi_sections_;  // it stopped instead: nothing to hold
  return false;
}

void command_inbox::leave_mpi_section() {
  {
    std::lock_guard lock(mutex_);
    if (--mpi_sections_ > 0) return;
  }
  resume_.notify_one();
}

std::optional<remote_failure> command_inbox::wait_for_setup() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return setup_done_ || lifecycle_.stopped(); });
  return setup_failure_;
}

bool command_inbox::has_command() const {
  std::lock_guard lock(mutex_);
  return has_command_locked();
}

bool command_inbox::has_command_locked() const {
  // stopped is the progress thread's own doing: nothing to act on.
  return !incoming_.empty() || !cancels_.empty() || poked_ || local_results_ready_ || mpi_sections_ > 0 ||
         std::min(lifecycle_.state(), pool_state::terminating) > acted_on_ ||
         (requested_stop_signal() != 0 && !signal_acted_on_);
}

std::optional<command_inbox::commands> command_inbox::take() {
  std::lock_guard lock(mutex_);
  if (!has_command_locked()) return std::nullopt;
  commands taken;
  taken.arrived.swap(incoming_);
  taken.cancelled.swap(cancels_);
  taken.poked = std::exchange(poked_, false);
  taken.asked = lifecycle_.state();
  // Terminating implies closing: no stream holds back any more (none is served either).
  if (taken.asked >= pool_state::closing && acted_on_ < pool_state::closing) acted_on_ = pool_state::closing;
  taken.closing = acted_on_ >= pool_state::closing;
  taken.body_ended = body_ended_;
  return taken;
}

void command_inbox::local_results_taken() {
  std::lock_guard lock(mutex_);
  local_results_ready_ = false;
}

void command_inbox::cancels_handled(std::size_t count) {
  std::lock_guard lock(mutex_);
  cancels_done_ += count;
  changed_.notify_all();
}

void command_inbox::terminated() {
  std::lock_guard lock(mutex_);
  acted_on_ = pool_state::terminating;
  changed_.notify_all();
}

void command_inbox::refuse_calls_after_signal() {
  std::lock_guard lock(mutex_);
  signal_acted_on_ = true;
  lifecycle_.advance_to(pool_state::terminating);  // new calls are refused from now on
}

void command_inbox::setup_finished(const std::optional<remote_failure>& failure) {
  std::lock_guard lock(mutex_);
  setup_done_ = true;
  setup_failure_ = failure;
  changed_.notify_all();
}

std::pair<std::vector<command_inbox::queued_job>, bool> command_inbox::stop() {
  std::lock_guard lock(mutex_);
  lifecycle_.advance_to(pool_state::stopped);
  std::vector<queued_job> late;
  late.swap(incoming_);
  changed_.notify_all();
  return {std::move(late), body_ended_};
}

void command_inbox::wake_waiters() {
  std::lock_guard lock(mutex_);
  changed_.notify_all();
}

void command_inbox::step_aside_while_asked() {
  std::unique_lock lock(mutex_);
  if (mpi_sections_ == 0) return;
  parked_ = true;
  changed_.notify_all();
  resume_.wait(lock, [this] { return mpi_sections_ == 0; });
  parked_ = false;
}

bool command_inbox::sleep_while_caller_drives() {
  std::unique_lock lock(mutex_);
  bool slept = false;
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    if (!caller_driving_ && (now >= lease_end_ || has_command_locked())) return slept;
    // While the caller drives, a look every caller_lease: its drive is bounded, so this never spins.
    resume_.wait_until(lock, std::max(lease_end_, now + caller_lease));
    slept = true;
  }
}

}  // namespace mpipool::detail
