#pragma once
/// @file pool.hpp
/// @brief mpipool::pool: Python's `multiprocessing.Pool` methods over the ranks of an MPI job.

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "mpipool/async_result.hpp"
#include "mpipool/detail/job.hpp"
#include "mpipool/detail/scheduler.hpp"
#include "mpipool/detail/task_model.hpp"
#include "mpipool/errors.hpp"
#include "mpipool/options.hpp"
#include "mpipool/task.hpp"

namespace mpipool {

class pool;

namespace detail {
class master;
int run_pool_as_master(master& m, const std::function<int(pool&)>& body,
                       const pool_options& options);

template <class F>
using callable_t = decltype(make_callable(std::declval<F>()));

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
using value_t = typename task_model<callable_t<F>, Args>::result_type;

template <class Range>
using map_args_t = std::tuple<std::ranges::range_value_t<Range>>;
template <class Range>
using starmap_args_t = tuple_of_t<std::ranges::range_value_t<Range>>;
template <class... A>
using apply_args_t = std::tuple<std::decay_t<A>...>;

template <class T>
struct is_callbacks : std::false_type {};
template <class T>
struct is_callbacks<callbacks<T>> : std::true_type {};
}  // namespace detail

/// @brief What `map` and `map_async` give for a task that returns `Value`: a vector in input
/// order, or nothing when the task returns nothing.
template <class F, class Range>
using map_result_t = detail::collected_t<detail::value_t<F, detail::map_args_t<Range>>, false>;

/// @brief What `starmap` and `starmap_async` give.
template <class F, class Range>
using starmap_result_t = detail::collected_t<detail::value_t<F, detail::starmap_args_t<Range>>, false>;

/// @brief What `apply` and `apply_async` give: the task's own result.
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

  /// @brief Calls `f(args...)` on a worker and waits for the result.
  /// @code
  /// int nine = pool.apply(square, 3);
  /// @endcode
  template <class F, class... Args>
    requires(!detail::is_callbacks<std::decay_t<F>>::value)
  apply_result_t<F, Args...> apply(F&& f, Args&&... args) {
    return take(apply_async(std::forward<F>(f), std::forward<Args>(args)...));
  }

  /// @brief Calls `f(args...)` on a worker in the background.
  /// @code
  /// auto sum = pool.apply_async([](int a, int b) { return a + b; }, 2, 3);
  /// int five = sum.get();
  /// @endcode
  template <class F, class... Args>
    requires(!detail::is_callbacks<std::decay_t<F>>::value)
  async_result<apply_result_t<F, Args...>> apply_async(F&& f, Args&&... args) {
    return apply_async(callbacks<apply_result_t<F, Args...>>{}, std::forward<F>(f),
                       std::forward<Args>(args)...);
  }

  /// @brief As apply_async, with a result callback and an error callback.
  /// @code
  /// pool.apply_async({.on_result = [](const int& v) { std::printf("%d\n", v); }}, square, 4);
  /// @endcode
  template <class F, class... Args>
  async_result<apply_result_t<F, Args...>> apply_async(callbacks<apply_result_t<F, Args...>> cb,
                                                       F&& f, Args&&... args) {
    require_running();
    using args_type = detail::apply_args_t<Args...>;
    std::vector<args_type> items;
    items.emplace_back(std::forward<Args>(args)...);
    return submit<true>(detail::make_callable(std::forward<F>(f)), std::move(items), 1, std::move(cb));
  }

  /// @brief Applies `f` to every item and returns the results in input order.
  ///
  /// The input is read once, on the calling thread, and cut into chunks of `chunksize` items
  /// (by default ceil(n / (4 * workers)), as Python does). If some items fail, the error of the
  /// first failing item is thrown once every item has finished.
  /// @code
  /// std::vector<int> squares = pool.map(square, std::views::iota(0, 1000));
  /// std::vector<int> same = pool.map(square, std::views::iota(0, 1000), 20);
  /// @endcode
  template <class F, std::ranges::input_range Range>
  map_result_t<F, Range> map(F&& f, Range&& items, std::optional<std::int64_t> chunksize = {}) {
    return take(map_async(std::forward<F>(f), std::forward<Range>(items), chunksize));
  }

  /// @brief map over a braced list: `pool.map(square, {1, 2, 3})`.
  template <class F, class T>
  map_result_t<F, std::initializer_list<T>> map(F&& f, std::initializer_list<T> items,
                                                std::optional<std::int64_t> chunksize = {}) {
    return take(map_async(std::forward<F>(f), items, chunksize));
  }

