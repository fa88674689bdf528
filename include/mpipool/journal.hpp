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
/// - The file binds each name to the task's name and to the input's size (when the input is
///   sized), and each result to a checksum of its item's arguments: a journal from another task
///   or another input raises mpipool::journal_error, naming the file, as does a corrupt record.
///   A last record cut short (the job was killed while writing it) is dropped and recomputed.
/// - Only results are journaled: a failed item is computed again on the next run.
/// - Each results message's records are handed to the OS (write(2)) as it arrives, and the
///   file is flushed (fdatasync) when the call ends, fails or is stopped by SIGTERM or SIGINT;
///   a SIGKILL loses at most what the OS had not written.
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
