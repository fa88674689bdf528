#pragma once
// How a caller waits for a result: it spins a moment, yielding the core, before it blocks on
// its condition variable. A result that comes within the spin (a back-to-back apply, a stream
// whose next item is on its way) then costs no wake-up of a blocked thread (about 12 us each).

#include <chrono>
#include <thread>

namespace mpipool::detail {

// Long enough for a sequential apply round trip (15-25 us) with some room, short because a
// spinning caller takes the core from a rank with work to do when cores are shared.
inline constexpr std::chrono::microseconds caller_spin{50};

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
