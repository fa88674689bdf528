#pragma once
// How an idle rank waits for a message without burning a core: a short spin (yielding the
// core to anyone who wants it) for back-to-back latency, then sleeps that double up to a cap.
// Shared by the master and the workers.

#include <chrono>
#include <optional>

namespace mpipool::detail {

class backoff {
 public:
  // A round trip through the other side can take hundreds of microseconds when ranks share
  // cores; a sleep inside it would add a timer's latency to every message. Measured: spinning
  // 2 ms took map at chunksize 1 from about 60k to 150k items/s with one worker.
  static constexpr std::chrono::microseconds spin_for{2000};
  static constexpr std::chrono::microseconds first_sleep{16};
  static constexpr std::chrono::microseconds max_sleep{1000};

  void reset() {
    spinning_since_.reset();
    sleep_ = first_sleep;
  }
  // How long to pause before polling again: zero while spinning.
  std::chrono::microseconds next();
  // Pauses for next().
  void pause();

 private:
  std::optional<std::chrono::steady_clock::time_point> spinning_since_;
  std::chrono::microseconds sleep_ = first_sleep;
};

// Makes short sleeps short: Linux's default timer slack adds 50 us to every sleep.
void use_fine_timer_slack();

}  // namespace mpipool::detail
