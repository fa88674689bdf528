#pragma once
/// @file pool.hpp
/// @brief mpipool::pool: Python's `multiprocessing.Pool` methods over the ranks of an MPI job.

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "mpipool/async_result.hpp"
#include "mpipool/detail/job.hpp"
#include "mpipool/detail/job_control.hpp"
#include "mpipool/detail/stream_job.hpp"
#include "mpipool/detail/zip.hpp"
#include "mpipool/result_stream.hpp"
#include "mpipool/detail/scheduler.hpp"
#include "mpipool/detail/task_model.hpp"
#include "mpipool/errors.hpp"
#include "mpipool/journal.hpp"
#include "mpipool/options.hpp"
#include "mpipool/task.hpp"

namespace mpipool {

class pool;
class mpi_section;

namespace detail {
class master;
int run_pool_as_master(master& m, const std::function<int(pool&)>& body,
                       const pool_options& options);

// A journal binds its results to the task's name: a lambda's is its place in the code, which
// changes when a lambda is added above it, and a rerun would take another lambda's results.
template <class F>
constexpr void require_named_task() {
  static_assert(!names_a_lambda<callable_t<F>>,
                "mpipool: a journaled call needs a named task: a registered free function or a named "
                "function object, not a lambda. A journal knows a task by its name, and a lambda's is "
                "its place in the code (main()::{lambda(int)#2}), which a lambda added above it "
                "changes: a rerun could take another lambda's results");
}

// The std::tuple of the decayed element types of a tuple-like type (tuple, pair, array).
template <class T, class = std::make_index_sequence<std::tuple_size_v<std::remove_cvref_t<T>>>>
struct tuple_of;
template <class T, std::size_t... I>
struct tuple_of<T, std::index_sequence<I...>> {
  using type = std::tuple<std::decay_t<std::tuple_element_t<I, std::remove_cvref_t<T>>>...>;
};
template <class T>
using tuple_of_t = typename tuple_of<T>::type;

template <class F, class Args>
using value_t = task_result_t<F, Args>;

template <class Range>
using map_args_t = std::tuple<std::ranges::range_value_t<Range>>;
template <class Range>
using starmap_args_t = tuple_of_t<std::ranges::range_value_t<Range>>;
template <class... A>
using apply_args_t = std::tuple<std::decay_t<A>...>;

// Turn one input element into a task's argument tuple: as the single argument (map, imap) or
// unpacked (starmap, istarmap).
template <class Args>
struct as_single_argument {
  using args_type = Args;
  template <class T>
  Args operator()(T&& element) const {
    return Args(std::forward<T>(element));
  }
};
template <class Args>
struct as_unpacked_arguments {
  using args_type = Args;
  template <class T>
  Args operator()(T&& element) const {
    return std::apply([](auto&&... xs) { return Args(std::forward<decltype(xs)>(xs)...); },
                      std::forward<T>(element));
  }
};

template <class T>
struct is_callbacks : std::false_type {};
template <class T>
struct is_callbacks<callbacks<T>> : std::true_type {};
}  // namespace detail

/// @brief What `map` and `map_async` give for a task that returns `Value`: a vector in input
/// order, or nothing when the task returns nothing.
/// @code
/// static_assert(std::is_same_v<mpipool::map_result_t<int (*)(int), std::vector<int>>, std::vector<int>>);
/// @endcode
template <class F, class Range>
using map_result_t = detail::collected_t<detail::value_t<F, detail::map_args_t<Range>>, false>;

/// @brief What `starmap` and `starmap_async` give.
/// @code
/// using sums = mpipool::starmap_result_t<int (*)(int, int), std::vector<std::tuple<int, int>>>;  // std::vector<int>
/// @endcode
template <class F, class Range>
using starmap_result_t = detail::collected_t<detail::value_t<F, detail::starmap_args_t<Range>>, false>;

/// @brief What one element of `imap(f, range)` is: the task's result, or `std::monostate` for a
/// task that returns nothing (one per item, as Python yields None).
/// @code
/// mpipool::result_stream<mpipool::imap_value_t<decltype(&square), std::vector<int>>> s = pool.imap(square, xs);
/// static_assert(std::is_same_v<mpipool::imap_value_t<void (*)(int), std::vector<int>>, std::monostate>);
/// @endcode
template <class F, class Range>
using imap_value_t = detail::stored_t<detail::value_t<F, detail::map_args_t<Range>>>;

/// @brief What one element of `istarmap(f, range_of_tuples)` is (`std::monostate` for a task
/// that returns nothing).
/// @code
/// mpipool::istarmap_value_t<decltype(&add), std::vector<std::tuple<int, int>>> first = *pool.istarmap(add, pairs).begin();
/// @endcode
template <class F, class Range>
using istarmap_value_t = detail::stored_t<detail::value_t<F, detail::starmap_args_t<Range>>>;

/// @brief What `apply` and `apply_async` give: the task's own result.
/// @code
/// static_assert(std::is_same_v<mpipool::apply_result_t<int (*)(int, int), int, int>, int>);
/// @endcode
template <class F, class... Args>
using apply_result_t = detail::value_t<F, detail::apply_args_t<Args...>>;

/// @brief A pool of worker ranks, with Python's `multiprocessing.Pool` methods.
///
/// Rank 0 of the communicator is the master; it runs the caller's code and hands chunks of
/// work to the other ranks as they ask for it. A pool is made by mpipool::run, which gives it to
/// the caller's body on the master while every other rank serves tasks.
///
/// Tasks may be capture-less lambdas, function objects, or free functions registered with
/// MPIPOOL_REGISTER (see task.hpp). Arguments and results travel through Boost.Serialization.
/// All methods may be called from any thread of the master, but not from inside a callback.
/// @code
/// int square(int x) { return x * x; }
/// MPIPOOL_REGISTER(square);
/// int main(int argc, char** argv) {
///   return mpipool::run(argc, argv, [](mpipool::pool& pool) {
///     std::vector<int> squares = pool.map(square, std::views::iota(0, 100));
///     return 0;
///   });
/// }
/// @endcode
class pool {
 public:
  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;
  /// Terminates the pool if it is still running; never waits for queued work.
  ~pool();

