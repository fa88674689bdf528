#pragma once
// The worker's side of items_done_counter: keeps the count of items this worker finished up to
// date, from the item loop's own record of the item it runs (current_task()), so that the item
// loop itself does nothing more. It is told of each chunk as it starts and ends, and asked
// between items, when the chunk's stop poll asks whether to stop: before every item when items
// are slow, about every half millisecond when they are fast. A worker whose count the master
// cannot read sends it instead (tag::items_done), at most once a second, if the set-up chunk
// asked for it (the master shows progress).

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>

#include "wire/items_done.hpp"

namespace mpipool::detail {

class items_done_publisher {
 public:
  // Without a counter (a worker off the master's node) it calls `send` with the count instead,
  // once asked to; without either it does nothing.
  explicit items_done_publisher(items_done_counter* counter, std::function<void(std::uint64_t)> send = {})
      : counter_(counter), send_(std::move(send)) {}

  // `chunk`: the chunk message about to run.
  void chunk_starts(std::span<const char> chunk);
  // Between two items of the running chunk: those before the one now running are done.
  void between_items();
  // `results`: the chunk's results message; its count is what the master will count.
  void chunk_ended(std::span<const char> results);

 private:
  using clock = std::chrono::steady_clock;
  static constexpr clock::duration send_every = std::chrono::seconds(1);

  items_done_counter* counter_;
  std::function<void(std::uint64_t)> send_;
  bool sending_ = false;        // the set-up chunk asked for messages
  clock::time_point last_sent_{};
  std::uint64_t finished_ = 0;  // in chunks that ended
  std::uint64_t first_ = 0;     // the running chunk's first item
  bool counting_ = false;       // a chunk of a call runs (not the set-up)
};

}  // namespace mpipool::detail
