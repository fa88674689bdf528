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

chunk_plan chunk_plan::adaptive(std::size_t items, std::size_t workers) {
  chunk_plan plan(items, std::min(default_chunksize(items, workers), largest_adaptive_chunk));
  plan.workers_ = std::max<std::size_t>(workers, 1);
  return plan;
}

std::pair<std::size_t, std::size_t> chunk_plan::take() {
  const std::size_t first = next_;
  const std::size_t remaining = items_ - next_;
  std::size_t size = chunksize_;
  if (workers_ != 0) {
    if (batch_left_ == 0) {
      const std::size_t half_each = (remaining + 2 * workers_ - 1) / (2 * workers_);
      batch_size_ = std::clamp<std::size_t>(half_each, 1, chunksize_);
      batch_left_ = workers_;
    }
    --batch_left_;
    size = batch_size_;
  }
  const std::size_t count = std::min(size, remaining);
  next_ += count;
  return {first, count};
}

std::size_t chunk_plan::chunk_count() const {
  chunk_plan rest = *this;
  std::size_t chunks = 0;
  for (; !rest.exhausted(); ++chunks) rest.take();
  return chunks;
}

std::size_t chunk_plan::chunks_left(std::size_t up_to) const {
  if (workers_ == 0) {
    const std::size_t remaining = items_ - std::min(next_, items_);
    return std::min((remaining + chunksize_ - 1) / chunksize_, up_to);
  }
  chunk_plan rest = *this;
  std::size_t chunks = 0;
  for (; chunks < up_to && !rest.exhausted(); ++chunks) rest.take();
  return chunks;
}

chunk_plan plan_chunks(std::optional<std::int64_t> requested, std::size_t items, std::size_t workers) {
  validate_chunksize(requested);
  if (requested) return chunk_plan(items, static_cast<std::size_t>(*requested));
  return chunk_plan::adaptive(items, workers);
}

run_plan::run_plan(chunk_plan plan, std::size_t items) : plan_(plan) {
  if (items > 0) runs_.emplace_back(0, items);
}

run_plan::run_plan(chunk_plan plan, std::vector<run> runs) : plan_(plan), runs_(std::move(runs)) {}

std::pair<std::size_t, std::size_t> run_plan::take() {
  if (piece_left_ == 0) piece_left_ = plan_.take().second;
  const auto [first, length] = runs_[run_];
  const std::size_t count = std::min(piece_left_, length - into_run_);
  const std::size_t start = first + into_run_;
  piece_left_ -= count;
  into_run_ += count;
  if (into_run_ == length) {
    ++run_;
    into_run_ = 0;
  }
  return {start, count};
}

std::size_t run_plan::chunks_left(std::size_t up_to) const {
  const std::size_t piece = piece_left_ > 0 ? 1 : 0;
  return std::min(up_to, piece + plan_.chunks_left(up_to));
}

std::vector<run_plan::run> missing_runs(std::size_t items, const std::vector<std::size_t>& done) {
  std::vector<run_plan::run> runs;
  std::size_t next = 0;
  for (std::size_t index : done) {
    if (index > next) runs.emplace_back(next, index - next);
    next = std::max(next, index + 1);
  }
  if (next < items) runs.emplace_back(next, items - next);
  return runs;
}

}  // namespace mpipool::detail
