#pragma once
/// @file journal.hpp
/// @brief mpipool::journal: a file where a call keeps its results, so that a job killed by a
/// time limit resumes where it stopped.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

namespace mpipool {

namespace detail {
class journal_call;
}

/// @brief Where a call journals its results: a file, and the call's name in it.
///
/// Give one as the argument after the chunksize of map, starmap, map_async, starmap_async
/// (before the callbacks), imap, imap_unordered, istarmap or istarmap_unordered. The master
/// appends each result to the file as it arrives, checksummed. Run again with the same journal
/// (after a time limit, `scancel`, a crash), the call sends only the missing items to the
/// workers, takes the others from the file, and returns exactly what an uninterrupted run
/// returns, in the same order (imap_unordered: journaled results come first).
///
/// - One file may hold several calls, each under its own name; a body with several maps gives
///   each its own name (a name is used by one call at a time). One file per call works too.
/// - Several processes may share a file at once (array tasks, the calls of several jobs): each
///   holds an exclusive `flock` on it while it reads it, appends to it or syncs it, and a new file
///   is made (O_EXCL) and its first line written under that lock, so that two processes that
///   make it at once share one valid file. The lock holds across nodes where the file system
///   makes flock cluster-wide: NFS (Linux emulates flock there with the server's byte-range
///   locks, unless it is mounted with `local_lock=flock` or `local_lock=all`) and Lustre mounted
///   with `-o flock`. Lustre's `-o localflock` locks within one node only (share a file between
///   the processes of one node only, then), and a file system without locks (Lustre's `noflock`)
///   makes the call fail with journal_error rather than risk losing records.
/// - The file binds each name to the task: its name, its parameters (a function object's
///   serialized state) and its result type; to the input's size (when the input is sized); and
///   each result to a checksum of its item's arguments. A journal from another task, another
///   function object state (`scale{3}` after `scale{2}`) or another input raises
///   mpipool::journal_error, naming the file. The task must have a stable name: a registered
///   free function or a named function object. A lambda is refused at compile time, since its
///   name is its place in the code (`main()::{lambda(int)#2}`), which a lambda added above it
///   would give another lambda.
/// - A crash can leave a last record cut short, or bytes that never reached the disk after the
///   last sync (zeros, garbage: a node crash, NFS write-back). Both are cut off with a warning on
///   stderr, and their items are computed again. Damage before a sync point (bytes the disk held
///   when the file was synced) is corruption, and raises journal_error.
/// - Only results are journaled: a failed item is computed again on the next run.
/// - The file is read, and written, by the call's own thread on the master, never by the
///   caller's thread nor the progress thread: a slow file system delays only the end of the call.
///   Results go to the file as they arrive; the file is synced (fdatasync) when the call ends,
///   fails or is stopped, and a call returns only once its results are on disk. A SIGKILL loses
///   at most what the OS had not written. Any error of the file's (a write, fdatasync or close
///   that fails: ENOSPC, EDQUOT, EIO) fails the call with journal_error.
/// - When a call is stopped (SIGTERM, SIGINT, terminate(), a stream dropped), the chunks running
///   are cut short; what they ran comes back, and is journaled before the file is synced, though
///   the call itself fails.
/// - Delete the file to start afresh.
/// @code
/// mpipool::journal energies_log{"run.journal", "energies"};
/// std::vector<double> energies = pool.map(energy, molecules, std::nullopt, energies_log);
/// std::printf("%llu from the journal\n", (unsigned long long)energies_log.restored());
/// for (double e : pool.imap(energy, more_molecules, 1, mpipool::journal{"run.journal", "more"})) use(e);
/// @endcode
class journal {
 public:
  /// A journal in `file` (made if missing) under the call name `name`.
  journal(std::filesystem::path file, std::string name)
      : file_(std::move(file)), name_(std::move(name)), restored_(std::make_shared<std::atomic<std::uint64_t>>(0)) {}

  const std::filesystem::path& file() const noexcept { return file_; }  ///< the journal's file
  const std::string& name() const noexcept { return name_; }            ///< the call's name in it

  /// @brief How many results the latest call given this journal (or a copy of it) took from
  /// the file instead of computing them; for a stream, those read from the file so far.
  /// @code
  /// auto values = pool.map(f, xs, {}, j);
  /// std::printf("%llu of %zu from the journal\n", (unsigned long long)j.restored(), xs.size());
  /// @endcode
  std::uint64_t restored() const noexcept { return restored_->load(); }

 private:
  friend class detail::journal_call;
  std::filesystem::path file_;
  std::string name_;
  std::shared_ptr<std::atomic<std::uint64_t>> restored_;
};

}  // namespace mpipool
