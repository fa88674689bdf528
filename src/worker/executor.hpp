#pragma once
// Turns a chunk message into a results message: the worker's side of a task, used by worker
// ranks and, with a single rank, by the master itself.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "mpipool/detail/archive.hpp"
#include "mpipool/detail/protocol.hpp"
#include "mpipool/detail/registry.hpp"

namespace mpipool::detail {

class group_communicators;
struct task_group;

class task_executor {
 public:
  explicit task_executor(std::string host) : host_(std::move(host)) {}

  // Runs the chunk in `message` and writes the results message to `results`. `should_stop` is
  // polled between items with the chunk's job id; when it says yes the chunk ends early. The
  // first `skip` items are decoded only, but for those in `unreadable`, which are passed over
  // (see chunk_work::skip); the count in the results counts them, though they have no outcome.
  void execute(std::span<const char> message, byte_buffer& results,
               const std::function<bool(std::uint64_t job)>& should_stop, std::uint32_t skip = 0,
               std::span<const std::uint32_t> unreadable = {});
  // Where a parallel task's chunk finds its group's communicators (worker ranks); without them
  // (a one-rank pool), only groups of one run.
  void use_groups(group_communicators* groups) { groups_ = groups; }
  // Asks `should_stop` before every item, not only every so often (an isolated helper sends
  // each item's outcome from there).
  void ask_before_every_item() { every_item_ = true; }
  // Counts in `counter` the items of each chunk whose arguments are decoded (an isolated
  // helper's, in memory the rank reads).
  void count_decoded_in(std::atomic<std::uint32_t>* counter) { decoded_ = counter; }
  // Whether the last chunk's outcomes were all rewritten as one failure after some items ran
  // (a malformed chunk, or no memory for the results): outcomes handed on before are void.
  bool last_chunk_failed_whole() const { return failed_whole_; }

 private:
  struct held_task {
    const task_vtable* vtable = nullptr;
    std::shared_ptr<void> callable;
    std::string name;
    std::optional<item_error> broken;  // why this task cannot run here
  };
  held_task load(std::string_view key, std::span<const char> state) const;
  task_group& group_for(const std::vector<int>& members);

  std::string host_;
  group_communicators* groups_ = nullptr;
  bool every_item_ = false;
  bool failed_whole_ = false;
  std::atomic<std::uint32_t>* decoded_ = nullptr;
  std::unordered_map<std::uint64_t, held_task> tasks_;
};

}  // namespace mpipool::detail
