#pragma once
// How big each chunk is. Pure arithmetic, tested without MPI; the adaptive policy joins here.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace mpipool::detail {

// Python's default for map and starmap: ceil(items / (4 * workers)), at least 1.
std::size_t default_chunksize(std::size_t items, std::size_t workers);

// Throws std::invalid_argument for a requested chunksize below 1.
void validate_chunksize(std::optional<std::int64_t> requested);

// The chunksize a call asked for, validated; or the default when it asked for none.
std::size_t resolve_chunksize(std::optional<std::int64_t> requested, std::size_t items,
                              std::size_t workers);

// Cuts [0, items) into consecutive chunks. With a fixed chunksize (the caller asked for one: it
// is honoured exactly), every chunk has that size but the last. Adaptive (the caller asked for
// none, so any cut gives the same results), it uses factoring: chunks come in batches of one per
// worker, each half the remaining items over the workers, and never larger than `chunksize`
// (Python's default, capped at largest_adaptive_chunk). The first chunks are Python's; the last
// ones shrink to single items, so
// that no worker is left with a long chunk while the others have nothing to do. On heavy-tailed
// task times this takes the makespan from about x1.12 of ideal (Python's default) to x1.01,
// for a few more chunks (22 instead of 8 for 2000 items on 2 workers).
class chunk_plan {
 public:
  // The cap of an adaptive plan's chunks, below Python's default for long inputs. Past about 10^4
  // items the master's cost per chunk (a few microseconds) is lost in the items' own, while
  // larger chunks only leave fewer in flight to overlap the master's encoding, the messages and
  // the workers' work: measured on 2 workers, map(x*x) over 10^6 ints went from about 18 M
  // items/s with Python's chunks of 125 000 to about 30 M with chunks of at most 16 384.
  static constexpr std::size_t largest_adaptive_chunk = 16384;

  chunk_plan(std::size_t items, std::size_t chunksize) : items_(items), chunksize_(chunksize) {}
  static chunk_plan adaptive(std::size_t items, std::size_t workers);

  bool exhausted() const { return next_ >= items_; }
  // The next chunk's [first, first + count); call only while !exhausted().
  std::pair<std::size_t, std::size_t> take();
  std::size_t chunk_count() const;
  // How many chunks are left, counted up to `up_to` (so that a long plan costs no more).
  std::size_t chunks_left(std::size_t up_to) const;

 private:
  std::size_t items_;
  std::size_t chunksize_;        // fixed size, or the cap of an adaptive plan
  std::size_t workers_ = 0;      // adaptive plans only
  std::size_t batch_size_ = 0;   // the current batch's chunk size
  std::size_t batch_left_ = 0;   // chunks of it still to give
  std::size_t next_ = 0;
};

// The plan for a call: fixed when the caller gave a chunksize, adaptive otherwise.
chunk_plan plan_chunks(std::optional<std::int64_t> requested, std::size_t items, std::size_t workers);

// A chunk_plan over some runs of [0, n) only: the items a resumed call still misses (see
// mpipool/journal.hpp). The plan cuts their count as it would cut a whole input; a chunk that
// spans the gap between two runs is given as one piece per run, since a chunk's items are
// consecutive.
class run_plan {
 public:
  using run = std::pair<std::size_t, std::size_t>;  // first, count; ascending, not touching
  // Every item of [0, items).
  explicit run_plan(chunk_plan plan, std::size_t items);
  run_plan(chunk_plan plan, std::vector<run> runs);

  bool exhausted() const { return piece_left_ == 0 && plan_.exhausted(); }
  std::pair<std::size_t, std::size_t> take();
  std::size_t chunks_left(std::size_t up_to) const;

 private:
  chunk_plan plan_;
  std::vector<run> runs_;
  std::size_t run_ = 0;         // the run the next piece starts in
  std::size_t into_run_ = 0;    // and how far into it
  std::size_t piece_left_ = 0;  // items of the plan's current chunk not given yet
};

// The runs of [0, items) that `done` (ascending) leaves out.
std::vector<run_plan::run> missing_runs(std::size_t items, const std::vector<std::size_t>& done);

}  // namespace mpipool::detail
