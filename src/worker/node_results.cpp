#include "worker/node_results.hpp"

#include <cstring>
#include <optional>
#include <stdexcept>

#include "mpipool/detail/outcomes.hpp"

namespace mpipool::detail {

namespace {

struct fixed_values {
  std::uint8_t size = 0;
  std::span<const char> values;
};

// The values of `count` outcomes that are each a fixed-size value of one size: a fixed_run, or
// a lone fixed_success (a one-item chunk, which the worker does not compact).
std::optional<fixed_values> fixed_values_of(std::span<const char> outcomes, std::uint32_t count) {
  if (count == 0 || outcomes.size() < 2) return std::nullopt;
  const auto status = static_cast<outcome_status>(static_cast<std::uint8_t>(outcomes[0]));
  const auto size = static_cast<std::uint8_t>(outcomes[1]);
  if (size == 0) return std::nullopt;
  if (status == outcome_status::fixed_run) {
    if (const auto values = whole_fixed_run(outcomes, count, size)) return fixed_values{size, *values};
  } else if (status == outcome_status::fixed_success && count == 1 && outcomes.size() == 2u + size) {
    return fixed_values{size, outcomes.subspan(2)};
  }
  return std::nullopt;
}

}  // namespace

void node_results::cut(std::uint64_t job, item_range items, std::uint32_t pieces) {
  nodes_[{job, items.first}] = {items.count, pieces};
}

std::map<node_results::key, node_results::node_chunk>::iterator node_results::node_of(std::uint64_t job,
                                                                                       std::uint64_t first) {
  if (nodes_.empty()) return nodes_.end();
  auto node = nodes_.upper_bound({job, first});  // the first that starts after it
  if (node == nodes_.begin()) return nodes_.end();
  --node;
  const bool holds = node->first.first == job && first - node->first.second < node->second.count;
  return holds ? node : nodes_.end();
}

bool node_results::take(std::span<const char> section) {
  const auto header = frame_cursor(section).take<results_header>();
  const auto node = node_of(header.job, header.items.first);
  if (node == nodes_.end()) return false;
  std::optional<results_view> results;
  try {
    results = read_results(section);
  } catch (const std::exception&) {  // garbled: goes up as it is, for the master to fail its call
  }
  const std::uint32_t count = header.items.count;
  const auto fixed = results ? fixed_values_of(results->outcomes, count) : std::nullopt;
  if (fixed && part_.pieces > 0 && part_.node == node->first && part_.worker == header.worker_rank &&
      part_.value_size == fixed->size && part_.items.first + part_.items.count == header.items.first &&
      part_.items.count <= UINT32_MAX - count && part_.bytes.size() + fixed->values.size() <= most_bytes_together) {
    part_.bytes.insert(part_.bytes.end(), fixed->values.begin(), fixed->values.end());
    part_.items.count += count;
    part_.run_ns += header.run_ns;
    ++part_.pieces;
    return true;
  }
  const key at = node->first;
  flush();  // may close that node-chunk, if these are more results than its pieces (found below)
  part_.node = at;
  part_.bytes.assign(section.begin(), section.end());
  part_.pieces = 1;
  if (!fixed) {  // as it is
    flush();
    return true;
  }
  part_.worker = header.worker_rank;
  part_.value_size = fixed->size;
  part_.items = header.items;
  part_.run_ns = header.run_ns;
  part_.outcomes_at = static_cast<std::size_t>(results->outcomes.data() - section.data());
  return true;
}

void node_results::flush() {
  if (part_.pieces == 0) return;
  auto node = nodes_.find(part_.node);
  if (node == nodes_.end() || node->second.pieces_left < part_.pieces)
    throw std::runtime_error("mpipool: protocol error: a sub-master had more results for a node-chunk than its pieces");
  node->second.pieces_left -= part_.pieces;
  const bool last = node->second.pieces_left == 0;
  if (last) nodes_.erase(node);
  results_header header;
  std::memcpy(&header, part_.bytes.data(), sizeof header);
  if (part_.value_size >= 0) {  // the values of its pieces, as one run
    header.items = part_.items;
    header.run_ns = part_.run_ns / part_.pieces;  // a piece's: the master's timings are per chunk
    header.section_size = 0;
    part_.bytes[part_.outcomes_at] = static_cast<char>(outcome_status::fixed_run);
  }
  header.more_parts = last ? 0 : part_.pieces;
  std::memcpy(part_.bytes.data(), &header, sizeof header);
  part_.pieces = 0;
  part_.value_size = -1;
  up_(part_.bytes);
}

}  // namespace mpipool::detail
