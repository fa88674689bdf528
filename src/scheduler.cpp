#include "mpipool/detail/scheduler.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

namespace mpipool::detail {

std::size_t default_chunksize(std::size_t items, std::size_t workers) {
  const std::size_t per_round = 4 * std::max<std::size_t>(workers, 1);
  return std::max<std::size_t>((items + per_round - 1) / per_round, 1);
}

void validate_chunksize(std::optional<std::int64_t> requested) {
  if (requested && *requested < 1)
    throw std::invalid_argument("mpipool: chunksize must be at least 1, got " +
                                std::to_string(*requested));
}

std::size_t resolve_chunksize(std::optional<std::int64_t> requested, std::size_t items,
                              std::size_t workers) {
  validate_chunksize(requested);
  return requested ? static_cast<std::size_t>(*requested) : default_chunksize(items, workers);
}

std::pair<std::size_t, std::size_t> chunk_plan::take() {
  const std::size_t first = next_;
  const std::size_t count = std::min(chunksize_, items_ - next_);
  next_ += count;
  return {first, count};
}

}  // namespace mpipool::detail