  /// Number of processes that run tasks: the worker ranks, or 1 when the master runs alone.
  /// @code
  /// std::printf("%zu workers\n", pool.workers());
  /// @endcode
  std::size_t workers() const noexcept;

  /// Whether tasks run in helper processes: pool_options::isolated, a task or initializer
  /// timeout, max_tasks_per_child, or `MPIPOOL_ISOLATED=1` in the environment.
  /// @code
  /// if (pool.isolated()) std::puts("a crashing task fails its item, not the job");
  /// @endcode
  bool isolated() const noexcept;

  /// Whether the pool shows its calls' progress on stderr: pool_options::progress or
  /// `MPIPOOL_PROGRESS` in the environment.
  /// @code
  /// if (!pool.shows_progress()) std::puts("quiet run");
  /// @endcode
  bool shows_progress() const noexcept;

  /// @brief Whether SIGTERM or SIGINT reached the master while the pool ran: Slurm's time
  /// limit, `scancel`, or Ctrl-C. The pool then hands out no more work, unfinished calls fail
  /// with mpipool::pool_interrupted and new ones are refused with it, and `mpipool::run`
  /// returns 128 + the signal on every rank. The body may still save what it has before it
  /// returns (well inside Slurm's KillWait, after which Slurm sends SIGKILL).
  /// @code
  /// for (const state& s : pool.imap(simulate, steps)) {
  ///   history.push_back(s);
  ///   if (pool.stop_requested()) break;  // SIGTERM: the stream would end with pool_interrupted
  /// }
  /// save(history);
  /// @endcode
  bool stop_requested() const noexcept;
  /// The signal that asked the pool to stop (SIGTERM, SIGINT), or 0 if none did.
  int stop_signal() const noexcept;

  // The methods return `auto`: a call whose task fails the compile-time checks (task.hpp) then
  // stops at mpipool's message, at the caller's line, before any use of its result is compiled.
  // The documented result types are the aliases above (apply_result_t, map_result_t, ...).

  /// @brief Calls `f(args...)` on a worker and waits for the result: an apply_result_t<F, Args...>.
  /// @code
  /// int nine = pool.apply(square, 3);
  /// @endcode
  template <class F, class... Args>
    requires(!detail::is_callbacks<std::decay_t<F>>::value && !detail::is_task_width<F>)
  auto apply(F&& f, Args&&... args) {
    // The caller waits at once: it may drive the call itself (submit_and_drive).
    return take(apply_with<true>(callbacks<apply_result_t<F, Args...>>{}, std::forward<F>(f),
                                 std::forward<Args>(args)...));
  }

  /// @brief Calls `f(args...)` on a worker in the background: an
  /// `async_result<apply_result_t<F, Args...>>`.
  /// @code
  /// auto sum = pool.apply_async([](int a, int b) { return a + b; }, 2, 3);
  /// int five = sum.get();
  /// @endcode
  template <class F, class... Args>
    requires(!detail::is_callbacks<std::decay_t<F>>::value && !detail::is_task_width<F>)
  auto apply_async(F&& f, Args&&... args) {
    return apply_with(callbacks<apply_result_t<F, Args...>>{}, std::forward<F>(f), std::forward<Args>(args)...);
  }

  /// @brief As apply_async, with a result callback and an error callback.
  /// @code
  /// pool.apply_async({.on_result = [](const int& v) { std::printf("%d\n", v); }}, square, 4);
  /// @endcode
  template <class F, class... Args>
  auto apply_async(callbacks<apply_result_t<F, Args...>> cb, F&& f, Args&&... args) {
    return apply_with(std::move(cb), std::forward<F>(f), std::forward<Args>(args)...);
  }

