#include "worker/local_worker.hpp"

#include "wire/wait.hpp"
#include "worker/items_done_publisher.hpp"

namespace mpipool::detail {

namespace {
thread_local bool task_thread = false;
}  // namespace

bool on_task_thread() { return task_thread; }

local_worker::local_worker(std::string host, const isolation_settings& isolation, items_done_counter& items_done,
                           std::function<void()> results_ready)
    : executor_(host),
      isolated_(isolation.isolated ? std::make_unique<isolated_executor>(host, isolation) : nullptr),
      items_done_(items_done),
      results_ready_(std::move(results_ready)) {
  if (isolated_) isolated_->kill_items_when([this] { return kill_running_.load(); });
  thread_ = std::thread([this] { serve(); });
}

local_worker::~local_worker() {
  stop_all();
  {
    std::lock_guard lock(mutex_);
    shutting_down_ = true;
  }
  work_arrived_.notify_one();
  thread_.join();
}

void local_worker::run(byte_buffer chunk) {
  {
    std::lock_guard lock(mutex_);
    chunk_.emplace(std::move(chunk));
  }
  work_arrived_.notify_one();
}

std::optional<byte_buffer> local_worker::take_results() {
  std::lock_guard lock(mutex_);
  if (failure_) std::rethrow_exception(std::exchange(failure_, nullptr));
  return std::exchange(results_, std::nullopt);
}

void local_worker::cancel(std::uint64_t job) { cancelled_job_.store(job); }

void local_worker::serve() {
  task_thread = true;
  use_fine_timer_slack();
  items_done_publisher items_done(&items_done_);
  const std::function<bool(std::uint64_t)> should_stop = [this, &items_done](std::uint64_t job) {
    items_done.between_items();
    return stop_all_.load() || cancelled_job_.load() == job;
  };
  byte_buffer results;
  for (;;) {
    byte_buffer chunk;
    {
      std::unique_lock lock(mutex_);
      work_arrived_.wait(lock, [this] { return chunk_ || shutting_down_; });
      if (!chunk_) {
        isolated_.reset();  // on this thread: its helper dies with the thread that forked it
        return;
      }
      chunk = std::move(*chunk_);
      chunk_.reset();
    }
    std::exception_ptr failure;
    try {
      items_done.chunk_starts(chunk);
      if (isolated_) isolated_->execute(chunk, results, should_stop);
      else executor_.execute(chunk, results, should_stop);
      items_done.chunk_ended(results);
    } catch (...) {  // no memory for the results: the progress thread aborts, as a worker rank would
      failure = std::current_exception();
    }
    {
      std::lock_guard lock(mutex_);
      if (failure) failure_ = failure;
      else results_.emplace(std::move(results));
    }
    results = byte_buffer();
    results_ready_();
  }
}

}  // namespace mpipool::detail
