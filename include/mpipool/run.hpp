#pragma once
/// @file run.hpp
/// @brief mpipool::run: start a pool over the ranks of an MPI job, run the caller's body on the
/// master, and serve tasks on every other rank until the body returns.

#include <functional>
#include <type_traits>
#include <utility>

#include <mpi.h>

#include "mpipool/options.hpp"
#include "mpipool/pool.hpp"

namespace mpipool {

namespace detail {
using body_function = std::function<int(pool&)>;

int run_owning(int& argc, char**& argv, const body_function& body, const pool_options& options);
int run_borrowed(MPI_Comm comm, const body_function& body, const pool_options& options);

template <class Body>
body_function wrap_body(Body&& body) {
  static_assert(std::is_invocable_v<Body&, pool&>,
                "mpipool: the body must be callable as body(mpipool::pool&)");
  using result = std::invoke_result_t<Body&, pool&>;
  static_assert(std::is_void_v<result> || std::is_convertible_v<result, int>,
                "mpipool: the body must return void or an exit code (int)");
  return [body = std::forward<Body>(body)](pool& p) mutable -> int {
    if constexpr (std::is_void_v<result>) {
      body(p);
      return 0;
    } else {
      return static_cast<int>(body(p));
    }
  };
}
}  // namespace detail

/// @brief Initializes MPI, runs `body` on rank 0 with a pool of all other ranks, then finalizes
/// MPI. Every rank returns the body's exit code, so `return mpipool::run(...)` from main gives
/// mpirun and Slurm the right status.
///
/// If the body throws, the error is printed on stderr with the rank, and every rank returns 1.
/// MPI is initialized with MPI_THREAD_SERIALIZED; if it grants less, every rank says so on
/// stderr and returns 1. The body's own MPI calls (even MPI_Comm_size) therefore go inside an
/// mpipool::mpi_section, as `run(comm, body)` explains. With a single rank (no mpirun, or `-n 1`) the master runs the tasks.
/// When the body returns, the pool is terminated, as Python's `with Pool()` does: calls still
/// unfinished fail with mpipool::pool_terminated, none of their callbacks run (they may refer to
/// the body's locals, which are gone by then), and a line on stderr says how many there were.
/// To keep their results, wait for them, or close() and join() the pool, before returning.
///
/// It initializes and finalizes MPI, so it runs once per process: a program that wants several
/// pools initializes MPI itself and calls `run(comm, body)` for each.
/// @throws std::logic_error at once, on every rank, if MPI was finalized already
/// (a second call), or if a pool is running in this process: a pool cannot be started inside
/// another pool's body (from the body, a task or a callback).
/// @code
/// int main(int argc, char** argv) {
///   return mpipool::run(argc, argv, [](mpipool::pool& pool) {
///     auto squares = pool.map([](int x) { return x * x; }, std::views::iota(0, 100));
///     return squares[9] == 81 ? 0 : 1;
///   });
/// }
/// @endcode
template <class Body>
int run(int& argc, char**& argv, Body&& body, const pool_options& options = {}) {
  return detail::run_owning(argc, argv, detail::wrap_body(std::forward<Body>(body)), options);
}

/// @brief Runs a pool over a communicator of a code that manages MPI itself. Call it on every
/// rank of `comm`: rank 0 of `comm` runs `body`, the others serve until it returns. MPI is
/// neither initialized nor finalized here, and the pool's messages travel on a duplicate of
/// `comm`, so they never mix with the caller's own. Run it again for another pool.
///
/// MPI must have been initialized with at least MPI_THREAD_SERIALIZED. Exceptions from the body
/// are rethrown on rank 0 (after the workers are released, with exit code 1).
///
/// While the body runs, the pool's progress thread makes MPI calls on rank 0. Under
/// MPI_THREAD_SERIALIZED, every MPI call of the caller's own on rank 0 (from the body or any other
/// thread) goes inside an mpipool::mpi_section, which has the progress thread step aside; that
/// includes local queries such as MPI_Comm_rank, MPI_Comm_size and MPI_Wtime, which are
/// thread-safe in practice but which the standard does not exempt. With MPI_THREAD_MULTIPLE
/// granted, any call is fine without a section (it then does nothing). Whichever the level,
/// never start a collective that involves the pool's worker ranks: they serve the pool until the
/// body returns, so it cannot complete; collectives with ranks outside `comm`, or over
/// communicators of rank 0 alone, are fine (mpi_section.hpp).
///
/// Pools run one after another, never one inside another: called while a pool is running in
/// this process (from its body, a task or a callback), it throws std::logic_error at once
/// rather than wait for ranks that are busy serving the running pool. The crash report's signal
/// handlers are installed only while the pool runs: the caller's own are back when it returns.
/// @throws std::logic_error if a pool is running in this process.
/// @throws mpipool::error if MPI is not initialized, is finalized, or gives too little thread
/// support.
/// @code
/// MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
/// int rc = mpipool::run(MPI_COMM_WORLD, [](mpipool::pool& pool) { pool.apply(setup_case, 1); });
/// rc = rc != 0 ? rc : mpipool::run(MPI_COMM_WORLD, [](mpipool::pool& pool) { pool.apply(solve_case, 1); });
/// MPI_Finalize();
/// @endcode
template <class Body>
int run(MPI_Comm comm, Body&& body, const pool_options& options = {}) {
  return detail::run_borrowed(comm, detail::wrap_body(std::forward<Body>(body)), options);
}

}  // namespace mpipool