  /// @brief concurrent.futures' spelling of apply_async: runs `f(args...)` in the background
  /// and returns a handle with get, wait, ready and add_done_callback.
  /// @code
  /// auto handle = pool.submit(square, 12);
  /// handle.add_done_callback([](const mpipool::async_result<int>& h) { std::printf("%d\n", h.get()); });
  /// @endcode
  template <class F, class... Args>
    requires(!detail::is_callbacks<std::decay_t<F>>::value && !detail::is_task_width<F>)
  auto submit(F&& f, Args&&... args) {
    return apply_with(callbacks<apply_result_t<F, Args...>>{}, std::forward<F>(f), std::forward<Args>(args)...);
  }

  /// @brief Applies `f` to every item and returns the results in input order: a
  /// map_result_t<F, Range>.
  ///
  /// The input is read once, on the calling thread, and cut into chunks of exactly `chunksize`
  /// items. A contiguous range of fixed-size values (a std::vector<double>, an array of
  /// bitwise structs) is not copied: its chunks are read from it in place as they go, so leave
  /// it unchanged until map returns. Without a chunksize the cut adapts: the first chunks are Python's
  /// ceil(n / (4 * workers)), the last ones shrink toward single items, so that uneven tasks
  /// still keep every worker busy to the end. If some items fail, the error of the first failing
  /// item is thrown once every item has finished.
  /// @code
  /// std::vector<int> squares = pool.map(square, std::views::iota(0, 1000));
  /// std::vector<int> same = pool.map(square, std::views::iota(0, 1000), 20);
  /// @endcode
  template <class F, std::ranges::input_range Range>
  auto map(F&& f, Range&& items, std::optional<std::int64_t> chunksize = {}) {
    if constexpr (detail::borrowable_input_v<Range>) return take(map_in_place(std::forward<F>(f), items, chunksize));
    else return take(map_async(std::forward<F>(f), std::forward<Range>(items), chunksize));
  }

  /// @brief map over a braced list: `pool.map(square, {1, 2, 3})`.
  template <class F, class T>
  auto map(F&& f, std::initializer_list<T> items, std::optional<std::int64_t> chunksize = {}) {
    return take(map_async(std::forward<F>(f), items, chunksize));
  }

  /// @brief map with a journal (mpipool/journal.hpp): results are kept in its file as they
  /// arrive, and a rerun with the same journal computes only the items missing there.
  /// @code
  /// mpipool::journal j{"run.journal", "energies"};
  /// std::vector<double> energies = pool.map(energy, molecules, std::nullopt, j);
  /// @endcode
  template <class F, std::ranges::input_range Range>
  auto map(F&& f, Range&& items, std::optional<std::int64_t> chunksize, const journal& log) {
    return take(map_async(std::forward<F>(f), std::forward<Range>(items), chunksize, log));
  }

  /// @brief As map, in the background, with optional callbacks (the result callback gets the
  /// whole vector, once): an `async_result<map_result_t<F, Range>>`.
  /// @code
  /// auto r = pool.map_async(square, xs, {}, {.on_error = [](const mpipool::error& e) { log(e.what()); }});
  /// @endcode
  template <class F, std::ranges::input_range Range>
  auto map_async(F&& f, Range&& items, std::optional<std::int64_t> chunksize = {},
                 callbacks<map_result_t<F, Range>> cb = {}) {
    return collect_async<detail::as_single_argument<detail::map_args_t<Range>>>(
        std::forward<F>(f), items, chunksize, std::move(cb), "map", nullptr);
  }

  /// @brief map_async with a journal (mpipool/journal.hpp), given before the callbacks.
  /// @code
  /// auto r = pool.map_async(energy, molecules, {}, mpipool::journal{"run.journal", "energies"},
  ///                         {.on_result = [](const std::vector<double>& v) { save(v); }});
  /// @endcode
  template <class F, std::ranges::input_range Range>
  auto map_async(F&& f, Range&& items, std::optional<std::int64_t> chunksize, const journal& log,
                 callbacks<map_result_t<F, Range>> cb = {}) {
    detail::require_named_task<F>();
    return collect_async<detail::as_single_argument<detail::map_args_t<Range>>>(
        std::forward<F>(f), items, chunksize, std::move(cb), "map", &log);
  }

  /// @brief map over several ranges zipped together, as `executor.map(f, xs, ys)`: calls
  /// `f(x, y)` for each pair and stops at the shortest range.
  /// @code
  /// std::vector<int> products = pool.map(mul, xs, ys);
  /// @endcode
  template <class F, std::ranges::input_range R1, std::ranges::input_range R2, std::ranges::input_range... Rs>
  auto map(F&& f, R1&& r1, R2&& r2, Rs&&... rs) {
    return starmap(std::forward<F>(f), detail::zip(std::forward<R1>(r1), std::forward<R2>(r2), std::forward<Rs>(rs)...));
  }

