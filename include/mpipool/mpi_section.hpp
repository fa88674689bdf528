#pragma once
/// @file mpi_section.hpp
/// @brief mpipool::mpi_section: make MPI calls of your own on the master while a pool runs.

#include "mpipool/pool.hpp"

namespace mpipool {

/// @brief While it lives, the caller's own MPI calls on the master are safe beside the pool.
///
/// The pool's progress thread makes MPI calls on the master all the time a pool runs. Under
/// MPI_THREAD_SERIALIZED no other thread may call MPI meanwhile, so code in the body (or on any
/// thread of the master) that calls MPI itself opens a section first: the constructor asks the
/// progress thread to step aside and returns once it is parked outside any MPI call; the
/// destructor lets it go on. While parked, the pool sends, receives and hands out nothing, and
/// runs no callbacks; calls made meanwhile (map_async, submit, cancel) queue and are served
/// once the last section ends. Work already on the workers goes on running there.
///
/// With MPI_THREAD_MULTIPLE granted (`MPI_Query_thread`), any thread may call MPI at any time:
/// a section then does nothing and costs nothing.
///
/// - Sections nest, on one thread and across threads: the progress thread stays parked until
///   the last one ends. Several threads that each hold one must still take turns in their own
///   MPI calls, as MPI_THREAD_SERIALIZED demands of any two threads.
/// - On the thread that holds a parking section, waiting for a result of the pool (`get`,
///   `wait`, `map`, `apply`, reading a stream, `terminate`, `join`) would wait for ever: it
///   throws std::logic_error instead. Submitting (`map_async`, `submit`) is fine. On other
///   threads, such a wait (and the end of the body) simply waits for the sections to end.
/// - From a result or error callback, or from a task run on the master, it throws
///   std::logic_error, as every pool method does there.
/// - Once the pool has stopped (terminated, or closed and joined) its thread makes no MPI call
///   any more: a section holds nothing and returns at once.
///
/// Collectives are the trap: the pool's worker ranks are busy serving it, so a collective over
/// a communicator that includes any of them never completes while the pool runs. Use ranks
/// outside the pool (a pool over part of the ranks, `run(pool_comm, body)`), or communicators
/// of the master alone.
/// @code
/// mpipool::run(pool_comm, [&](mpipool::pool& pool) {
///   auto results = pool.map_async(simulate, cases);  // the workers compute meanwhile
///   double total = 0;
///   {
///     mpipool::mpi_section section(pool);             // the progress thread steps aside
///     MPI_Allreduce(&local, &total, 1, MPI_DOUBLE, MPI_SUM, outsiders_comm);
///   }                                                  // and goes on here
///   use(results.get(), total);
/// });
/// @endcode
class mpi_section {
 public:
  /// Returns once the pool's progress thread is parked outside MPI (at once under
  /// MPI_THREAD_MULTIPLE, or once the pool has stopped).
  /// @throws std::logic_error from a result or error callback, or from a task.
  explicit mpi_section(pool& owner);
  /// Lets the progress thread go on once no other section holds it.
  ~mpi_section();
  mpi_section(const mpi_section&) = delete;
  mpi_section& operator=(const mpi_section&) = delete;

  /// Whether this section holds the progress thread parked: false under MPI_THREAD_MULTIPLE,
  /// or when the pool had stopped already.
  /// @code
  /// mpipool::mpi_section section(pool);
  /// if (!section.parks()) std::puts("MPI_THREAD_MULTIPLE: nothing to step aside for");
  /// @endcode
  bool parks() const noexcept { return master_ != nullptr; }

 private:
  detail::master* master_ = nullptr;
};

}  // namespace mpipool
