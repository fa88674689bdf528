#pragma once
/// @file async_result.hpp
/// @brief What an `*_async` call returns: a handle to a result that is computed in the background.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "mpipool/detail/spin_wait.hpp"
#include "mpipool/detail/mpi_section_state.hpp"
#include "mpipool/errors.hpp"

namespace mpipool {

template <class T>
class async_result;

namespace detail {

template <class T>
using stored_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

// The state an async_result shares with the job that fills it.
template <class T>
class result_state {
 public:
  explicit result_state(std::thread::id progress_thread) : progress_thread_(progress_thread) {}

  void set_value(stored_t<T> value) {
    std::unique_lock lock(mutex_);
    value_.emplace(std::move(value));
    become_ready(lock);
  }
  // Without `run_done_callbacks` the done callbacks are dropped unrun (their body is gone).
  void set_exception(std::exception_ptr error, bool run_done_callbacks = true) {
    std::unique_lock lock(mutex_);
    error_ = std::move(error);
    if (!run_done_callbacks) ready_callbacks_.clear();
    become_ready(lock);
  }

  // Runs `callback` once the result is ready: at once, here, if it already is.
  void on_ready(std::function<void()> callback) {
    {
      std::lock_guard lock(mutex_);
      if (!ready_) {
        ready_callbacks_.push_back(std::move(callback));
        return;
      }
    }
    callback();
  }

  void wait() {
    if (spin_until_released()) return;
    std::unique_lock lock(mutex_);
    if (!can_return()) refuse_to_wait_for_ever();
    ready_cv_.wait(lock, [this] { return can_return(); });
  }
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) {
    if (spin_until_released()) return true;
    std::unique_lock lock(mutex_);
    if (!can_return()) refuse_to_wait_for_ever();
    return ready_cv_.wait_for(lock, timeout, [this] { return can_return(); });
  }
  bool ready() const {
    std::lock_guard lock(mutex_);
    return ready_;
  }
  // Whether waiters may go: the value is in place and the done callbacks have run.
  bool released() const { return released_.load(std::memory_order_acquire); }
  bool successful() const {
    std::lock_guard lock(mutex_);
    if (!ready_) throw std::logic_error("mpipool: successful() called before the result is ready");
    return !error_;
  }
  // The value, or the task's error rethrown. Call only once ready.
  stored_t<T>& value() {
    std::lock_guard lock(mutex_);
    if (error_) std::rethrow_exception(error_);
    return *value_;
  }

 private:
  // Done callbacks run after the value is in place (they may read it) but before waiters
  // wake, so that get() returns after them, as it does after result callbacks.
  void become_ready(std::unique_lock<std::mutex>& lock) {
    ready_ = true;
    auto callbacks = std::move(ready_callbacks_);
    ready_callbacks_.clear();
    lock.unlock();
    for (auto& callback : callbacks) callback();
    lock.lock();
    released_ = true;
    lock.unlock();
    ready_cv_.notify_all();
  }

  // Spins a moment for the result before the caller blocks; never on the progress thread,
  // which computes the result (and may refuse to wait).
  bool spin_until_released() const {
    if (std::this_thread::get_id() == progress_thread_) return false;
    return spin_until([this] { return released_.load(std::memory_order_acquire); });
  }

  // Whether a wait may return now. A done callback (on the progress thread) may read its own
  // result before waiters are released.
  bool can_return() const {
    return released_ || (ready_ && std::this_thread::get_id() == progress_thread_);
  }

  void refuse_to_wait_for_ever() const {
    refuse_wait_in_mpi_section("waiting for a result");
    if (std::this_thread::get_id() == progress_thread_)
      throw std::logic_error(
          "mpipool: waiting for a result inside a result or error callback would deadlock: "
          "callbacks run on the pool's progress thread, which computes that result");
  }

  const std::thread::id progress_thread_;
  mutable std::mutex mutex_;
  std::condition_variable ready_cv_;
  bool ready_ = false;     // the value or error is in place
  // And the done callbacks have run: waiters may go. Atomic, for spinning waiters; written
  // under mutex_.
  std::atomic<bool> released_{false};
  std::optional<stored_t<T>> value_;
  std::exception_ptr error_;
  std::vector<std::function<void()>> ready_callbacks_;
};

template <class T>
std::shared_ptr<result_state<T>> state_of(const async_result<T>& r);

}  // namespace detail

/// @brief A result that is being computed in the background, as Python's `AsyncResult`.
///
/// Returned by `apply_async`, `map_async` and `starmap_async`. It stays valid after the pool is
/// gone: a pool that terminates before the result is ready fails it with mpipool::pool_terminated.
/// Copies share one result.
///
/// get() on a handle that is a variable returns a const reference into the shared result,
/// valid as long as that handle lives. get() on a temporary handle (or on `std::move(handle)`)
/// returns the value itself, so that `for (auto& x : pool.map_async(f, xs).get())` and
/// `const auto& v = pool.apply_async(f, x).get()` are safe: the value is moved out when no other
/// copy of the handle exists, and copied when one does, so that the copies still see it.
/// @code
/// mpipool::async_result<std::vector<int>> r = pool.map_async(square, xs);
/// do_something_else();
/// if (r.wait(std::chrono::seconds(5))) use(r.get());            // a reference, valid while r lives
/// std::vector<int> mine = std::move(r).get();                    // the value, moved out
/// for (int sq : pool.map_async(square, xs).get()) use(sq);       // the value, kept by the loop
/// @endcode
template <class T>
class [[nodiscard]] async_result {
 public:
  /// The value, waiting for it if needed: a const reference valid while this handle lives.
  /// Rethrows the task's error (e.g. mpipool::remote_error).
  /// @code
  /// auto r = pool.apply_async(square, 7);
  /// const int& v = r.get();
  /// @endcode
  decltype(auto) get() const& {
    state_->wait();
    return value();
  }