  /// @brief As the zipped map, in the background.
  /// @code
  /// auto products = pool.map_async(mul, xs, ys);
  /// @endcode
  template <class F, std::ranges::input_range R1, std::ranges::input_range R2, std::ranges::input_range... Rs>
  auto map_async(F&& f, R1&& r1, R2&& r2, Rs&&... rs) {
    return starmap_async(std::forward<F>(f),
                         detail::zip(std::forward<R1>(r1), std::forward<R2>(r2), std::forward<Rs>(rs)...));
  }

  /// @brief Like map, but each item is a tuple (or pair, or array) of arguments to unpack: a
  /// starmap_result_t<F, Range>.
  /// @code
  /// std::vector<std::tuple<int, int>> pairs{{1, 2}, {3, 4}};
  /// std::vector<int> sums = pool.starmap([](int a, int b) { return a + b; }, pairs);  // {3, 7}
  /// @endcode
  template <class F, std::ranges::input_range Range>
  auto starmap(F&& f, Range&& items, std::optional<std::int64_t> chunksize = {}) {
    return take(starmap_async(std::forward<F>(f), std::forward<Range>(items), chunksize));
  }

  /// @brief starmap with a journal (mpipool/journal.hpp).
  /// @code
  /// std::vector<int> sums = pool.starmap(add, pairs, {}, mpipool::journal{"run.journal", "sums"});
  /// @endcode
  template <class F, std::ranges::input_range Range>
  auto starmap(F&& f, Range&& items, std::optional<std::int64_t> chunksize, const journal& log) {
    return take(starmap_async(std::forward<F>(f), std::forward<Range>(items), chunksize, log));
  }

  /// @brief As starmap, in the background, with optional callbacks: an
  /// `async_result<starmap_result_t<F, Range>>`.
  /// @code
  /// auto r = pool.starmap_async(add, pairs, 10);
  /// @endcode
  template <class F, std::ranges::input_range Range>
  auto starmap_async(F&& f, Range&& items, std::optional<std::int64_t> chunksize = {},
                     callbacks<starmap_result_t<F, Range>> cb = {}) {
    return collect_async<detail::as_unpacked_arguments<detail::starmap_args_t<Range>>>(
        std::forward<F>(f), items, chunksize, std::move(cb), "starmap", nullptr);
  }

  /// @brief starmap_async with a journal (mpipool/journal.hpp), given before the callbacks.
  /// @code
  /// auto r = pool.starmap_async(add, pairs, 10, mpipool::journal{"run.journal", "sums"});
  /// @endcode
  template <class F, std::ranges::input_range Range>
  auto starmap_async(F&& f, Range&& items, std::optional<std::int64_t> chunksize, const journal& log,
                     callbacks<starmap_result_t<F, Range>> cb = {}) {
    detail::require_named_task<F>();
    return collect_async<detail::as_unpacked_arguments<detail::starmap_args_t<Range>>>(
        std::forward<F>(f), items, chunksize, std::move(cb), "starmap", &log);
  }

  /// @brief Applies `f` to every item lazily, yielding results in input order as they are ready:
  /// a `result_stream<imap_value_t<F, Range>>`.
  ///
  /// The input (any input range, even an unbounded one) is read on the master only as workers
  /// need work, and at most `stream_window` chunks per worker (see pool_options) are handed out
  /// and unread at any time, so memory stays bounded however long the input and however slow
  /// the reader. `chunksize` defaults to 1, as in Python. A task that returns nothing yields a
  /// `std::monostate` per item (Python yields None); a failed item raises at its position.
  /// @code
  /// for (int sq : pool.imap(square, std::views::iota(0, 100), 10)) std::printf("%d\n", sq);
  /// for (std::monostate done : pool.imap(write_file, names)) ++written;
  /// @endcode
  template <class F, std::ranges::input_range Range>
  auto imap(F&& f, Range&& items, std::int64_t chunksize = 1) {
    return open_stream<true, detail::as_single_argument<detail::map_args_t<Range>>>(
        std::forward<F>(f), std::forward<Range>(items), chunksize, "imap");
  }

  /// @brief imap with a journal (mpipool/journal.hpp): a rerun takes the journaled results from
  /// its file and sends only the other items to the workers.
  /// @code
  /// for (auto v : pool.imap(f, items, 1, mpipool::journal{"run.journal", "imap"})) use(v);
  /// @endcode
  template <class F, std::ranges::input_range Range>
  auto imap(F&& f, Range&& items, std::int64_t chunksize, const journal& log) {
    detail::require_named_task<F>();
    return open_stream<true, detail::as_single_argument<detail::map_args_t<Range>>>(
        std::forward<F>(f), std::forward<Range>(items), chunksize, "imap", &log);
  }

  /// @brief imap over several ranges zipped together, stopping at the shortest.
  /// @code
  /// for (int p : pool.imap(mul, xs, ys)) use(p);
  /// @endcode
  template <class F, std::ranges::input_range R1, std::ranges::input_range R2, std::ranges::input_range... Rs>
  auto imap(F&& f, R1&& r1, R2&& r2, Rs&&... rs) {
    return istarmap(std::forward<F>(f), detail::zip(std::forward<R1>(r1), std::forward<R2>(r2), std::forward<Rs>(rs)...));
  }

