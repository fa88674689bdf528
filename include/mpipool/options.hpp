#pragma once
/// @file options.hpp
/// @brief Settings of a pool and of one call: the per-worker initializer, callbacks.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "mpipool/detail/task_model.hpp"
#include "mpipool/errors.hpp"
#include "mpipool/task.hpp"

namespace mpipool {

/// @brief Callbacks of an async call. Both run on the master, on the pool's progress thread,
/// before the result becomes ready; at most one of them runs, once.
///
/// A callback that throws is reported on stderr and ignored. A callback must not call the
/// pool: that throws std::logic_error rather than deadlocking.
/// @code
/// pool.map_async(square, xs, {}, {.on_result = [](const std::vector<int>& v) { ... },
///                                 .on_error = [](const mpipool::error& e) { ... }});
/// @endcode
template <class T>
struct callbacks {
  std::function<void(const T&)> on_result{};    ///< called with the value
  std::function<void(const error&)> on_error{};  ///< called with the error instead
};

/// @brief Callbacks of an async call whose task returns nothing.
/// @code
/// pool.apply_async(mpipool::callbacks<void>{.on_result = [] { puts("done"); }}, touch, 3);
/// @endcode
template <>
struct callbacks<void> {
  std::function<void()> on_result{};            ///< called on success
  std::function<void(const error&)> on_error{};  ///< called with the error instead
};

namespace detail {
// A callable with its arguments, ready to be sent: the initializer travels as this.
struct bound_call_data {
  task_definition task;
  byte_buffer args;  // one argument tuple, framed as a chunk item
};
}  // namespace detail

/// @brief A callable bound to its arguments, made by mpipool::call; used as the initializer.
/// @code
/// mpipool::bound_call init = mpipool::call(load_table, std::string("table.dat"));
/// @endcode
class bound_call {
 public:
  bound_call() = default;  ///< no call
  /// Whether a call is bound.
  explicit operator bool() const noexcept { return data_ != nullptr; }

 private:
  template <class F, class... Args>
  friend bound_call call(F&& f, Args&&... args);
  std::shared_ptr<const detail::bound_call_data> data_;

 public:
  /// @cond internal
  const detail::bound_call_data* data() const noexcept { return data_.get(); }
  /// @endcond
};

/// @brief Binds a callable to arguments, under the same rules as the pool's tasks.
/// @code
/// void connect(std::string db, int retries);
/// MPIPOOL_REGISTER(connect);
/// mpipool::pool_options options{.initializer = mpipool::call(connect, std::string("db"), 3)};
/// @endcode
template <class F, class... Args>
bound_call call(F&& f, Args&&... args) {
  auto callable = detail::make_callable(std::forward<F>(f));
  using args_type = std::tuple<std::decay_t<Args>...>;
  using model = detail::task_model<decltype(callable), args_type>;
  static_assert((is_serializable_v<std::decay_t<Args>> && ...),
                "mpipool: an argument type cannot be serialized (see mpipool/serialization.hpp)");
  static_assert(detail::apply_result<decltype(callable), args_type>::invocable,
                "mpipool: the callable cannot be called with these arguments");
  auto data = std::make_shared<detail::bound_call_data>();
  data->task = detail::define_task<model>(callable);
  detail::argument_writer(data->args).add(args_type(std::forward<Args>(args)...));
  bound_call bound;
  bound.data_ = std::move(data);
  return bound;
}

/// @brief Settings of a pool, given to mpipool::run.
/// @code
/// mpipool::run(argc, argv, body, {.initializer = mpipool::call(seed_rng, 42)});
/// @endcode
struct pool_options {
  /// Runs once on each worker (on the master itself with one rank) before its first task.
  /// If it throws, the pool does not start and mpipool::initializer_error is raised.
  bound_call initializer{};
  /// How many chunks per worker a stream (imap and friends) may have handed out and not yet
  /// read. Bounds the master's memory for a stream; more lets workers run further ahead.
  std::size_t stream_window = 4;

