#pragma once
/// @file parallel.hpp
/// @brief Parallel tasks: one task on k worker ranks at once, with a communicator of its own.
///
/// Put `mpipool::ranks(k)` before the task of any pool method. Every item then runs on a group
/// of k worker ranks: each member calls the task with the group's communicator first and the
/// same arguments after it, and the item's result is the one of the group's rank 0
/// (`mpipool::ranks(k, mpipool::gather_all)`: a vector of every member's, in group rank order).
/// @code
/// double solve(const boost::mpi::communicator& group, double coupling) {
///   double local = simulate_my_part(group.rank(), group.size(), coupling);
///   return boost::mpi::all_reduce(group, local, std::plus<>());
/// }
/// // ... on rank 0, in the pool's body:
/// std::vector<double> energies = pool.map(mpipool::ranks(4), solve, couplings);
/// @endcode
/// A task that speaks plain MPI takes an `MPI_Comm` first instead.
///
/// - A group's communicator is made by its members alone (never a collective over the pool),
///   kept while the same workers are grouped again, and freed when the pool stops.
/// - Groups are taken from the ranks of one node where enough of them are idle; otherwise a
///   group spans nodes.
/// - Narrow tasks run on idle workers while a wide one waits for its group, but not for ever:
///   after a short wait the wide task's group is reserved.
/// - A parallel call hands out one item per group at a time, unless a chunksize says more.
/// - Errors: when any member throws, the item fails with the first failing member's type name,
///   and the message names every failing member's rank and host. The members agree on each
///   item's outcome after the task returns, so a member that throws releases the others only
///   if they reach the end of the item too: a task that throws on some members before a
///   collective that the others enter would leave them waiting for ever, which MPI cannot
///   cancel. The pool then ends the job, naming the member that threw, once the others have not
///   come within `MPIPOOL_GROUP_GRACE` seconds (default 60).
/// - A group, once it runs an item, is waited for: cancel and terminate never cut a group's
///   chunk short, they only keep new chunks from starting.
/// - Isolated workers cannot run parallel tasks (a helper process does not call MPI): such a
///   call fails with a clear error.

#include <cstddef>

namespace mpipool {

/// @brief How many ranks each item of a call runs on: what `mpipool::ranks(k)` gives.
/// @code
/// mpipool::task_width four = mpipool::ranks(4);
/// @endcode
struct task_width {
  /// @brief The number of worker ranks in each item's group.
  int ranks = 1;
};

/// @brief Like task_width, for a call that gathers every member's result: each item's result is
/// a `std::vector` of the k members' results, in group rank order. What `ranks(k, gather_all)`
/// gives.
/// @code
/// mpipool::gathering_task_width all_four = mpipool::ranks(4, mpipool::gather_all);
/// @endcode
struct gathering_task_width {
  /// @brief The number of worker ranks in each item's group.
  int ranks = 1;
};

/// @brief The tag that asks a parallel call for every member's result, not only rank 0's.
/// @code
/// std::vector<std::vector<double>> parts = pool.map(mpipool::ranks(4, mpipool::gather_all), solve, inputs);
/// @endcode
struct gather_all_t {
  explicit constexpr gather_all_t() = default;
};
/// @brief See gather_all_t.
inline constexpr gather_all_t gather_all{};

/// @brief Runs each item of the call it is given to on a group of `k` worker ranks.
///
/// `k` must be at least 1 and at most the number of workers; the call throws std::invalid_argument
/// otherwise (with one rank there are no workers, and only `ranks(1)` runs).
/// @code
/// auto r = pool.apply_async(mpipool::ranks(2), solve, 0.5);
/// @endcode
constexpr task_width ranks(int k) noexcept { return task_width{k}; }

/// @brief As ranks(k), and each item's result is every member's, gathered in group rank order.
/// @code
/// std::vector<long> per_member = pool.apply(mpipool::ranks(3, mpipool::gather_all), local_count, 10);
/// @endcode
constexpr gathering_task_width ranks(int k, gather_all_t) noexcept { return gathering_task_width{k}; }

/// @brief How many group communicators the calling rank has made so far (for tests and
/// diagnostics: the same group of workers reuses its communicator).
/// @code
/// std::size_t made = mpipool::group_communicators_made();
/// @endcode
std::size_t group_communicators_made() noexcept;

}  // namespace mpipool
