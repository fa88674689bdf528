#include "master/policy.hpp"

#include <algorithm>

namespace mpipool::detail {

dispatch_policy::dispatch_policy(std::size_t ranks, std::size_t max_in_flight, std::size_t workers)
    : prefetches_(max_in_flight > 1),
      max_in_flight_(std::max<std::size_t>(max_in_flight, 1)),
      // A worker that runs one chunk at a time with nothing queued (max_in_flight 1) gets no bundles.
      most_in_flight_(prefetches_ ? std::max(max_in_flight_, 2 * chunks_per_bundle) : 1),
      workers_(std::max<std::size_t>(workers > 0 ? workers : (ranks > 1 ? ranks - 1 : 1), 1)),
      in_flight_(ranks, 0),
      weight_(ranks, 1),
      node_(ranks, 0) {}

void dispatch_policy::set_weight(int rank, std::size_t weight) {
  weight_.at(static_cast<std::size_t>(rank)) = std::max<std::size_t>(weight, 1);
}

void dispatch_policy::add_job(std::uint64_t id, bool takes_turns, std::size_t width) {
  queue_.push_back(id);
  job_entry& entry = jobs_[id];
  entry.takes_turns = takes_turns;
  entry.width = std::max<std::size_t>(width, 1);
  if (entry.width > 1) ++wide_jobs_;
}

void dispatch_policy::set_cores_shared(bool shared) {
  prefetch_below_ = shared ? prefetch_below_seconds_on_shared_cores : prefetch_below_seconds;
  if (prefetches_) max_in_flight_ = shared ? prefetch_depth_on_shared_cores : prefetch_depth;
}

std::size_t dispatch_policy::width(std::uint64_t id) const {
  auto entry = jobs_.find(id);
  return entry == jobs_.end() ? 1 : entry->second.width;
}

std::vector<int> dispatch_policy::group_for(std::uint64_t id) const {
  const std::size_t wanted = width(id);
  std::unordered_map<std::size_t, std::vector<int>> by_node;
  for (int rank : idle_) by_node[node_.at(static_cast<std::size_t>(rank))].push_back(rank);
  std::vector<std::vector<int>*> nodes;
  for (auto& [node, ranks] : by_node) nodes.push_back(&ranks);
  // Fewest idle first, so that the best fit is the first that fits; ties by lowest rank, so
  // that the choice does not depend on the hash map's order.
  std::sort(nodes.begin(), nodes.end(), [](const std::vector<int>* a, const std::vector<int>* b) {
    if (a->size() != b->size()) return a->size() < b->size();
    return *std::min_element(a->begin(), a->end()) < *std::min_element(b->begin(), b->end());
  });
  std::vector<int> members;
  for (std::vector<int>* ranks : nodes) {
    if (ranks->size() < wanted) continue;
    members.assign(ranks->end() - static_cast<std::ptrdiff_t>(wanted), ranks->end());  // the most recently idle
    break;
  }
  // No node has enough: the group spans nodes, taking the fullest first.
  if (members.empty()) {
    for (auto it = nodes.rbegin(); it != nodes.rend() && members.size() < wanted; ++it)
      for (auto rank = (*it)->rbegin(); rank != (*it)->rend() && members.size() < wanted; ++rank)
        members.push_back(*rank);
    if (members.size() < wanted) members.clear();  // too few idle workers
  }
  std::sort(members.begin(), members.end());
  return members;
}

void dispatch_policy::group_chunk_sent(const std::vector<int>& members) {
  const std::uint64_t group = next_group_++;
  running_groups_[group] = running_group{members, members.size()};
  for (int rank : members) {
    remove_rank(prefetchable_, rank);
    group_of_[rank] = group;
  }
}

void dispatch_policy::set_node(int rank, std::size_t node) { node_.at(static_cast<std::size_t>(rank)) = node; }

void dispatch_policy::remove_job(std::uint64_t id) {
  std::erase(queue_, id);
  auto entry = jobs_.find(id);
  if (entry == jobs_.end()) return;
  if (entry->second.width > 1) --wide_jobs_;
  jobs_.erase(entry);
}

void dispatch_policy::clear_jobs() {
  queue_.clear();
  jobs_.clear();
  wide_jobs_ = 0;
  blocked_.clear();
}

void dispatch_policy::chunk_taken(std::uint64_t id) {
  auto entry = jobs_.find(id);
  if (entry == jobs_.end()) return;
  // Wider jobs that could not start were passed over by this chunk.
  for (std::uint64_t waiting : blocked_) {
    auto blocked = jobs_.find(waiting);
    if (blocked != jobs_.end() && blocked->second.width > entry->second.width) ++blocked->second.passed_over;
  }
  blocked_.clear();
  if (!entry->second.takes_turns) return;
  std::erase(queue_, id);
  queue_.push_back(id);
}

void dispatch_policy::remove_rank(std::deque<int>& list, int rank) {
  if (auto it = std::find(list.begin(), list.end(), rank); it != list.end()) list.erase(it);
}

void dispatch_policy::chunk_sent(int rank, std::optional<std::uint64_t> id, std::size_t chunks) {
  std::size_t& count = in_flight_.at(static_cast<std::size_t>(rank));
  const std::size_t weight = weight_of(rank);
  count += chunks;
  total_in_flight_ += chunks;
  if (count >= weight && count - chunks < weight) remove_rank(idle_, rank);  // its last free worker is taken
  remove_rank(prefetchable_, rank);
  if (count < (id ? limit_for(*id, rank) : max_in_flight_ * weight)) prefetchable_.push_back(rank);
}

void dispatch_policy::chunk_returned(int rank, std::size_t chunks) {
  std::size_t& count = in_flight_.at(static_cast<std::size_t>(rank));
  chunks = std::min(chunks, count);
  if (chunks == 0) return;
  count -= chunks;
  total_in_flight_ -= chunks;
  if (const std::size_t weight = weight_of(rank); weight > 1) {  // a sub-master: groups never go there
    // One of its workers is free (again, or for the first time after the set-up).
    if (count < weight && std::find(idle_.begin(), idle_.end(), rank) == idle_.end()) idle_.push_back(rank);
    remove_rank(prefetchable_, rank);
    prefetchable_.push_back(rank);
    return;
  }
  if (count == 0) {
    remove_rank(prefetchable_, rank);
    auto member = group_of_.find(rank);
    if (member == group_of_.end()) {
      idle_.push_back(rank);
      return;
    }
    auto group = running_groups_.find(member->second);
    group_of_.erase(member);
    if (--group->second.outstanding > 0) return;  // it waits for the rest of its group
    for (int each : group->second.members) idle_.push_back(each);
    running_groups_.erase(group);
  } else {
    remove_rank(prefetchable_, rank);
    prefetchable_.push_back(rank);  // it has just started its next chunk
  }
}

std::optional<int> dispatch_policy::worker_for(std::uint64_t id, std::size_t chunks_left) {
  if (!idle_.empty()) return idle_.back();
  if (prefetchable_.empty() || !prefetch_pays(chunks_left, workers_, typical_chunk_seconds(id), prefetch_below_))
    return std::nullopt;
  while (!prefetchable_.empty()) {
    const int rank = prefetchable_.back();
    if (in_flight(rank) + refill_at(id, rank) <= limit_for(id, rank)) return rank;
    prefetchable_.pop_back();  // as much as this job may commit to it; the next round looks again
  }
  return std::nullopt;
}

std::size_t dispatch_policy::chunks_per_message(std::uint64_t id, int rank) const {
  const std::size_t weight = weight_of(rank);
  const std::size_t held = in_flight(rank);
  const bool bundles = bundles_pay(id);
  if (!bundles && weight == 1) return 1;
  const std::size_t most = limit_for(bundles, rank);
  if (!bundles) {
    // worker_for chose it for a free worker, or, past those, because prefetch pays.
    const std::size_t fill = held < weight ? weight : most;
    return held < fill ? fill - held : 1;
  }
  if (held >= most) return 1;
  return std::min(bundle_size(id) * weight, most - held);
}

std::size_t dispatch_policy::bundle_size(std::uint64_t id) const {
  const std::size_t bytes = jobs_.at(id).chunk_bytes;
  const std::size_t under_limit = bytes > 0 ? bundle_bytes_most / bytes : chunks_per_bundle;
  return under_limit >= chunks_per_bundle / 2 ? std::min(chunks_per_bundle, under_limit) : chunks_per_bundle;
}

std::size_t dispatch_policy::limit_for(bool bundles, int rank) const {
  const std::size_t weight = weight_of(rank);
  return (bundles ? most_in_flight_ : max_in_flight_) * (weight == 1 ? 1 : sub_master_stock * weight);
}

std::size_t dispatch_policy::refill_at(std::uint64_t id, int rank) const {
  const std::size_t weight = weight_of(rank);
  if (weight == 1) return 1;
  return std::max<std::size_t>(weight / 2, 1) * (bundles_pay(id) ? chunks_per_bundle : 1);
}

bool dispatch_policy::bundles_pay(std::uint64_t id) const {
  if (most_in_flight_ <= max_in_flight_) return false;
  auto entry = jobs_.find(id);
  if (entry == jobs_.end() || entry->second.width > 1) return false;
  const std::optional<double>& run = entry->second.typical_run_seconds;
  return run && *run < bundle_below_seconds;
}

void dispatch_policy::record_chunk_bytes(std::uint64_t id, std::size_t bytes) {
  auto entry = jobs_.find(id);
  if (entry != jobs_.end()) entry->second.chunk_bytes = bytes;
}

void dispatch_policy::record_chunk_time(std::uint64_t id, double seconds) {
  auto entry = jobs_.find(id);
  if (entry == jobs_.end()) return;
  std::optional<double>& typical = entry->second.typical_seconds;
  // A moving average over the last few chunks follows a job whose tasks change pace.
  typical = typical ? 0.75 * *typical + 0.25 * seconds : seconds;
}

void dispatch_policy::record_run_time(std::uint64_t id, double seconds) {
  auto entry = jobs_.find(id);
  if (entry == jobs_.end()) return;
  std::optional<double>& typical = entry->second.typical_run_seconds;
  typical = typical ? 0.75 * *typical + 0.25 * seconds : seconds;
}

std::optional<double> dispatch_policy::typical_chunk_seconds(std::uint64_t id) const {
  auto entry = jobs_.find(id);
  if (entry == jobs_.end()) return std::nullopt;
  return entry->second.typical_seconds;
}

bool dispatch_policy::prefetch_pays(std::size_t chunks_left, std::size_t workers,
                                    std::optional<double> typical_seconds, double below_seconds) {
  if (!typical_seconds || *typical_seconds >= below_seconds) return false;
  return chunks_left > prefetch_chunks_per_worker * std::max<std::size_t>(workers, 1);
}

}  // namespace mpipool::detail
