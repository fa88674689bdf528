#pragma once
/// @file errors.hpp
/// @brief The exceptions mpipool raises: every one derives from mpipool::error.

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace mpipool {

/// @brief Base of every exception mpipool raises itself.
///
/// Misuse of the pool's lifecycle (a call on a closed pool, `join()` on a running one) raises
/// `std::logic_error` instead, and a bad argument raises `std::invalid_argument`, as the
/// standard library does.
/// @code
/// try { pool.map(f, items); } catch (const mpipool::error& e) { std::cerr << e.what() << '\n'; }
/// @endcode
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// @brief What went wrong on another rank: the exception's type, its message, and where.
/// @code
/// catch (const mpipool::remote_error& e) { std::printf("%s on rank %d\n", e.type_name().c_str(), e.rank()); }
/// @endcode
struct remote_failure {
  std::string type_name;  ///< demangled type of the exception, e.g. "std::out_of_range"
  std::string message;    ///< its `what()`, or "" for exceptions not derived from std::exception
  int rank = -1;          ///< rank of the worker in the pool's communicator
  std::string host;       ///< the worker's host (MPI processor name)
};

/// @brief A task threw: carries the original type name, message, worker rank, host and item index.
/// @code
/// try {
///   pool.map(parse, lines);
/// } catch (const mpipool::remote_error& e) {
///   std::cerr << "item " << e.index() << " failed on rank " << e.rank() << ": " << e.message();
/// }
/// @endcode
class remote_error : public error {
 public:
  /// @param task  name of the callable (registered name or demangled type)
  /// @param index position of the failing item in the call's input (0 for apply)
  remote_error(std::string task, std::uint64_t index, remote_failure failure);

  const std::string& task() const noexcept { return task_; }                   ///< the callable's name
  std::uint64_t index() const noexcept { return index_; }                      ///< the item's index
  const std::string& type_name() const noexcept { return failure_.type_name; }  ///< exception type
  const std::string& message() const noexcept { return failure_.message; }      ///< its what()
  int rank() const noexcept { return failure_.rank; }                           ///< worker rank
  const std::string& host() const noexcept { return failure_.host; }            ///< worker host

 private:
  std::string task_;
  std::uint64_t index_;
  remote_failure failure_;
};

/// @brief An item's process died while running it: a crash (a signal) or exit() in the task.
///
/// Raised only in isolated mode (pool_options::isolated), where each worker runs its tasks in
/// a helper process of its own; without isolation such a crash ends the whole job. The other
/// items of the call still give their values, and the pool goes on with a new helper process.
/// @code
/// try {
///   pool.map(risky, items);
/// } catch (const mpipool::worker_crashed& e) {
///   if (e.signal() == SIGSEGV) std::cerr << "item " << e.index() << " segfaulted on " << e.host();
///   else std::cerr << "item " << e.index() << " exited with " << e.exit_status();
/// }
/// @endcode
class worker_crashed : public remote_error {
 public:
  /// @param signal      the signal that killed the process, or 0 when it exited
  /// @param exit_status its exit status, or -1 when a signal killed it
  worker_crashed(std::string task, std::uint64_t index, remote_failure failure, int signal, int exit_status)
      : remote_error(std::move(task), index, std::move(failure)), signal_(signal), exit_status_(exit_status) {}
  int signal() const noexcept { return signal_; }            ///< e.g. SIGSEGV (11); 0 when it exited
  int exit_status() const noexcept { return exit_status_; }  ///< e.g. 3 for exit(3); -1 when killed

 private:
  int signal_;
  int exit_status_;
};

/// @brief An item ran longer than pool_options::task_timeout: its helper process was killed
/// (SIGKILL) and the item fails with this; the items after it run in a new helper process.
/// @code
/// mpipool::run(argc, argv, body, {.task_timeout = std::chrono::seconds(10)});
/// ...
/// catch (const mpipool::task_timeout& e) {
///   std::cerr << "item " << e.index() << " took over " << e.limit().count() << " ms\n";
/// }
/// @endcode
class task_timeout : public remote_error {
 public:
  /// @param limit the time limit the item ran past
  task_timeout(std::string task, std::uint64_t index, remote_failure failure, std::chrono::milliseconds limit)
      : remote_error(std::move(task), index, std::move(failure)), limit_(limit) {}
  std::chrono::milliseconds limit() const noexcept { return limit_; }  ///< the limit it ran past

 private:
  std::chrono::milliseconds limit_;
};

/// @brief The per-worker initializer threw on some worker; the pool never started.
/// @code
/// catch (const mpipool::initializer_error& e) { std::cerr << e.rank() << ": " << e.message(); }
/// @endcode
class initializer_error : public error {
 public:
  explicit initializer_error(remote_failure failure);
  const std::string& type_name() const noexcept { return failure_.type_name; }  ///< exception type
  const std::string& message() const noexcept { return failure_.message; }      ///< its what()
  int rank() const noexcept { return failure_.rank; }                           ///< worker rank
  const std::string& host() const noexcept { return failure_.host; }            ///< worker host

 private:
  remote_failure failure_;
};

/// @brief `get(timeout)` ran out of time before the result was ready.
/// @code
/// try { r.get(std::chrono::milliseconds(10)); } catch (const mpipool::timeout_error&) { ... }
/// @endcode
class timeout_error : public error {
 public:
  using error::error;
};

/// @brief A callable that the workers could not find, e.g. a free function that was not
/// registered with MPIPOOL_REGISTER. Raised on the master before any work is sent.
/// @code
/// int cube(int x) { return x * x * x; }   // no MPIPOOL_REGISTER(cube)
/// pool.map(cube, xs);                      // throws mpipool::registration_error naming "cube"
/// @endcode
class registration_error : public error {
 public:
  using error::error;
};

/// @brief The pool was terminated (or shut down) before this result was ready.
/// @code
/// auto r = pool.map_async(slow, xs);
/// pool.terminate();
/// r.get();  // throws mpipool::pool_terminated
/// @endcode
class pool_terminated : public error {
 public:
  using error::error;
};

/// @brief SIGTERM or SIGINT reached the master while the pool ran (Slurm's time limit,
/// `scancel`, Ctrl-C): the pool stopped, unfinished calls fail with this, and new calls are
/// refused with it. `mpipool::run` then returns 128 + signal() on every rank.
/// @code
/// try {
///   results = pool.map(simulate, steps);
/// } catch (const mpipool::pool_interrupted& e) {
///   save_checkpoint();  // e.signal() is SIGTERM under a time limit
///   throw;
/// }
/// @endcode
class pool_interrupted : public pool_terminated {
 public:
  pool_interrupted(const std::string& what, int signal) : pool_terminated(what), signal_(signal) {}
  int signal() const noexcept { return signal_; }  ///< the signal number, e.g. SIGTERM (15)

 private:
  int signal_;
};

/// @brief A results journal (mpipool/journal.hpp) that cannot be used: it is corrupt, it was
/// written by another task or for another input, or the file cannot be read or written.
/// `what()` and path() name the file.
/// @code
/// try {
///   values = pool.map(energy, molecules, std::nullopt, mpipool::journal{"run.journal", "energies"});
/// } catch (const mpipool::journal_error& e) {
///   std::cerr << e.what() << '\n';  // e.path() is "run.journal"
/// }
/// @endcode
class journal_error : public error {
 public:
  journal_error(const std::string& path, const std::string& what)
      : error("mpipool: journal '" + path + "': " + what), path_(path) {}
  const std::string& path() const noexcept { return path_; }  ///< the journal's file

 private:
  std::string path_;
};

}  // namespace mpipool
