#pragma once
// The per-process tables that let a worker find a task by key. They are filled during static
// initialization, identically on every rank, because every rank runs the same program.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include "mpipool/detail/archive.hpp"
#include "mpipool/detail/stop_poll.hpp"

namespace mpipool::detail {

// What a worker is asked to do with one chunk.
struct chunk_work {
  std::uint64_t first = 0;           // index of the first item in the call's input
  std::uint32_t count = 0;
  std::span<const char> items;       // `count` serialized argument tuples
  byte_buffer& outcomes;             // one outcome per processed item is appended here
  stop_poll& should_stop;            // polled between items
  // Items to decode but not run, and give no outcome: they ran before, in a process that
  // died (their arguments may share one archive with the next ones).
  std::uint32_t skip = 0;
  // Of those, the items not even to decode (sorted): decoding their arguments killed a process.
  std::span<const std::uint32_t> unreadable{};
  // Where an isolated helper counts the items whose arguments are decoded (null: nowhere).
  std::atomic<std::uint32_t>* decoded = nullptr;
};

// How a worker builds and runs one kind of task. One per task_model instantiation.
struct task_vtable {
  std::shared_ptr<void> (*make)(std::span<const char> state);
  std::uint32_t (*run)(void* callable, const chunk_work& work);  // returns items processed
  std::string (*name)(const void* callable);                    // for messages
};

using erased_function = void (*)();

class task_registry {
 public:
  static task_registry& instance();

  // Returns `key`, so that it can initialize a static.
  const char* add_task(const char* key, task_vtable vtable);
  const task_vtable* find_task(std::string_view key) const;
  // Returns `key`; throws registration_error if two different task types share it.
  const char* checked_key(const char* key) const;

  void add_function(erased_function fn, const char* name);
  // The registered name of `fn`; throws registration_error if it has none.
  std::string function_name(erased_function fn, std::string_view signature) const;
  // The function registered as `name`; throws registration_error if there is none.
  erased_function find_function(std::string_view name) const;

 private:
  task_registry() = default;
  mutable std::mutex mutex_;
  std::map<std::string, task_vtable, std::less<>> tasks_;
  std::set<std::string, std::less<>> ambiguous_tasks_;
  std::map<std::string, erased_function, std::less<>> functions_by_name_;
  std::map<erased_function, std::string> names_by_function_;
};

// What this process is running now, for the crash report (read from a signal handler).
struct running_task {
  std::atomic<const char*> name{nullptr};
  std::atomic<std::uint64_t> item{0};
  std::atomic<bool> active{false};
};
running_task& current_task();

}  // namespace mpipool::detail
