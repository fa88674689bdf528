#include "mpipool/pool.hpp"

#include <cstdio>
#include <string>

#include <unistd.h>

#include "worker/local_worker.hpp"
#include "master/master.hpp"
#include "mpipool/detail/mpi_section_state.hpp"
#include "faults/stop_signals.hpp"

namespace mpipool {

namespace detail {

void run_guarded(const char* which, const std::function<void()>& callback) {
  try {
    callback();
  } catch (...) {
    const item_error error = describe(std::current_exception());
    // No MPI call here: this may run on the caller's thread while the progress thread runs.
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    std::fprintf(stderr, "mpipool: rank 0 on host %s: %s threw %s: %s (ignored)\n", host, which,
                 error.type_name.c_str(), error.message.c_str());
  }
}

}  // namespace detail

pool::~pool() {
  if (master_.state() == detail::pool_state::running) terminate();
  master_.join();
}

std::size_t pool::workers() const noexcept { return master_.worker_count(); }
bool pool::isolated() const noexcept { return master_.isolated(); }
bool pool::shows_progress() const noexcept { return master_.shows_progress(); }
std::size_t pool::worker_count() const { return master_.worker_count(); }
std::thread::id pool::progress_thread() const { return master_.progress_thread(); }

void pool::require_off_progress_thread() const {
  if (detail::on_task_thread())
    throw std::logic_error(
        "mpipool: pool methods cannot be called from inside a task: with one rank, tasks run on "
        "the pool's task thread, and a call from there would wait for itself");
  if (std::this_thread::get_id() == master_.progress_thread())
    throw std::logic_error(
        "mpipool: pool methods cannot be called from a result or error callback: callbacks run "
        "on the pool's progress thread, and a call from there would deadlock");
}

bool pool::stop_requested() const noexcept { return detail::requested_stop_signal() != 0; }
int pool::stop_signal() const noexcept { return detail::requested_stop_signal(); }

void pool::check_width(int ranks) const {
  const task_width width{ranks};
  const std::size_t workers = worker_count();
  if (width.ranks < 1)
    throw std::invalid_argument("mpipool: ranks(" + std::to_string(width.ranks) +
                                "): a parallel task needs at least one rank");
  if (width.ranks > 1 && master_.worker_count() == 1 && master_.is_local())
    throw std::invalid_argument("mpipool: ranks(" + std::to_string(width.ranks) +
                                "): this pool runs on one rank, with no worker ranks to group; start "
                                "the job with at least " + std::to_string(width.ranks + 1) + " ranks");
  if (static_cast<std::size_t>(width.ranks) > workers)
    throw std::invalid_argument("mpipool: ranks(" + std::to_string(width.ranks) + "): the pool has only " +
                                std::to_string(workers) + " worker" + (workers == 1 ? "" : "s"));
}

void pool::require_running() const {
  require_off_progress_thread();
  if (const int signal = detail::requested_stop_signal(); signal != 0)
    throw pool_interrupted(std::string("mpipool: the pool was stopped by ") + detail::stop_signal_name(signal) +
                               "; it takes no new calls",
                           signal);
  if (master_.state() != detail::pool_state::running) throw std::logic_error("mpipool: pool not running");
}

std::uint64_t pool::enqueue(std::unique_ptr<detail::job> work) { return master_.submit(std::move(work)); }
std::uint64_t pool::enqueue_and_drive(std::unique_ptr<detail::job> work, const std::function<bool()>& done) {
  return master_.submit_and_drive(std::move(work), done);
}

void pool::close() {
  require_off_progress_thread();
  // As in Python, closing a pool that is closed or terminated already does nothing.
  if (master_.state() == detail::pool_state::running) master_.close();
}

void pool::terminate() {
  require_off_progress_thread();
  if (master_.state() != detail::pool_state::stopped) detail::refuse_wait_in_mpi_section("terminate()");
  master_.terminate();
}

void pool::join() {
  require_off_progress_thread();
  if (master_.state() == detail::pool_state::running)
    throw std::logic_error("mpipool: join() on a running pool; call close() or terminate() first");
  if (master_.state() != detail::pool_state::stopped) detail::refuse_wait_in_mpi_section("join()");
  master_.join();
}

}  // namespace mpipool