  /// Isolated workers: each worker runs its tasks in a helper process of its own (with one
  /// rank, the master does), so that a task that crashes or calls exit() fails its item with
  /// mpipool::worker_crashed instead of ending the whole job. Helpers are forked from a process
  /// each rank forks as run() starts, so they hold nothing the body opened, locked or buffered
  /// since. A stop signal ends each chunk after its item; terminate() kills the items running.
  /// Costs a fork per helper and a local round trip per chunk. The environment variable
  /// `MPIPOOL_ISOLATED=1` turns it on for a run without recompiling.
  bool isolated = false;
  /// Python's maxtasksperchild: a helper process is replaced by a fresh one after this many
  /// tasks (a chunk, or an apply, is one task); 0: never. Turns isolation on.
  std::size_t max_tasks_per_child = 0;
  /// The longest one item may run (0: no limit). An item that runs longer has its helper
  /// process killed and fails with mpipool::task_timeout; the next items run in a new one.
  /// Turns isolation on. The initializer has a limit of its own, initializer_timeout.
  std::chrono::milliseconds task_timeout{0};
  /// The longest the initializer may run in a helper process (0: no limit). One that runs
  /// longer has its helper killed: at the start the pool does not start (mpipool::initializer_error,
  /// whose type_name() is "mpipool::task_timeout"); in a replacement helper the chunk's items
  /// fail with an error that says so. Turns isolation on.
  /// @code
  /// mpipool::run(argc, argv, body, {.initializer = mpipool::call(load_table, path),
  ///                                 .task_timeout = std::chrono::seconds(10),
  ///                                 .initializer_timeout = std::chrono::minutes(5)});
  /// @endcode
  std::chrono::milliseconds initializer_timeout{0};
  /// Shows each running call's progress on stderr: a bar redrawn in place on a terminal, a
  /// plain line every `MPIPOOL_PROGRESS_INTERVAL` seconds (default 30) otherwise. The
  /// environment variable `MPIPOOL_PROGRESS=1` turns it on too (`=bar` or `=lines` also chooses
  /// the display: under mpirun, stderr is a pipe even when mpirun writes to a terminal).
  bool progress = false;
  /// Writes a timeline of the run to this file, in the Chrome trace event format (Perfetto,
  /// chrome://tracing), when the pool stops; empty: none, unless `MPIPOOL_TRACE` names a file.
  /// With tracing or progress on, the pool prints a load-balance summary on stderr as it stops.
  std::string trace_path{};
  /// Sub-masters: cuts ranks 1.. into consecutive groups of this many ranks (a node's worth, for
  /// instance) and makes the first rank of each group its relay, which runs no tasks and passes
  /// every message between the master and the group's other ranks; the master then talks to the
  /// relays only. `group_per_node`: a group per node instead, each node's lowest rank its
  /// relay, except on the master's own node, whose ranks talk to the master directly. 0: the
  /// environment's `MPIPOOL_RANKS_PER_GROUP` (a number, or `node`), else no groups. Every rank
  /// must give the same value. Results, errors, callbacks, cancels and the journal are as without.
  ///
  ///     mpipool::run(argc, argv, body, {.ranks_per_group = 32});  // 32 ranks a node: 31 workers each
  ///     mpipool::run(argc, argv, body, {.ranks_per_group = mpipool::pool_options::group_per_node});
  int ranks_per_group = 0;
  /// The value of `ranks_per_group` that makes a group of each node's ranks.
  static constexpr int group_per_node = -1;
  /// With groups (`ranks_per_group`): each group's first rank is a stocking sub-master rather
  /// than a relay. The master sends it a group's worth of chunks ahead of need, several to a
  /// message, and the sub-master hands them to its workers as they ask, so the master sends a
  /// message per refill of a group rather than per worker's message. Results, errors (naming
  /// the worker that ran the item), callbacks, cancels, isolation and the journal are as
  /// without. Parallel tasks wider than one rank (`mpipool::ranks(k)`, k > 1) need the relays:
  /// a call of one fails with mpipool::error. false: the environment's `MPIPOOL_SUB_MASTERS`
  /// (`stock` or `relay`), else relays. Every rank must give the same value.
  ///
  ///     mpipool::run(argc, argv, body, {.ranks_per_group = 32, .stock_sub_masters = true});
  bool stock_sub_masters = false;
};

}  // namespace mpipool
