#include "mpipool/detail/wait.hpp"

#include <sys/prctl.h>

#include <algorithm>
#include <thread>

namespace mpipool::detail {

std::chrono::microseconds backoff::next() {
  if (polls_ < spin_polls) {
    ++polls_;
    return std::chrono::microseconds::zero();
  }
  const auto now = sleep_;
  sleep_ = std::min(sleep_ * 2, max_sleep);
  return now;
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
