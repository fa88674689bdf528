#pragma once
// How an idle rank waits for a message without burning a core: a short spin for back-to-back
// latency, then sleeps that double up to a cap. Shared by the master and the workers.

#include <chrono>

namespace mpipool::detail {

class backoff {
 public:
  static constexpr int spin_polls = 64;
  static constexpr std::chrono::microseconds first_sleep{2};
  static constexpr std::chrono::microseconds max_sleep{1000};

  void reset() {
    polls_ = 0;
    sleep_ = first_sleep;
  }
  // How long to pause before polling again: zero while spinning.
  std::chrono::microseconds next();
  // Pauses for next().
  void pause();

 private:
  int polls_ = 0;
  std::chrono::microseconds sleep_ = first_sleep;
};

// Makes short sleeps short: Linux's default timer slack adds 50 us to every sleep.
void use_fine_timer_slack();

}  // namespace mpipool::detail
