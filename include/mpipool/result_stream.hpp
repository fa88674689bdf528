#pragma once
/// @file result_stream.hpp
/// @brief What imap, imap_unordered and istarmap return: results as they become ready, as an
/// input range.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>

#include "mpipool/detail/job_control.hpp"
#include "mpipool/detail/stream_state.hpp"

namespace mpipool {

/// @brief A stream of results, read in input order (imap, istarmap) or in completion order
/// (imap_unordered, istarmap_unordered). An input range: use it in range-for or with std::ranges.
///
/// A failed item raises its mpipool::remote_error when iteration reaches it, and iteration may
/// go on after it; an exception thrown by the input itself is raised at its position and ends
/// the stream. Destroying the stream before its end (for example by `break` out of a range-for
/// over a temporary) stops reading the input and drops pending work; the pool stays usable.
/// Move-only.
/// @code
/// for (int square : pool.imap(square, std::views::iota(0))) {
///   if (square > 1000) break;   // stops the stream; the pool goes on
/// }
/// @endcode
template <class R>
class [[nodiscard]] result_stream {
 public:
  /// Iterates over the results; `*it` throws if that item failed, `++it` waits for the next.
  /// @code
  /// for (auto it = stream.begin(); it != stream.end(); ++it) total += *it;
  /// @endcode
  class iterator {
   public:
    using value_type = R;
    using difference_type = std::ptrdiff_t;
    using iterator_concept = std::input_iterator_tag;

    iterator() = default;
    R& operator*() const { return stream_->current(); }
    iterator& operator++() {
      stream_->advance(std::nullopt);
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return stream_ == nullptr || stream_->at_end_; }

   private:
    friend class result_stream;
    explicit iterator(result_stream* stream) : stream_(stream) {}
    result_stream* stream_ = nullptr;
  };

  result_stream(result_stream&& other) noexcept { *this = std::move(other); }
  result_stream& operator=(result_stream&& other) noexcept {
    if (this != &other) {
      stop();
      state_ = std::move(other.state_);
      control_ = std::move(other.control_);
      job_ = other.job_;
      current_ = std::move(other.current_);
      at_end_ = other.at_end_;
    }
    return *this;
  }
  result_stream(const result_stream&) = delete;
  result_stream& operator=(const result_stream&) = delete;
  /// Stops the work of an unfinished stream.
  ~result_stream() { stop(); }

  /// Waits for the next result, unless one is already waiting to be read.
  /// @code
  /// auto stream = pool.imap(f, xs);
  /// for (auto it = stream.begin(); it != stream.end(); ++it) use(*it);
  /// @endcode
  iterator begin() {
    if (!current_ && !at_end_) advance(std::nullopt);
    return iterator(this);
  }
  /// The end of the stream.
  std::default_sentinel_t end() const noexcept { return {}; }

  /// The next result, or nothing at the end. Throws a failed item's error; reading may go on.
  /// @code
  /// while (auto value = stream.next()) use(*value);
  /// @endcode
  std::optional<R> next() { return next_until(std::nullopt); }

  /// As next(), but throws mpipool::timeout_error if no result is ready within `timeout`.
  /// @code
  /// auto value = stream.next(std::chrono::seconds(5));
  /// @endcode
  template <class Rep, class Period>
  std::optional<R> next(std::chrono::duration<Rep, Period> timeout) {
    return next_until(std::chrono::steady_clock::now() +
                      std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout));
  }

  /// @cond internal
  result_stream(std::shared_ptr<detail::stream_state<R>> state, std::weak_ptr<detail::job_control> control,
                std::uint64_t job)
      : state_(std::move(state)), control_(std::move(control)), job_(job) {}
  /// @endcond

 private:
  using deadline = std::optional<std::chrono::steady_clock::time_point>;

  std::optional<R> next_until(deadline until) {
    advance(until);
    if (at_end_) return std::nullopt;
    return take_current();
  }

  std::optional<R> take_current() {
    auto entry = std::move(*current_);
    current_.reset();
    if (entry.error) std::rethrow_exception(entry.error);
    return std::move(entry.value);
  }

  void advance(deadline until) {
    current_.reset();
    current_ = state_->next(until);  // may throw (timeout, terminated): then nothing has moved
    if (!current_) at_end_ = true;
  }

  R& current() {
    if (!current_) throw std::logic_error("mpipool: no current result (the last wait for one failed)");
    if (current_->error) std::rethrow_exception(current_->error);
    return *current_->value;
  }

  void stop() {
    if (!state_ || state_->finished_reading()) return;
    if (auto control = control_.lock()) control->cancel(job_);
    state_.reset();
  }

  std::shared_ptr<detail::stream_state<R>> state_;
  std::weak_ptr<detail::job_control> control_;
  std::uint64_t job_ = 0;
  std::optional<typename detail::stream_state<R>::entry> current_;
  bool at_end_ = false;
};

}  // namespace mpipool