  /// @brief As imap, but yields results in the order they complete.
  /// @code
  /// for (int sq : pool.imap_unordered(square, xs)) total += sq;
  /// @endcode
  template <class F, std::ranges::input_range Range>
  auto imap_unordered(F&& f, Range&& items, std::int64_t chunksize = 1) {
    return open_stream<false, detail::as_single_argument<detail::map_args_t<Range>>>(
        std::forward<F>(f), std::forward<Range>(items), chunksize, "imap_unordered");
  }

  /// @brief imap_unordered with a journal (mpipool/journal.hpp): a rerun takes the journaled results from
  /// its file and sends only the other items to the workers. Journaled results come first,
  /// as the input reaches them, then the computed ones as they complete.
  /// @code
  /// for (auto v : pool.imap_unordered(f, items, 1, mpipool::journal{"run.journal", "imap_unordered"})) use(v);
  /// @endcode
  template <class F, std::ranges::input_range Range>
  auto imap_unordered(F&& f, Range&& items, std::int64_t chunksize, const journal& log) {
    detail::require_named_task<F>();
    return open_stream<false, detail::as_single_argument<detail::map_args_t<Range>>>(
        std::forward<F>(f), std::forward<Range>(items), chunksize, "imap_unordered", &log);
  }

  /// @brief The lazy starmap that Python lacks: unpacks each tuple into `f`'s arguments,
  /// yielding results in input order: a `result_stream<istarmap_value_t<F, Range>>`.
  /// @code
  /// for (int sum : pool.istarmap(add, pairs)) use(sum);
  /// @endcode
  template <class F, std::ranges::input_range Range>
  auto istarmap(F&& f, Range&& items, std::int64_t chunksize = 1) {
    return open_stream<true, detail::as_unpacked_arguments<detail::starmap_args_t<Range>>>(
        std::forward<F>(f), std::forward<Range>(items), chunksize, "istarmap");
  }

  /// @brief istarmap with a journal (mpipool/journal.hpp): a rerun takes the journaled results from
  /// its file and sends only the other items to the workers.
  /// @code
  /// for (auto v : pool.istarmap(f, items, 1, mpipool::journal{"run.journal", "istarmap"})) use(v);
  /// @endcode
  template <class F, std::ranges::input_range Range>
  auto istarmap(F&& f, Range&& items, std::int64_t chunksize, const journal& log) {
    detail::require_named_task<F>();
    return open_stream<true, detail::as_unpacked_arguments<detail::starmap_args_t<Range>>>(
        std::forward<F>(f), std::forward<Range>(items), chunksize, "istarmap", &log);
  }

  /// @brief As istarmap, yielding results in the order they complete.
  /// @code
  /// for (int sum : pool.istarmap_unordered(add, pairs)) total += sum;
  /// @endcode
  template <class F, std::ranges::input_range Range>
  auto istarmap_unordered(F&& f, Range&& items, std::int64_t chunksize = 1) {
    return open_stream<false, detail::as_unpacked_arguments<detail::starmap_args_t<Range>>>(
        std::forward<F>(f), std::forward<Range>(items), chunksize, "istarmap_unordered");
  }

  /// @brief istarmap_unordered with a journal (mpipool/journal.hpp): a rerun takes the journaled results from
  /// its file and sends only the other items to the workers. Journaled results come first,
  /// as the input reaches them, then the computed ones as they complete.
  /// @code
  /// for (auto v : pool.istarmap_unordered(f, items, 1, mpipool::journal{"run.journal", "istarmap_unordered"})) use(v);
  /// @endcode
  template <class F, std::ranges::input_range Range>
  auto istarmap_unordered(F&& f, Range&& items, std::int64_t chunksize, const journal& log) {
    detail::require_named_task<F>();
    return open_stream<false, detail::as_unpacked_arguments<detail::starmap_args_t<Range>>>(
        std::forward<F>(f), std::forward<Range>(items), chunksize, "istarmap_unordered", &log);
  }

