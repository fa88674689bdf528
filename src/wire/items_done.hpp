#pragma once
// A worker's count of the items it has finished, in memory the master can read: the master
// learns of items otherwise only when their chunk's results arrive, which for a long chunk
// leaves its progress display and its stop line at 0 for a long while. The worker stores to it
// between items and at the end of each chunk; the master reads it only to show progress or to
// say how far a stopped call came, never to dispatch. A worker on the master's node has one in
// the node's shared page (node_doorbells), the task thread of a one-rank pool one in the
// master's own memory; a worker on another node has none, and sends its count in a message
// instead while progress is shown (tag::items_done).

#include <atomic>
#include <cstdint>

namespace mpipool::detail {

// Alone on its cache line: the worker's stores do not disturb a bell or another worker's count.
struct alignas(64) items_done_counter {
  // Every item the worker finished since the pool started, set-up excepted. Relaxed: a count
  // for display, nothing is read through it.
  std::atomic<std::uint64_t> items{0};
};
static_assert(sizeof(items_done_counter) == 64);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "a counter is shared between processes");

}  // namespace mpipool::detail
