#pragma once
// Isolated workers: the worker's side of a task, run in a helper process that the rank's fork
// server starts (fork_server.hpp), so that a task that crashes, calls exit() or runs past its
// time limit fails its own item only. The rank keeps every item's outcome as the helper reports
// it; when the helper dies at item k of a chunk, item k fails (worker_crashed or task_timeout),
// a new helper is started (it runs the initializer again, as Python runs it in each new worker
// process), and it goes on from item k + 1 (if decoding item k's arguments killed the helper,
// the new one passes over them). A stop asks the helper to end the chunk after its item;
// terminate() kills it at once. The master sees one results message per chunk, as ever.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "mpipool/detail/archive.hpp"
#include "worker/helper_process.hpp"
#include "worker/outcome_area.hpp"
#include "mpipool/detail/protocol.hpp"

namespace mpipool {
struct pool_options;
}

namespace mpipool::detail {

class fork_server;

struct isolation_settings {
  bool isolated = false;
  std::size_t max_tasks_per_child = 0;  // 0: never replaced
  std::chrono::milliseconds task_timeout{0};  // 0: none
  std::chrono::milliseconds initializer_timeout{0};  // 0: none
  fork_server* server = nullptr;  // what starts the helpers, when isolated
};

// What a run uses: isolated when the options ask for it, when they set max_tasks_per_child,
// task_timeout or initializer_timeout, or when the environment says MPIPOOL_ISOLATED=1. (The
// fork server is the run's to add.)
isolation_settings isolation_from(const pool_options& options);

// A helper's whole life, in the process the fork server started: runs the chunks the rank
// sends, until the rank closes the channel. `shared_memory` is the rank's outcome_area.
void run_helper_process(int channel, int shared_memory, std::uint32_t flags);

// The type names of an isolated item's process failures, and what their item_error's code says.
inline constexpr const char* crashed_type_name = "mpipool::worker_crashed";
inline constexpr const char* timeout_type_name = "mpipool::task_timeout";
std::int64_t crash_code(const process_end& end);  // the signal, or -1 - the exit status
process_end decode_crash(std::int64_t code);

class isolated_executor {
 public:
  isolated_executor(std::string host, isolation_settings settings);
  ~isolated_executor();
  isolated_executor(const isolated_executor&) = delete;
  isolated_executor& operator=(const isolated_executor&) = delete;

  // As task_executor::execute. Waits (in poll, never spinning) for the helper's outcomes,
  // which come through shared memory, so that items cost no system call each; wakes every
  // probe_interval to ask `should_stop` while the chunk runs, and when the item running
  // reaches the task_timeout.
  void execute(std::span<const char> message, byte_buffer& results,
               const std::function<bool(std::uint64_t job)>& should_stop);
  // From now on, asks `asked` as often as `should_stop` while an item runs; when it says yes
  // (the pool is being terminated), kills the helper and cuts the chunk short there.
  void kill_items_when(std::function<bool()> asked) { kill_asked_ = std::move(asked); }

 private:
  struct known_task {
    std::string key;
    byte_buffer state;
  };
  // Runs the chunk's items in helpers, from the first on, appending their outcomes; returns
  // how many items have one (fewer than the chunk's when it was stopped).
  std::uint32_t run_items(const chunk_view& chunk, byte_buffer& results,
                          const std::function<bool(std::uint64_t job)>& should_stop);
  // Starts a helper and runs the initializer in it, if there is one; why not, if it failed.
  // No helper and no failure: terminated meanwhile.
  std::optional<item_error> start_helper();
  // Sends the chunk to the helper, to run from item `skip` on.
  bool send_chunk(const chunk_view& chunk, std::uint32_t skip);

  // How a run of items in the helper ended.
  struct run_end {
    enum { done, died, timed_out, killed } how;
    std::uint32_t complete;  // died, timed_out, killed: the outcomes of this run kept in the results
    process_end process;     // died: how the helper ended
    bool decoding = false;   // died: while it decoded the arguments of the item after those
  };
  // Waits for the run just sent, appending its outcomes to `results`; `done` is the count
  // the helper's done message says. An item running longer than `limit` (if not 0) is killed.
  // With `should_stop`, asks it now and then (never for the set-up job), and passes a yes on to
  // the helper; asks kill_asked_ as often, for every run (a replacement's initializer too).
  run_end collect_run(std::uint64_t job, const std::function<bool(std::uint64_t job)>* should_stop,
                      std::chrono::milliseconds limit, byte_buffer& results, std::uint32_t& done);
  // How long to wait for the helper's next message: until the item running reaches `limit`
  // (if not 0), and no longer than probe_interval while `probing`; -1: for ever.
  int wait_ms(bool probing, std::chrono::milliseconds limit) const;
  std::chrono::milliseconds limit_of(std::uint64_t job) const {
    return job == setup_job ? settings_.initializer_timeout : settings_.task_timeout;
  }

  // Often enough to notice a cancel promptly, seldom enough to cost nothing while long items run.
  static constexpr std::chrono::milliseconds probe_interval{20};

  std::string host_;
  isolation_settings settings_;
  outcome_area area_;  // shared with every helper forked after it was made
  std::function<bool()> kill_asked_;
  std::optional<helper_process> helper_;
  std::size_t tasks_run_ = 0;                       // by the current helper
  std::unordered_map<std::uint64_t, known_task> known_;  // every job's task, for new helpers
  std::unordered_set<std::uint64_t> helper_knows_;  // jobs whose task the helper holds
  std::vector<std::uint64_t> forget_;               // jobs the helper may drop
  byte_buffer setup_chunk_;                         // the initializer, for each new helper
  std::vector<std::uint32_t> unreadable_;           // the chunk's items whose decoding killed a helper
  std::uint32_t run_skip_ = 0;                      // the items the current run skips
  byte_buffer frame_;
  byte_buffer chunk_prefix_;
};

}  // namespace mpipool::detail
