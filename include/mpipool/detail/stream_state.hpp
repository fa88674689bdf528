#pragma once
// What a result stream (imap and friends) shares with its job: outcomes that arrived and were
// not yet read, where the input ended, and how much of the window is used.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>

#include "mpipool/detail/job_control.hpp"
#include "mpipool/detail/spin_wait.hpp"
#include "mpipool/detail/mpi_section_state.hpp"
#include "mpipool/errors.hpp"

namespace mpipool::detail {

template <class R>
class stream_state {
 public:
  struct entry {
    std::optional<R> value;
    std::exception_ptr error;  // a failed item, or the input's own exception
  };

  stream_state(bool ordered, std::weak_ptr<job_control> control, std::thread::id progress_thread)
      : ordered_(ordered), control_(std::move(control)), progress_thread_(progress_thread) {}

  // --- progress thread ---
  void deliver(std::uint64_t index, entry e) {
    std::lock_guard lock(mutex_);
    if (ordered_) pending_.emplace(index, std::move(e));
    else arrived_.push_back(std::move(e));
    updates_.fetch_add(1, std::memory_order_release);
    ready_.notify_all();
  }
  // The input ended after `items` items, by exhausting or by throwing `error`.
  void end_input(std::uint64_t items, std::exception_ptr error) {
    std::lock_guard lock(mutex_);
    end_ = items;
    input_error_ = std::move(error);
    updates_.fetch_add(1, std::memory_order_release);
    ready_.notify_all();
  }
  void fail(std::exception_ptr why) {
    std::lock_guard lock(mutex_);
    failure_ = std::move(why);
    updates_.fetch_add(1, std::memory_order_release);
    ready_.notify_all();
  }
  // consumed_ and stalled_ form a "set mine, then read yours" handshake between the progress
  // thread and the consumer: both sides need sequentially consistent order, or each could miss
  // the other's write and the poke that restarts the stream would be lost.
  std::uint64_t consumed() const { return consumed_.load(); }
  // The job held back because its window was full; the consumer pokes the master on its next read.
  void mark_stalled() { stalled_.store(true); }

  // --- consumer ---
  // The next entry, or nothing at the end. Throws timeout_error when `deadline` passes first.
  std::optional<entry> next(std::optional<std::chrono::steady_clock::time_point> deadline) {
    std::unique_lock lock(mutex_);
    if (!available() && !at_end() && !failure_) refuse_wait_in_mpi_section("reading a stream");
    if (!available() && !at_end() && !failure_ && std::this_thread::get_id() == progress_thread_)
      throw std::logic_error(
          "mpipool: reading a stream inside a callback would deadlock: callbacks run on the pool's "
          "progress thread, which computes the stream's results");
    auto can_go_on = [this] { return available() || at_end() || failure_; };
    if (!can_go_on()) {
      // Spin a moment for the next update before blocking (detail/spin_wait.hpp).
      const std::uint64_t seen = updates_.load(std::memory_order_acquire);
      lock.unlock();
      spin_until([&] { return updates_.load(std::memory_order_acquire) != seen; });
      lock.lock();
    }
    if (deadline) {
      if (!ready_.wait_until(lock, *deadline, can_go_on))
        throw timeout_error("mpipool: no next result within the timeout");
    } else {
      ready_.wait(lock, can_go_on);
    }
    if (available()) {
      entry e = take();
      lock.unlock();
      consumed_.fetch_add(1);
      if (stalled_.exchange(false)) poke();
      return e;
    }
    if (at_end()) {
      if (!input_error_) return std::nullopt;
      entry e{std::nullopt, std::exchange(input_error_, nullptr)};
      return e;
    }
    std::rethrow_exception(failure_);
  }

  bool finished_reading() const {
    std::lock_guard lock(mutex_);
    return at_end() && !input_error_;
  }

 private:
  bool available() const { return ordered_ ? pending_.contains(yielded_) : !arrived_.empty(); }
  bool at_end() const { return end_ && yielded_ == *end_; }
  entry take() {
    entry e;
    if (ordered_) {
      auto it = pending_.find(yielded_);
      e = std::move(it->second);
      pending_.erase(it);
    } else {
      e = std::move(arrived_.front());
      arrived_.pop_front();
    }
    ++yielded_;
    return e;
  }
  void poke() {
    if (auto control = control_.lock()) control->poke();
  }

  const bool ordered_;
  std::weak_ptr<job_control> control_;
  const std::thread::id progress_thread_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::map<std::uint64_t, entry> pending_;  // ordered: arrived, waiting for their turn
  std::deque<entry> arrived_;               // unordered: in order of arrival
  std::uint64_t yielded_ = 0;
  std::optional<std::uint64_t> end_;
  std::exception_ptr input_error_;
  std::exception_ptr failure_;
  std::atomic<std::uint64_t> consumed_{0};
  std::atomic<bool> stalled_{false};
  std::atomic<std::uint64_t> updates_{0};  // bumped under mutex_ by every change a reader waits for
};

}  // namespace mpipool::detail