  /// @brief As map, in the background, with optional callbacks (the result callback gets the
  /// whole vector, once).
  /// @code
  /// auto r = pool.map_async(square, xs, {}, {.on_error = [](const mpipool::error& e) { log(e.what()); }});
  /// @endcode
  template <class F, std::ranges::input_range Range>
  async_result<map_result_t<F, Range>> map_async(F&& f, Range&& items,
                                                 std::optional<std::int64_t> chunksize = {},
                                                 callbacks<map_result_t<F, Range>> cb = {}) {
    require_running();
    detail::validate_chunksize(chunksize);
    auto callable = detail::make_callable(std::forward<F>(f));
    using args_type = detail::map_args_t<Range>;
    std::vector<args_type> args;
    if constexpr (std::ranges::sized_range<Range>) args.reserve(std::ranges::size(items));
    for (auto&& item : items) args.emplace_back(std::forward<decltype(item)>(item));
    return submit_items<false>(std::move(callable), std::move(args), chunksize, std::move(cb));
  }

  /// @brief Like map, but each item is a tuple (or pair, or array) of arguments to unpack.
  /// @code
  /// std::vector<std::tuple<int, int>> pairs{{1, 2}, {3, 4}};
  /// std::vector<int> sums = pool.starmap([](int a, int b) { return a + b; }, pairs);  // {3, 7}
  /// @endcode
  template <class F, std::ranges::input_range Range>
  starmap_result_t<F, Range> starmap(F&& f, Range&& items, std::optional<std::int64_t> chunksize = {}) {
    return take(starmap_async(std::forward<F>(f), std::forward<Range>(items), chunksize));
  }

  /// @brief As starmap, in the background, with optional callbacks.
  /// @code
  /// auto r = pool.starmap_async(add, pairs, 10);
  /// @endcode
  template <class F, std::ranges::input_range Range>
  async_result<starmap_result_t<F, Range>> starmap_async(F&& f, Range&& items,
                                                         std::optional<std::int64_t> chunksize = {},
                                                         callbacks<starmap_result_t<F, Range>> cb = {}) {
    require_running();
    detail::validate_chunksize(chunksize);
    auto callable = detail::make_callable(std::forward<F>(f));
    using args_type = detail::starmap_args_t<Range>;
    std::vector<args_type> args;
    if constexpr (std::ranges::sized_range<Range>) args.reserve(std::ranges::size(items));
    for (auto&& item : items) {
      args.push_back(std::apply([](auto&&... xs) { return args_type(std::forward<decltype(xs)>(xs)...); },
                                std::forward<decltype(item)>(item)));
    }
    return submit_items<false>(std::move(callable), std::move(args), chunksize, std::move(cb));
  }

  /// @brief Stops accepting work; what was submitted still runs. Then call join().
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
  enum class lifecycle { running, closed, terminated };

  explicit pool(detail::master& m) : master_(m) {}
  friend int detail::run_pool_as_master(detail::master&, const std::function<int(pool&)>&,
                                        const pool_options&);

  void require_running() const;
  void require_off_progress_thread() const;
  std::thread::id progress_thread() const;
  std::size_t worker_count() const;
  void enqueue(std::unique_ptr<detail::job> work);
  void finish();  // close and join, unless that already happened

  template <class T>
  static T take(async_result<T>&& result) {
    result.wait();
    if constexpr (std::is_void_v<T>) result.get();
    else return std::move(detail::state_of(result)->value());
  }

  template <bool Single, class Callable, class Args, class Result>
  async_result<Result> submit_items(Callable callable, std::vector<Args> items,
                                    std::optional<std::int64_t> chunksize, callbacks<Result> cb) {
    const std::size_t size = detail::resolve_chunksize(chunksize, items.size(), worker_count());
    return submit<Single>(std::move(callable), std::move(items), size, std::move(cb));
  }

  template <bool Single, class Callable, class Args, class Result>
  async_result<Result> submit(Callable callable, std::vector<Args> items, std::size_t chunksize,
                              callbacks<Result> cb) {
    using model = detail::task_model<Callable, Args>;
    static_assert(detail::check_task<model>());
    auto state = std::make_shared<detail::result_state<Result>>(progress_thread());
    if (items.empty()) {  // nothing to send: ready at once, with the callback run here
      if (cb.on_result) {
        if constexpr (std::is_void_v<Result>) detail::run_guarded("result callback", cb.on_result);
        else detail::run_guarded("result callback", [&] { cb.on_result(Result{}); });
      }
      state->set_value({});
      return async_result<Result>(state);
    }
    enqueue(std::make_unique<detail::collect_job<model, Single>>(
        detail::define_task<model>(callable), std::move(items), chunksize, std::move(cb), state));
    return async_result<Result>(std::move(state));
  }

  detail::master& master_;
  std::atomic<lifecycle> state_{lifecycle::running};
};

}  // namespace mpipool
