#pragma once
// How a running chunk asks, between items, whether it should stop: a countdown inlined in the
// item loop, so that tiny items pay a decrement each, and the (type-erased) question asked
// only when it runs out. The countdown adapts to the items' speed so that the question comes
// about every `interval`: every item when items are slow, every few dozen when they are fast.

#include <chrono>
#include <cstdint>
#include <functional>

namespace mpipool::detail {

class stop_poll {
 public:
  using clock = std::chrono::steady_clock;
  // At most this many items between two looks at the clock, so that a chunk whose items turn
  // slow is still stopped within a few items.
  static constexpr std::uint32_t max_stride = 64;
  static constexpr clock::duration interval = std::chrono::microseconds(500);

  // With `every_item`, the question is asked before every item, however fast the items are.
  stop_poll(const std::function<bool(std::uint64_t job)>& ask, std::uint64_t job, bool every_item = false)
      : ask_(ask), job_(job), every_item_(every_item) {}

  // Called before each item but the first; true when the chunk should end here.
  bool operator()() {
    if (--countdown_ != 0) return false;
    return look();
  }

 private:
  bool look();

  const std::function<bool(std::uint64_t)>& ask_;
  std::uint64_t job_;
  bool every_item_;
  std::uint32_t stride_ = 1;
  std::uint32_t countdown_ = 1;
  clock::time_point last_look_ = clock::now();
};

}  // namespace mpipool::detail