  /// @name Parallel tasks (mpipool/parallel.hpp)
  /// Each method above, with `mpipool::ranks(k)` first: every item runs on a group of k worker
  /// ranks, and the task takes the group's communicator before its arguments. Without a
  /// chunksize, each group gets one item at a time. With `mpipool::ranks(k, mpipool::gather_all)`
  /// each item's result is a vector of every member's.
  /// @code
  /// double residual = pool.apply(mpipool::ranks(4), solve, 0.5);
  /// std::vector<double> all = pool.map(mpipool::ranks(2), solve, couplings);
  /// for (double r : pool.imap_unordered(mpipool::ranks(2), solve, couplings)) record(r);
  /// @endcode
  /// @{
  /// @brief apply on a group of `width.ranks` workers.
  template <class Width, class F, class... Args>
    requires detail::is_task_width<Width>
  auto apply(Width width, F&& f, Args&&... args) {
    return apply(parallel_task(width, std::forward<F>(f)), std::forward<Args>(args)...);
  }
  /// @brief apply_async on a group of `width.ranks` workers.
  template <class Width, class F, class... Args>
    requires detail::is_task_width<Width>
  auto apply_async(Width width, F&& f, Args&&... args) {
    return apply_async(parallel_task(width, std::forward<F>(f)), std::forward<Args>(args)...);
  }
  /// @brief map on groups of `width.ranks` workers; `rest`: the chunksize, then a journal.
  template <class Width, class F, std::ranges::input_range Range, class... Rest>
    requires detail::is_task_width<Width>
  auto map(Width width, F&& f, Range&& items, Rest&&... rest) {
    if constexpr (sizeof...(Rest) == 0)
      return map(parallel_task(width, std::forward<F>(f)), std::forward<Range>(items), std::int64_t{1});
    else
      return map(parallel_task(width, std::forward<F>(f)), std::forward<Range>(items), group_chunksize(rest)...);
  }
  /// @brief map_async on groups of `width.ranks` workers; `rest`: the chunksize, then a journal or
  /// callbacks.
  template <class Width, class F, std::ranges::input_range Range, class... Rest>
    requires detail::is_task_width<Width>
  auto map_async(Width width, F&& f, Range&& items, Rest&&... rest) {
    if constexpr (sizeof...(Rest) == 0)
      return map_async(parallel_task(width, std::forward<F>(f)), std::forward<Range>(items), std::int64_t{1});
    else
      return map_async(parallel_task(width, std::forward<F>(f)), std::forward<Range>(items), group_chunksize(rest)...);
  }
  /// @brief starmap on groups of `width.ranks` workers.
  template <class Width, class F, std::ranges::input_range Range, class... Rest>
    requires detail::is_task_width<Width>
  auto starmap(Width width, F&& f, Range&& items, Rest&&... rest) {
    if constexpr (sizeof...(Rest) == 0)
      return starmap(parallel_task(width, std::forward<F>(f)), std::forward<Range>(items), std::int64_t{1});
    else
      return starmap(parallel_task(width, std::forward<F>(f)), std::forward<Range>(items), group_chunksize(rest)...);
  }
  /// @brief starmap_async on groups of `width.ranks` workers.
  template <class Width, class F, std::ranges::input_range Range, class... Rest>
    requires detail::is_task_width<Width>
  auto starmap_async(Width width, F&& f, Range&& items, Rest&&... rest) {
    if constexpr (sizeof...(Rest) == 0)
      return starmap_async(parallel_task(width, std::forward<F>(f)), std::forward<Range>(items), std::int64_t{1});
    else
      return starmap_async(parallel_task(width, std::forward<F>(f)), std::forward<Range>(items),
                           group_chunksize(rest)...);
  }
  /// @brief imap on groups of `width.ranks` workers.
  template <class Width, class F, std::ranges::input_range Range, class... Rest>
    requires detail::is_task_width<Width>
  auto imap(Width width, F&& f, Range&& items, Rest&&... rest) {
    return imap(parallel_task(width, std::forward<F>(f)), std::forward<Range>(items), std::forward<Rest>(rest)...);
  }
  /// @brief imap_unordered on groups of `width.ranks` workers.
  template <class Width, class F, std::ranges::input_range Range, class... Rest>
    requires detail::is_task_width<Width>
  auto imap_unordered(Width width, F&& f, Range&& items, Rest&&... rest) {
    return imap_unordered(parallel_task(width, std::forward<F>(f)), std::forward<Range>(items),
                          std::forward<Rest>(rest)...);
  }
  /// @brief istarmap on groups of `width.ranks` workers.
  template <class Width, class F, std::ranges::input_range Range, class... Rest>
    requires detail::is_task_width<Width>
  auto istarmap(Width width, F&& f, Range&& items, Rest&&... rest) {
    return istarmap(parallel_task(width, std::forward<F>(f)), std::forward<Range>(items), std::forward<Rest>(rest)...);
  }
  /// @brief istarmap_unordered on groups of `width.ranks` workers.
  template <class Width, class F, std::ranges::input_range Range, class... Rest>
    requires detail::is_task_width<Width>
  auto istarmap_unordered(Width width, F&& f, Range&& items, Rest&&... rest) {
    return istarmap_unordered(parallel_task(width, std::forward<F>(f)), std::forward<Range>(items),
                              std::forward<Rest>(rest)...);
  }
  /// @}

  /// @brief Stops accepting work; what was submitted still runs. Then call join(). Closing a
  /// pool that is closed or terminated already does nothing, as in Python.
  /// @code
  /// pool.close();
  /// pool.join();
  /// @endcode
  void close();

