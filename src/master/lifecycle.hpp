#pragma once
// The pool's one state machine, read by the pool's methods and by the master alike, so that the
// state is kept once. It only moves forward: running -> closing -> terminating -> stopped
// (closing may be skipped).

#include <atomic>

namespace mpipool::detail {

enum class pool_state { running, closing, terminating, stopped };

class lifecycle {
 public:
  pool_state state() const { return state_.load(std::memory_order_acquire); }
  bool running() const { return state() == pool_state::running; }
  bool stopped() const { return state() == pool_state::stopped; }

  // Moves to `next` unless the pool is there or past it already; returns whether it moved.
  bool advance_to(pool_state next) {
    pool_state current = state_.load(std::memory_order_acquire);
    while (current < next) {
      if (state_.compare_exchange_weak(current, next, std::memory_order_acq_rel)) return true;
    }
    return false;
  }

 private:
  std::atomic<pool_state> state_{pool_state::running};
};

}  // namespace mpipool::detail
