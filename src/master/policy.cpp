#include "master/policy.hpp"

#include <algorithm>

namespace mpipool::detail {

dispatch_policy::dispatch_policy(std::size_t ranks, std::size_t max_in_flight)
    : max_in_flight_(std::max<std::size_t>(max_in_flight, 1)),
      workers_(std::max<std::size_t>(ranks > 1 ? ranks - 1 : 1, 1)),
      in_flight_(ranks, 0) {}

void dispatch_policy::add_job(std::uint64_t id, bool takes_turns) {
  queue_.push_back(id);
  jobs_[id].takes_turns = takes_turns;
}

void dispatch_policy::remove_job(std::uint64_t id) {
  std::erase(queue_, id);
  jobs_.erase(id);
}

void dispatch_policy::clear_jobs() {
  queue_.clear();
  jobs_.clear();
}

void dispatch_policy::chunk_taken(std::uint64_t id) {
  auto entry = jobs_.find(id);
  if (entry == jobs_.end() || !entry->second.takes_turns) return;
  std::erase(queue_, id);
  queue_.push_back(id);
}

void dispatch_policy::remove_rank(std::deque<int>& list, int rank) {
  if (auto it = std::find(list.begin(), list.end(), rank); it != list.end()) list.erase(it);
}

void dispatch_policy::chunk_sent(int rank) {
  std::size_t& count = in_flight_.at(static_cast<std::size_t>(rank));
  if (count == 0) remove_rank(idle_, rank);
  ++count;
  ++total_in_flight_;
  remove_rank(prefetchable_, rank);
  if (count < max_in_flight_) prefetchable_.push_back(rank);
}

void dispatch_policy::chunk_returned(int rank) {
  std::size_t& count = in_flight_.at(static_cast<std::size_t>(rank));
  if (count == 0) return;
  --count;
  --total_in_flight_;
  if (count == 0) {
    remove_rank(prefetchable_, rank);
    idle_.push_back(rank);
  } else {
    remove_rank(prefetchable_, rank);
    prefetchable_.push_back(rank);  // it has just started its next chunk
  }
}

std::optional<int> dispatch_policy::worker_for(std::uint64_t id, std::size_t chunks_left) const {
  if (!idle_.empty()) return idle_.back();
  if (prefetchable_.empty() || !prefetch_pays(chunks_left, workers_, typical_chunk_seconds(id))) return std::nullopt;
  return prefetchable_.back();
}

void dispatch_policy::record_chunk_time(std::uint64_t id, double seconds) {
  auto entry = jobs_.find(id);
  if (entry == jobs_.end()) return;
  std::optional<double>& typical = entry->second.typical_seconds;
  // A moving average over the last few chunks follows a job whose tasks change pace.
  typical = typical ? 0.75 * *typical + 0.25 * seconds : seconds;
}

std::optional<double> dispatch_policy::typical_chunk_seconds(std::uint64_t id) const {
  auto entry = jobs_.find(id);
  if (entry == jobs_.end()) return std::nullopt;
  return entry->second.typical_seconds;
}

bool dispatch_policy::prefetch_pays(std::size_t chunks_left, std::size_t workers,
                                    std::optional<double> typical_seconds) {
  if (!typical_seconds || *typical_seconds >= prefetch_below_seconds) return false;
  return chunks_left > prefetch_chunks_per_worker * std::max<std::size_t>(workers, 1);
}

}  // namespace mpipool::detail