  /// @brief Stops at once: unfinished results fail with mpipool::pool_terminated, running
  /// chunks stop after their current item. Then call join().
  /// @code
  /// pool.terminate();
  /// pool.join();
  /// @endcode
  void terminate();

  /// @brief Waits for the pool to wind down after close() or terminate(). Throws
  /// std::logic_error on a running pool.
  /// @code
  /// pool.close();
  /// pool.join();  // every submitted task has finished
  /// @endcode
  void join();

 private:
  pool(detail::master& m, std::weak_ptr<detail::job_control> control, std::size_t stream_window)
      : master_(m), control_(std::move(control)), stream_window_(stream_window) {}
  friend class mpi_section;
  friend int detail::run_pool_as_master(detail::master&, const std::function<int(pool&)>&,
                                        const pool_options&);

  // Checks a parallel call's width against the pool (std::invalid_argument) and makes its task.
  void check_width(int ranks) const;
  template <class Width, class F>
  auto parallel_task(Width width, F&& f) const {
    check_width(width.ranks);
    return detail::make_group_task(width, std::forward<F>(f));
  }
  // A parallel call's chunksize: one item per group unless the call says otherwise; other
  // arguments (a journal, callbacks) pass as they are.
  template <class T>
  static decltype(auto) group_chunksize(T&& argument) {
    if constexpr (std::is_same_v<std::remove_cvref_t<T>, std::optional<std::int64_t>>)
      return std::optional<std::int64_t>(argument.value_or(1));
    else
      return std::forward<T>(argument);
  }

  void require_running() const;
  void require_off_progress_thread() const;
  std::thread::id progress_thread() const;
  std::size_t worker_count() const;
  std::uint64_t enqueue(std::unique_ptr<detail::job> work);
  // As enqueue, for a call whose caller waits for it at once; `done` says when it may stop driving.
  std::uint64_t enqueue_and_drive(std::unique_ptr<detail::job> work, const std::function<bool()>& done);

  // Reads a whole input on the calling thread into argument tuples.
  template <class MakeArgs, class Range>
  static auto read_all(Range& items) {
    std::vector<decltype(MakeArgs{}(*std::ranges::begin(items)))> args;
    if constexpr (std::ranges::sized_range<Range>) args.reserve(std::ranges::size(items));
    for (auto&& item : items) args.push_back(MakeArgs{}(std::forward<decltype(item)>(item)));
    return args;
  }

  // apply, apply_async and submit: one call of `f(args...)`. `Drive`: the caller waits for it at once.
  template <bool Drive = false, class F, class... Args>
  auto apply_with(callbacks<apply_result_t<F, Args...>> cb, F&& f, Args&&... args) {
    using args_type = detail::apply_args_t<Args...>;
    if constexpr (!detail::task_checks<F, args_type>::ok) {
      return detail::reject_task<F, args_type>();
    } else {
      require_running();
      std::vector<args_type> items;
      items.emplace_back(std::forward<Args>(args)...);
      return submit<true, Drive>(detail::make_callable(std::forward<F>(f)), detail::owned_items(std::move(items)),
                                 detail::run_plan(detail::chunk_plan(1, 1), 1), std::move(cb), "apply");
    }
  }

  // map_async and starmap_async, with or without a journal: reads the whole input on the
  // calling thread and submits it.
  template <class MakeArgs, class F, class Range, class Result>
  auto collect_async(F&& f, Range& items, std::optional<std::int64_t> chunksize, callbacks<Result> cb,
                     const char* method, const journal* log) {
    using args_type = typename MakeArgs::args_type;
    if constexpr (!detail::task_checks<F, args_type>::ok) {
      return detail::reject_task<F, args_type>();
    } else {
      require_running();
      detail::validate_chunksize(chunksize);
      auto callable = detail::make_callable(std::forward<F>(f));
      return submit_items<false>(std::move(callable), detail::owned_items(read_all<MakeArgs>(items)), chunksize,
                                 std::move(cb), method, log);
    }
  }

  // A blocking map over a contiguous range of fixed-size values (detail::borrowable_input_v):
  // as map_async, but the job reads the range in place, which lives until map returns. A map
  // that could not wait for its result (inside a parking mpi_section) is refused before it is
  // queued: else its chunks would be read from the range after map threw.
  template <class F, class Range>
  auto map_in_place(F&& f, Range& items, std::optional<std::int64_t> chunksize) {
    using element = std::ranges::range_value_t<Range>;
    using args_type = std::tuple<element>;
    if constexpr (!detail::task_checks<F, args_type>::ok) {
      return detail::reject_task<F, args_type>();
    } else {
      require_running();
      detail::refuse_wait_in_mpi_section("waiting for a result");
      detail::validate_chunksize(chunksize);
      auto callable = detail::make_callable(std::forward<F>(f));
      const std::span<const element> input(std::ranges::data(items), std::ranges::size(items));
      return submit_items<false>(std::move(callable), detail::borrowed_items<element>(input), chunksize,
                                 callbacks<map_result_t<F, Range>>{}, "map");
    }
  }

