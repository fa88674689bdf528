#pragma once
/// @file as_completed.hpp
/// @brief mpipool::as_completed: handles in the order they finish, as
/// `concurrent.futures.as_completed`.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "mpipool/async_result.hpp"
#include "mpipool/errors.hpp"

namespace mpipool {

/// @brief An input range over async results, yielded as they finish (successfully or not).
/// Made by mpipool::as_completed.
/// @code
/// for (const auto& handle : mpipool::as_completed(handles)) use(handle.get());
/// @endcode
template <class T>
class completion_stream {
  struct finished_queue {
    std::mutex mutex;
    std::condition_variable changed;
    std::deque<std::size_t> finished;
  };

 public:
  /// Iterates over the handles in completion order; `++` waits for the next one.
  /// @code
  /// auto done = mpipool::as_completed(handles);
  /// for (auto it = done.begin(); it != done.end(); ++it) use(it->get());
  /// @endcode
  class iterator {
   public:
    using value_type = async_result<T>;
    using difference_type = std::ptrdiff_t;
    using iterator_concept = std::input_iterator_tag;

    iterator() = default;
    const async_result<T>& operator*() const { return stream_->handles_[stream_->current_]; }
    const async_result<T>* operator->() const { return &**this; }
    iterator& operator++() {
      stream_->advance();
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return stream_ == nullptr || stream_->done_; }

   private:
    friend class completion_stream;
    explicit iterator(completion_stream* stream) : stream_(stream) {}
    completion_stream* stream_ = nullptr;
  };

  completion_stream(std::vector<async_result<T>> handles,
                    std::optional<std::chrono::steady_clock::time_point> deadline)
      : handles_(unique(std::move(handles))), deadline_(deadline), queue_(std::make_shared<finished_queue>()) {
    for (std::size_t i = 0; i < handles_.size(); ++i) {
      handles_[i].add_done_callback([queue = queue_, i](const async_result<T>&) {
        {
          std::lock_guard lock(queue->mutex);
          queue->finished.push_back(i);
        }
        queue->changed.notify_all();
      });
    }
  }

  /// Waits for the first handle to finish; throws mpipool::timeout_error past the deadline.
  iterator begin() {
    advance();
    return iterator(this);
  }
  /// The end: every handle was yielded.
  std::default_sentinel_t end() const noexcept { return {}; }

 completion_stream(completion_stream&&) noexcept = default;
  completion_stream& operator=(completion_stream&&) noexcept = default;
  completion_stream(const completion_stream&) = delete;  // copies would take each other's completions
  completion_stream& operator=(const completion_stream&) = delete;

 private:
  // Each handle once, in the order given, as Python's as_completed does with duplicates.
  static std::vector<async_result<T>> unique(std::vector<async_result<T>> handles) {
    std::vector<async_result<T>> out;
    for (auto& h : handles) {
      const bool seen = std::any_of(out.begin(), out.end(), [&](const async_result<T>& o) {
        return detail::state_of(o) == detail::state_of(h);
      });
      if (!seen) out.push_back(std::move(h));
    }
    return out;
  }

  void advance() {
    if (yielded_ == handles_.size()) {
      done_ = true;
      return;
    }
    std::unique_lock lock(queue_->mutex);
    auto any = [this] { return !queue_->finished.empty(); };
    if (deadline_) {
      if (!queue_->changed.wait_until(lock, *deadline_, any))
        throw timeout_error("mpipool: as_completed: " + std::to_string(handles_.size() - yielded_) +
                            " of " + std::to_string(handles_.size()) + " results unfinished at the timeout");
    } else {
      queue_->changed.wait(lock, any);
    }
    current_ = queue_->finished.front();
    queue_->finished.pop_front();
    ++yielded_;
  }

  std::vector<async_result<T>> handles_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  std::shared_ptr<finished_queue> queue_;
  std::size_t current_ = 0;
  std::size_t yielded_ = 0;
  bool done_ = false;
};

/// @brief Yields `handles` as they finish. Iterating throws mpipool::timeout_error once
/// `timeout` (counted from this call) has passed with handles still unfinished.
/// @code
/// std::vector<mpipool::async_result<int>> handles;
/// for (int i = 0; i < 10; ++i) handles.push_back(pool.submit(square, i));
/// for (const auto& h : mpipool::as_completed(handles, std::chrono::seconds(30))) total += h.get();
/// @endcode
template <class T, class Rep = long, class Period = std::ratio<1>>
completion_stream<T> as_completed(std::vector<async_result<T>> handles,
                                  std::optional<std::chrono::duration<Rep, Period>> timeout = std::nullopt) {
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (timeout)
    deadline = std::chrono::steady_clock::now() +
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(*timeout);
  return completion_stream<T>(std::move(handles), deadline);
}

/// @brief as_completed with a timeout given as a plain duration.
/// @code
/// for (const auto& h : mpipool::as_completed(handles, std::chrono::milliseconds(500))) use(h);
/// @endcode
template <class T, class Rep, class Period>
completion_stream<T> as_completed(std::vector<async_result<T>> handles, std::chrono::duration<Rep, Period> timeout) {
  return as_completed<T, Rep, Period>(std::move(handles), std::optional(timeout));
}

}  // namespace mpipool
