#include "wire/wait.hpp"

#include "wire/doorbell.hpp"

#include <sys/prctl.h>

#include <algorithm>
#include <atomic>
#include <thread>

namespace mpipool::detail {

namespace {
std::atomic<bool> hot_spin_allowed{false};
}  // namespace

bool backoff::spinning(clock::time_point now) {
  if (!waiting_since_) waiting_since_ = now;
  const bool own_core = hot_spin_allowed.load(std::memory_order_relaxed);
  return now - *waiting_since_ < (own_core ? spin_for : shared_spin_for);
}

std::chrono::microseconds backoff::sleep_without_spin(clock::time_point now) {
  if (!waiting_since_) waiting_since_ = now;
  const auto silence = std::chrono::duration_cast<std::chrono::microseconds>(now - *waiting_since_);
  const auto cap = std::clamp(silence / idle_share, short_sleep, std::max(short_sleep, longest_sleep_));
  const auto pause = std::min(sleep_, cap);
  sleep_ = std::min(sleep_ * 2, cap);
  return pause;
}

void allow_hot_spin(bool allowed) { hot_spin_allowed.store(allowed, std::memory_order_relaxed); }

bool backoff::hot(clock::time_point now) {
  if (!hot_spin_allowed.load(std::memory_order_relaxed)) return false;
  if (!waiting_since_) waiting_since_ = now;
  return now - *waiting_since_ < hot_spin;
}

std::chrono::microseconds backoff::next(clock::time_point now) {
  if (spinning(now) || slept_) {
    slept_ = false;
    return std::chrono::microseconds::zero();
  }
  slept_ = true;
  return sleep_without_spin(now);
}

void backoff::pause() {
  const auto now = clock::now();  // one read for both looks
  if (hot(now)) {
    cpu_relax();
    return;
  }
  const auto duration = next(now);
  if (duration == std::chrono::microseconds::zero()) std::this_thread::yield();
  else std::this_thread::sleep_for(duration);
}

void event_wait::arm() {
  if (!bell_) return;
  const std::uint32_t rings = bell_->rings();
  // Rung since the last look: the message may be only half in (the first probe pulls it in,
  // the second finds it). Without these looks, a ring that came while this thread was away
  // (a yield on a shared core can last a whole time slice, past the spin) would be counted as
  // seen, and the wait would sleep on a message that is there.
  if (rings != seen_) looks_left_ = std::max(looks_left_, looks_after_wake);
  seen_ = rings;
}

void event_wait::pause(bool every_event_rings) {
  const auto now = backoff::clock::now();  // one read for the hot spin and the backoff
  if (backoff_.hot(now)) {
    cpu_relax();
    return;
  }
  if (looks_left_ > 0) {
    --looks_left_;
    std::this_thread::yield();
    return;
  }
  const auto sleep = backoff_.next(now);
  if (sleep == std::chrono::microseconds::zero()) {
    std::this_thread::yield();
    return;
  }
  if (!bell_) {
    std::this_thread::sleep_for(sleep);
    return;
  }
  if (bell_->wait(seen_, every_event_rings ? safety_timeout : sleep)) {
    // Rung: the next message often follows (a back-to-back call), so spin from the start.
    backoff_.reset();
    looks_left_ = looks_after_wake;
  }
}

void event_wait::block(bool every_event_rings) {
  if (!bell_) {
    pause(false);
    return;
  }
  if (looks_left_ > 0) {
    --looks_left_;
    std::this_thread::yield();
    return;
  }
  const auto timeout = every_event_rings
                           ? safety_timeout
                           : std::clamp(backoff_.sleep_without_spin(backoff::clock::now()), brief_block, backoff::short_sleep);
  if (bell_->wait(seen_, timeout)) {
    backoff_.reset();
    looks_left_ = looks_after_wake;
  }
}

void use_fine_timer_slack() {
  constexpr unsigned long slack_ns = 1000;
  prctl(PR_SET_TIMERSLACK, slack_ns, 0, 0, 0);
}

}  // namespace mpipool::detail