  /// The value of a temporary handle (or of `std::move(handle)`), waiting for it if needed:
  /// moved out when no other copy of this handle exists, copied otherwise.
  /// @code
  /// int v = pool.apply_async(square, 7).get();
  /// @endcode
  T get() && {
    state_->wait();
    return take_value();
  }

  /// As get(), but throws mpipool::timeout_error if the result is not ready within `timeout`.
  /// @code
  /// const auto& v = r.get(std::chrono::milliseconds(100));
  /// @endcode
  template <class Rep, class Period>
  decltype(auto) get(std::chrono::duration<Rep, Period> timeout) const& {
    wait_or_throw(timeout);
    return value();
  }

  /// As get() on a temporary handle, but throws mpipool::timeout_error if the result is not
  /// ready within `timeout`.
  /// @code
  /// auto v = pool.apply_async(square, 7).get(std::chrono::seconds(10));
  /// @endcode
  template <class Rep, class Period>
  T get(std::chrono::duration<Rep, Period> timeout) && {
    wait_or_throw(timeout);
    return take_value();
  }

  /// Waits until the result is ready (successfully or not).
  /// @code
  /// r.wait();
  /// @endcode
  void wait() const { state_->wait(); }

  /// Waits at most `timeout`; returns whether the result is ready.
  /// @code
  /// bool done = r.wait(std::chrono::seconds(1));
  /// @endcode
  template <class Rep, class Period>
  bool wait(std::chrono::duration<Rep, Period> timeout) const {
    return state_->wait_for(timeout);
  }

  /// Whether the result is ready. Never blocks.
  /// @code
  /// while (!r.ready()) do_other_work();
  /// @endcode
  bool ready() const { return state_->ready(); }

  /// Whether the call succeeded. Throws std::logic_error while the result is not ready.
  /// @code
  /// r.wait();
  /// if (!r.successful()) log("failed");
  /// @endcode
  bool successful() const { return state_->successful(); }

  /// Calls `callback(*this)` once the result is ready, successfully or not: on the pool's
  /// progress thread, or at once on this thread if it is ready already. As
  /// `concurrent.futures.Future.add_done_callback`. A callback must not wait on another result.
  /// @code
  /// handle.add_done_callback([](const mpipool::async_result<int>& h) { if (h.successful()) log(h.get()); });
  /// @endcode
  void add_done_callback(std::function<void(const async_result&)> callback) const {
    state_->on_ready([self = *this, callback = std::move(callback)] {
      try {
        callback(self);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "mpipool: rank 0: done callback threw: %s (ignored)\n", e.what());
      } catch (...) {
        std::fprintf(stderr, "mpipool: rank 0: done callback threw (ignored)\n");
      }
    });
  }

 private:
  explicit async_result(std::shared_ptr<detail::result_state<T>> state) : state_(counting_handles(std::move(state))) {}
  friend class pool;
  friend std::shared_ptr<detail::result_state<T>> detail::state_of<T>(const async_result<T>&);

  // Handles share an owner of their own, so that the use count of state_ counts the handles
  // (a done callback's copy included) and not the job that fills the result.
  static std::shared_ptr<detail::result_state<T>> counting_handles(std::shared_ptr<detail::result_state<T>> state) {
    auto owner = std::make_shared<std::shared_ptr<detail::result_state<T>>>(std::move(state));
    return std::shared_ptr<detail::result_state<T>>(owner, owner->get());
  }

  template <class Rep, class Period>
  void wait_or_throw(std::chrono::duration<Rep, Period> timeout) const {
    if (!state_->wait_for(timeout))
      throw timeout_error("mpipool: result not ready within " +
                          std::to_string(std::chrono::duration<double>(timeout).count()) + " s");
  }

  decltype(auto) value() const {
    if constexpr (std::is_void_v<T>) {
      state_->value();
    } else {
      return static_cast<const T&>(state_->value());
    }
  }

  T take_value() {
    if constexpr (std::is_void_v<T>) {
      state_->value();
    } else {
      if (state_.use_count() == 1) return std::move(state_->value());  // no other handle can see it
      return static_cast<const T&>(state_->value());
    }
  }

  std::shared_ptr<detail::result_state<T>> state_;
};

namespace detail {
template <class T>
std::shared_ptr<result_state<T>> state_of(const async_result<T>& r) {
  return r.state_;
}
}  // namespace detail

}  // namespace mpipool
