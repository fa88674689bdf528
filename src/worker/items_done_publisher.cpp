#include "worker/items_done_publisher.hpp"

#include "mpipool/detail/protocol.hpp"
#include "mpipool/detail/registry.hpp"

namespace mpipool::detail {

void items_done_publisher::chunk_starts(std::span<const char> chunk) {
  if (counter_ == nullptr && !send_) return;
  const chunk_header header = frame_cursor(chunk).take<chunk_header>();
  if (header.job == setup_job) sending_ = counter_ == nullptr && send_ && header.report_items_done != 0;
  counting_ = header.job != setup_job && (counter_ != nullptr || sending_);
  first_ = header.items.first;
}

void items_done_publisher::between_items() {
  if (!counting_) return;
  const running_task& running = current_task();
  // Not yet in the item loop (the look before the chunk starts): the item is the last chunk's.
  if (!running.active.load(std::memory_order_relaxed)) return;
  const std::uint64_t item = running.item.load(std::memory_order_relaxed);
  if (item < first_) return;
  // The loop records an item as it starts it: the one recorded has ended by the next look.
  const std::uint64_t finished = finished_ + (item - first_) + 1;
  if (counter_ != nullptr) {
    counter_->items.store(finished, std::memory_order_relaxed);
    return;
  }
  const clock::time_point now = clock::now();
  if (now - last_sent_ < send_every) return;
  last_sent_ = now;
  send_(finished);
}

void items_done_publisher::chunk_ended(std::span<const char> results) {
  if (!counting_) return;
  finished_ += frame_cursor(results).take<results_header>().items.count;
  // A message would say no more than the results about to go.
  if (counter_ != nullptr) counter_->items.store(finished_, std::memory_order_relaxed);
  counting_ = false;
}

}  // namespace mpipool::detail
