#pragma once
// How big each chunk is. Pure arithmetic, tested without MPI; the adaptive policy joins here.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

namespace mpipool::detail {

// Python's default for map and starmap: ceil(items / (4 * workers)), at least 1.
std::size_t default_chunksize(std::size_t items, std::size_t workers);

// Throws std::invalid_argument for a requested chunksize below 1.
void validate_chunksize(std::optional<std::int64_t> requested);

// The chunksize a call asked for, validated; or the default when it asked for none.
std::size_t resolve_chunksize(std::optional<std::int64_t> requested, std::size_t items,
                              std::size_t workers);

// Cuts [0, items) into consecutive chunks of a fixed size; the last one may be shorter.
class chunk_plan {
 public:
  chunk_plan(std::size_t items, std::size_t chunksize) : items_(items), chunksize_(chunksize) {}

  bool exhausted() const { return next_ >= items_; }
  // The next chunk's [first, first + count); call only while !exhausted().
  std::pair<std::size_t, std::size_t> take();
  std::size_t chunk_count() const { return (items_ + chunksize_ - 1) / chunksize_; }

 private:
  std::size_t items_;
  std::size_t chunksize_;
  std::size_t next_ = 0;
};

}  // namespace mpipool::detail
