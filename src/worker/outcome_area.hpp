#pragma once
// Shared memory through which an isolated worker's helper process hands its outcomes to the
// rank without a system call per item: the helper copies each item's outcome bytes into the
// area and publishes their length with a release store; the rank reads them when the chunk is
// done, when the area is full, or when the helper has died (then exactly the outcomes it
// published are complete). The rank asks for a stop through it too, and, with a task_timeout,
// reads which item runs and since when.
//
// The rank makes it (a memfd, mapped shared) and passes its descriptor to each helper, which maps
// it too; the atomics in it are lock-free, hence address-free, so they work across processes
// and addresses. The helper also counts there the items whose arguments it has decoded, so that
// the rank tells an item whose decoding killed the helper from one whose task did.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

namespace mpipool::detail {

class outcome_area {
 public:
  // Room for this many outcome bytes between two drains.
  static constexpr std::size_t default_capacity = std::size_t{1} << 20;

  explicit outcome_area(std::size_t capacity = default_capacity);
  // The helper's view of the area whose memory `shared_memory` holds (the rank's fd()).
  struct attach {
    int shared_memory;
  };
  explicit outcome_area(attach existing);
  ~outcome_area();
  outcome_area(const outcome_area&) = delete;
  outcome_area& operator=(const outcome_area&) = delete;

  std::size_t capacity() const { return capacity_; }
  // The descriptor of its memory, for a helper to map (close-on-exec).
  int fd() const { return fd_; }

  // The helper's side.
  // Whether `size` more bytes fit after those published.
  bool fits(std::size_t size) const { return published_bytes() + size <= capacity_; }
  // Copies `bytes` (whole outcomes) after those published, then publishes them.
  void publish(std::span<const char> bytes);
  // Notes that item `index` (counted from the run's first) starts now.
  void mark_running(std::uint32_t index);
  bool stop_requested() const { return header_->stop.load(std::memory_order_relaxed); }
  // Where the helper counts the items of the run's chunk whose arguments it has decoded.
  std::atomic<std::uint32_t>* decoded_counter() { return &header_->decoded; }

  // The rank's side. Call these only while the helper runs nothing, or is blocked, or dead,
  // except the reads of published(), running() and the stop request.
  std::span<const char> published() const { return {data_, published_bytes()}; }
  void clear() { header_->bytes.store(0, std::memory_order_relaxed); }
  // Before a run: nothing published, no stop, nothing decoded, and item 0 counted as running
  // from now.
  void reset_for_run();
  // How many of the chunk's items (from its first, skipped ones included) had their arguments
  // decoded in this run.
  std::uint32_t decoded() const { return header_->decoded.load(std::memory_order_acquire); }
  void request_stop() { header_->stop.store(true, std::memory_order_relaxed); }

  struct running_item {
    std::uint32_t index;  // counted from the run's first
    std::chrono::milliseconds for_how_long;
  };
  running_item running() const;

  // How many whole outcomes `bytes` holds (see outcomes.hpp for their framing).
  static std::uint32_t count_outcomes(std::span<const char> bytes);
  // The length of the first `count` outcomes of `bytes`.
  static std::size_t outcomes_length(std::span<const char> bytes, std::uint32_t count);

 private:
  struct header {
    std::atomic<std::uint64_t> bytes;    // outcome bytes published since the last drain
    std::atomic<std::uint64_t> running;  // index << 32 | its start in ms (mod 2^32): one word, never torn
    std::atomic<bool> stop;              // the rank asks the helper to end its chunk after this item
    std::atomic<std::uint32_t> decoded;  // items of the chunk whose arguments are decoded
  };
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free && std::atomic<bool>::is_always_lock_free &&
                std::atomic<std::uint32_t>::is_always_lock_free);

  std::uint64_t published_bytes() const { return header_->bytes.load(std::memory_order_acquire); }
  static std::uint32_t now_ms();

  void map(bool fresh);

  std::size_t capacity_;
  int fd_ = -1;
  std::size_t mapped_ = 0;
  header* header_ = nullptr;
  char* data_ = nullptr;
};

}  // namespace mpipool::detail
