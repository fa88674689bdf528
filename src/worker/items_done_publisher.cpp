#include "worker/items_done_publisher.hpp"

#include "mpipool/detail/protocol.hpp"
#include "mpipool/detail/registry.hpp"

namespace mpipool::detail {

void items_done_publisher::chunk_starts(std::span<const char> chunk) {
  if (counter_ == nullptr) return;
  const chunk_header header = frame_cursor(chunk).take<chunk_header>();
  counting_ = header.job != setup_job;
  first_ = header.items.first;
}

void items_done_publisher::between_items() {
  if (counter_ == nullptr || !counting_) return;
  const running_task& running = current_task();
  // Not yet in the item loop (the look before the chunk starts): the item is the last chunk's.
  if (!running.active.load(std::memory_order_relaxed)) return;
  const std::uint64_t item = running.item.load(std::memory_order_relaxed);
  if (item < first_) return;
  // The loop records an item as it starts it: the one recorded has ended by the next look.
  counter_->items.store(finished_ + (item - first_) + 1, std::memory_order_relaxed);
}

void items_done_publisher::chunk_ended(std::span<const char> results) {
  if (counter_ == nullptr || !counting_) return;
  finished_ += frame_cursor(results).take<results_header>().items.count;
  counter_->items.store(finished_, std::memory_order_relaxed);
  counting_ = false;
}

}  // namespace mpipool::detail
