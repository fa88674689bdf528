#pragma once
// How a caller waits for a result: it spins a moment, yielding the core, before it blocks on
// its condition variable. A result that comes within the spin (a back-to-back apply, a stream
// whose next item is on its way) then costs no wake-up of a blocked thread (about 12 us each).

#include <chrono>
#include <thread>

namespace mpipool::detail {

// Short, because a spinning caller takes the core from a rank with work to do when cores are
// shared. Measured with 2 and 3 ranks on 2 shared cores (W2, medians of 5): 0, 20 and 50 us
// gave round trips within the machine's noise (20-26 us with 1 worker, 30-32 us with 2), 50
// the worst; 20 us catches a result already on its way at little CPU.
inline constexpr std::chrono::microseconds caller_spin{20};

// Yields until `done()` or until `caller_spin` has passed; returns whether `done()`.
template <class Done>
bool spin_until(Done done) {
  const auto until = std::chrono::steady_clock::now() + caller_spin;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::yield();
  }
}

}  // namespace mpipool::detail
