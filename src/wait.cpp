#include "mpipool/detail/wait.hpp"

#include <sys/prctl.h>

#include <algorithm>
#include <thread>

namespace mpipool::detail {

std::chrono::microseconds backoff::next() {
  const auto now = std::chrono::steady_clock::now();
  if (!spinning_since_) spinning_since_ = now;
  if (now - *spinning_since_ < spin_for) return std::chrono::microseconds::zero();
  const auto pause = sleep_;
  sleep_ = std::min(sleep_ * 2, max_sleep);
  return pause;
}

void backoff::pause() {
  const auto duration = next();
  if (duration == std::chrono::microseconds::zero()) std::this_thread::yield();
  else std::this_thread::sleep_for(duration);
}

void use_fine_timer_slack() {
  constexpr unsigned long slack_ns = 1000;
  prctl(PR_SET_TIMERSLACK, slack_ns, 0, 0, 0);
}

}  // namespace mpipool::detail