  template <bool Ordered, class MakeArgs, class F, class Range>
  auto open_stream(F&& f, Range&& items, std::int64_t chunksize, const char* method,
                   const journal* log = nullptr) {
    using args_type = typename MakeArgs::args_type;
    if constexpr (!detail::task_checks<F, args_type>::ok) {
      return detail::reject_task<F, args_type>();
    } else {
      return open_checked_stream<Ordered, MakeArgs>(std::forward<F>(f), std::forward<Range>(items), chunksize,
                                                    method, log);
    }
  }

  template <bool Ordered, class MakeArgs, class F, class Range>
  auto open_checked_stream(F&& f, Range&& items, std::int64_t chunksize, const char* method,
                           const journal* log) {
    require_running();
    detail::validate_chunksize(chunksize);
    auto callable = detail::make_callable(std::forward<F>(f));
    using model = detail::task_model<decltype(callable), typename MakeArgs::args_type>;
    using value = detail::stored_t<typename model::result_type>;
    auto input = std::views::all(std::forward<Range>(items));
    auto state = std::make_shared<detail::stream_state<value>>(Ordered, control_, progress_thread());
    const auto size = static_cast<std::size_t>(chunksize);
    std::unique_ptr<detail::journal_call> journaled;
    if (log) {
      std::optional<std::uint64_t> input_size;
      if constexpr (std::ranges::sized_range<decltype(input)>) input_size = std::ranges::size(input);
      journaled = open_journal<model>(*log, callable, input_size);
    }
    auto work = std::make_unique<detail::stream_job<model, decltype(input), MakeArgs>>(
        detail::define_task<model>(callable), std::move(input), size, stream_window_ * worker_count() * size, state,
        std::move(journaled));
    work->set_method(method);
    const std::uint64_t id = enqueue(std::move(work));
    return result_stream<value>(std::move(state), control_, id);
  }

  // A rejected call (the task failed the compile-time checks) has nothing to wait for.
  static detail::rejected_task take(detail::rejected_task rejected) { return rejected; }

  template <class T>
  static T take(async_result<T>&& result) {
    result.wait();
    if constexpr (std::is_void_v<T>) result.get();
    else return std::move(detail::state_of(result)->value());
  }

  template <bool Single, class Callable, class Items, class Result>
  async_result<Result> submit_items(Callable callable, Items items, std::optional<std::int64_t> chunksize,
                                    callbacks<Result> cb, const char* method, const journal* log = nullptr) {
    // The count is read before the call: the order in which a call's arguments are evaluated
    // is unspecified, and one compiler may move `items` away before another argument reads it.
    const std::size_t item_count = items.size();
    if (!log) {
      detail::run_plan plan(detail::plan_chunks(chunksize, item_count, worker_count()), item_count);
      return submit<Single>(std::move(callable), std::move(items), std::move(plan), std::move(cb), method);
    }
    // The journal's thread reads the file, and plans only what it lacks.
    auto journaled = open_journal<detail::task_model<Callable, typename Items::args_type>>(*log, callable, item_count);
    detail::run_plan plan(detail::chunk_plan(0, 1), 0);
    return submit<Single>(std::move(callable), std::move(items), std::move(plan), std::move(cb), method,
                          std::move(journaled), {chunksize, worker_count()});
  }

  // A call's journal, which wakes the progress thread whenever its thread has news for the job.
  template <class Model>
  std::unique_ptr<detail::journal_call> open_journal(const journal& log, const typename Model::callable_type& callable,
                                                     std::optional<std::uint64_t> items) {
    return std::make_unique<detail::journal_call>(log, detail::journal_identity<Model>(callable), items,
                                                  [control = control_] {
                                                    if (auto master = control.lock()) master->poke();
                                                  });
  }

  template <bool Single, bool Drive = false, class Callable, class Items, class Result>
  async_result<Result> submit(Callable callable, Items items, detail::run_plan plan,
                              callbacks<Result> cb, const char* method,
                              std::unique_ptr<detail::journal_call> journaled = nullptr,
                              detail::resume_settings resume = {}) {
    using model = detail::task_model<Callable, typename Items::args_type>;
    auto state = std::make_shared<detail::result_state<Result>>(progress_thread());
    // An empty input goes to the master too, so that its callback runs on the progress thread.
    auto work = std::make_unique<detail::collect_job<model, Single, Items>>(
        detail::define_task<model>(callable), std::move(items), std::move(plan), std::move(cb), state,
        std::move(journaled), resume);
    work->set_method(method);
    if constexpr (Drive) enqueue_and_drive(std::move(work), [&state] { return state->released(); });
    else enqueue(std::move(work));
    return async_result<Result>(std::move(state));
  }

  detail::master& master_;
  std::weak_ptr<detail::job_control> control_;
  std::size_t stream_window_;
  // The pool's state is the master's (src/master/lifecycle.hpp): it is kept once, there.
};

}  // namespace mpipool
