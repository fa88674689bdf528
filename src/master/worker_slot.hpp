#pragma once
// What the master knows of one worker: where it runs, the chunks it has in flight (a worker's
// results come back in the order the chunks went; a stocking sub-master's, in the order its
// workers finish them, and a node-chunk's in parts, each matched by an item it holds), the
// items their results brought back, the tasks it holds and the finished jobs it may forget.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

namespace mpipool::detail {

class worker_slot {
 public:
  using clock = std::chrono::steady_clock;

  struct finished_chunk {
    std::uint64_t job = 0;
    double seconds = 0;  // how long it kept the worker busy
    std::uint64_t bytes = 0;  // the size of its chunk message
    std::uint32_t items = 0;  // the items it was sent with
    // The caller's chunks in it whose results were still out: 1, or, of a node-chunk, those
    // its last part brought (part_returned took the others).
    std::uint32_t pieces_out = 1;
  };

  std::string host;
  std::unordered_set<std::uint64_t> holds;  // jobs whose task it has received
  std::vector<std::uint64_t> forget;        // finished jobs to tell it about

  bool idle() const { return in_flight_.empty(); }
  bool has_chunk_of(std::uint64_t job) const {
    for (const chunk& c : in_flight_)
      if (c.job == job) return true;
    return false;
  }
  // The distinct jobs of its chunks in flight.
  std::vector<std::uint64_t> jobs_in_flight() const {
    std::vector<std::uint64_t> jobs;
    for (const chunk& c : in_flight_)
      if (std::find(jobs.begin(), jobs.end(), c.job) == jobs.end()) jobs.push_back(c.job);
    return jobs;
  }
  std::uint64_t oldest_job() const { return in_flight_.front().job; }

  // A chunk went; `new_message`: the first (or only) chunk of its message, a bundle's others
  // going in the same one; `pieces`: a node-chunk's (chunk_header::pieces).
  void sent(std::uint64_t job, clock::time_point now, std::uint64_t bytes = 0, std::uint32_t items = 0,
            bool new_message = true, std::uint64_t first = 0, std::uint32_t pieces = 1) {
    if (new_message || in_flight_.empty()) ++messages_sent_;
    in_flight_.push_back({job, first, now, bytes, items, pieces, messages_sent_});
  }

  // The messages it has in flight: 2 or more, and the next is in its queue behind the one it
  // runs.
  std::uint64_t messages_in_flight() const {
    return in_flight_.empty() ? 0 : in_flight_.back().message - in_flight_.front().message + 1;
  }

  // Whether the chunks queued behind its running message will keep it busy for at least
  // `seconds`, by `seconds_of(job)`, a chunk's typical time (nothing: not known, and then no).
  // Stops counting once there: the master asks at every idle turn, for every worker.
  template <class SecondsOf>
  bool queued_at_least(double seconds, SecondsOf&& seconds_of) const {
    if (in_flight_.empty()) return false;
    const std::uint64_t running = in_flight_.front().message;
    double sum = 0;
    std::optional<std::uint64_t> job;  // a bundle's chunks are of one job: one lookup for all
    std::optional<double> each;
    for (const chunk& c : in_flight_) {
      if (c.message == running) continue;
      if (job != c.job) {
        job = c.job;
        each = seconds_of(c.job);
      }
      if (!each) return false;
      sum += *each;
      if (sum >= seconds) return true;
    }
    return false;
  }

  // A results message of a call's chunk brought back `items` items.
  void items_returned(std::uint32_t items) { items_returned_ += items; }

  // Splits the items of its chunks in flight that the worker has finished among their jobs,
  // calling add(job, items): `finished` is the worker's own count of every item it finished
  // (items_done_counter), of which those not yet returned belong to the chunks in flight, in
  // the order it runs them, each at most its size.
  template <class Add>
  void split_items_in_flight(std::uint64_t finished, Add&& add) const {
    std::uint64_t unreturned = finished > items_returned_ ? finished - items_returned_ : 0;
    for (const chunk& c : in_flight_) {
      if (unreturned == 0) return;
      const std::uint64_t of_this = std::min<std::uint64_t>(unreturned, c.items);
      if (of_this > 0) add(c.job, of_this);
      unreturned -= of_this;
    }
  }

  // The results of its oldest chunk arrived at `now` (a worker's come back in the order its
  // chunks went). A chunk's time runs from when it was sent, or from the previous results if it
  // was waiting behind another chunk.
  finished_chunk returned(clock::time_point now) {
    if (in_flight_.empty()) throw std::logic_error("mpipool: protocol error: results from a worker with no chunk");
    return take(in_flight_.begin(), now);
  }
  // The results of `pieces` pieces of the node-chunk of `job` that holds item `first` arrived,
  // not its last (which returned() takes).
  void part_returned(std::uint64_t job, std::uint64_t first, std::uint32_t pieces) {
    auto node = std::find_if(in_flight_.begin(), in_flight_.end(), [&](const chunk& c) { return holds_item(c, job, first); });
    if (node == in_flight_.end() || pieces >= node->pieces_out)
      throw std::runtime_error("mpipool: protocol error: results for pieces of a node-chunk that is not in flight");
    node->pieces_out -= pieces;
  }

  // The results of the chunk of `job` that holds item `first` arrived at `now` (a stocking
  // sub-master's workers finish its chunks in any order, and the last piece of a node-chunk to
  // come back closes it); if none is in flight, its oldest, or, `exact`, a protocol error.
  finished_chunk returned(clock::time_point now, std::uint64_t job, std::uint64_t first, bool exact = false) {
    if (in_flight_.empty()) throw std::logic_error("mpipool: protocol error: results from a worker with no chunk");
    const auto is_it = [&](const chunk& c) { return holds_item(c, job, first); };
    // A sub-master's worker returns a bundle's chunks in order: the next is where the last was.
    auto match = next_ < in_flight_.size() && is_it(in_flight_[next_])
                     ? in_flight_.begin() + static_cast<std::ptrdiff_t>(next_)
                     : std::find_if(in_flight_.begin(), in_flight_.end(), is_it);
    if (match == in_flight_.end()) {
      if (exact) throw std::runtime_error("mpipool: protocol error: results for a chunk that is not in flight");
      match = in_flight_.begin();
    }
    return take(match, now);
  }

 private:
  struct chunk {
    std::uint64_t job;
    std::uint64_t first;  // its first item
    clock::time_point sent;
    std::uint64_t bytes;
    std::uint32_t items;
    std::uint32_t pieces_out;  // the caller's chunks in it whose results are still out
    std::uint64_t message;  // which message carried it, numbered from 1
  };
  static bool holds_item(const chunk& c, std::uint64_t job, std::uint64_t item) {
    return c.job == job && item - c.first < std::max<std::uint32_t>(c.items, 1);
  }
  finished_chunk take(std::deque<chunk>::iterator returning, clock::time_point now) {
    const chunk done = *returning;
    next_ = static_cast<std::size_t>(in_flight_.erase(returning) - in_flight_.begin());
    const clock::time_point began = std::max(done.sent, last_returned_);
    last_returned_ = now;
    return {done.job, std::chrono::duration<double>(now - began).count(), done.bytes, done.items, done.pieces_out};
  }

  std::deque<chunk> in_flight_;
  std::size_t next_ = 0;  // where the chunk after the last returned one is
  std::uint64_t messages_sent_ = 0;
  clock::time_point last_returned_{};
  std::uint64_t items_returned_ = 0;
};

}  // namespace mpipool::detail
