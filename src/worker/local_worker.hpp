#pragma once
// With a communicator of one rank there are no worker ranks: the master's own process runs the
// tasks, on a thread of their own. The progress thread then never runs a task, so terminate(),
// cancel() and dropping a stream never wait for one, exactly as with worker ranks.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "mpipool/detail/archive.hpp"
#include "worker/executor.hpp"
#include "worker/isolated_executor.hpp"
#include "wire/items_done.hpp"

namespace mpipool::detail {

class local_worker {
 public:
  // `results_ready` is called on the task thread each time a chunk's results are waiting.
  // With `isolation` on, the task thread runs the tasks in a helper process (from the fork
  // server the isolation settings name). The task thread keeps `items_done` (which must outlive
  // it) up to date, as a worker rank does its own.
  local_worker(std::string host, const isolation_settings& isolation, items_done_counter& items_done,
               std::function<void()> results_ready);
  ~local_worker();
  local_worker(const local_worker&) = delete;
  local_worker& operator=(const local_worker&) = delete;

  // Hands a chunk message to the task thread. Call only while it is idle (no results pending).
  void run(byte_buffer chunk);
  // The results message of the last chunk, once it is done. Rethrows what stopped the task
  // thread from making one.
  std::optional<byte_buffer> take_results();
  // Cuts the running chunk short after its current item if it belongs to `job`.
  void cancel(std::uint64_t job);
  // Cuts every chunk short after its current item, from now on.
  void stop_all() { stop_all_.store(true); }
  // As stop_all, and an isolated item running is killed (terminate()).
  void kill_running() {
    stop_all();
    kill_running_.store(true);
  }

 private:
  void serve();

  task_executor executor_;
  std::unique_ptr<isolated_executor> isolated_;  // when isolated
  items_done_counter& items_done_;
  std::function<void()> results_ready_;
  std::mutex mutex_;
  std::condition_variable work_arrived_;
  std::optional<byte_buffer> chunk_;
  std::optional<byte_buffer> results_;
  std::exception_ptr failure_;
  bool shutting_down_ = false;
  std::atomic<std::uint64_t> cancelled_job_{0};  // 0 is the set-up job, never cancelled
  std::atomic<bool> stop_all_{false};
  std::atomic<bool> kill_running_{false};
  std::thread thread_;
};

// Whether the calling thread is running a task of this process's pool (the task thread of a
// one-rank pool). Pool methods refuse to be called from there: the call would wait for itself.
bool on_task_thread();

}  // namespace mpipool::detail
