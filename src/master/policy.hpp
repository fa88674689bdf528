#pragma once
// Which job gives the next chunk, which worker gets it, and how many chunks a worker may have
// in flight. Pure bookkeeping of ids, counts and timings: no MPI, tested without it. How big a
// chunk is stays with the job's chunk_plan (scheduler.hpp).

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

#include "mpipool/detail/protocol.hpp"

namespace mpipool::detail {

// What a job can do when asked for a chunk.
enum class job_readiness {
  exhausted,  // never again: it leaves the queue
  waiting,    // not now (a stream whose window is full)
  ready,
};

class dispatch_policy {
 public:
  // The most chunks a worker may have in flight: 1 means no prefetch.
  static constexpr std::size_t prefetch_depth = 2;
  // A second chunk is committed to a worker only while chunks are this short...
  static constexpr double prefetch_below_seconds = 1e-3;
  // ...or this short where the master's node has more ranks than cores (core_sharing.hpp):
  // there every round trip waits for a descheduled thread to get a core back, often a
  // scheduler slice, so a worker with nothing queued idles far longer than on a core of its
  // own. Measured, W4 (Pareto tasks of 2 ms on average) at chunksize 1 with 3 ranks on 2
  // cores: makespan / ideal x1.19 without prefetch, x1.08-1.09 with it (1e-2 and 1e-1 alike).
  static constexpr double prefetch_below_seconds_on_shared_cores = 1e-2;
  // ...and the job has at least this many chunks left per worker.
  static constexpr std::size_t prefetch_chunks_per_worker = 2;
  // Where cores are shared a worker also holds more chunks: the master's thread, woken by a
  // worker's results, gets a core only when the scheduler preempts a busy worker for it, often
  // a millisecond later, and a worker with one chunk queued had run dry by then on 70% of its
  // chunks. Measured, W4 at chunksize 1 with 3 ranks on 2 cores: x1.09 with 2 in flight,
  // x1.02 with 4.
  static constexpr std::size_t prefetch_depth_on_shared_cores = 4;
  // Bundles. Chunks whose tasks run this short on the worker (its own clock: the work alone,
  // whatever the round trips cost) go up to chunks_per_bundle to a message, and a worker may
  // hold two bundles: a message costs the master about a microsecond and the worker a wake-up,
  // far more than such a chunk's work, while what a worker holds ahead stays under a
  // millisecond of work, so the balance between workers is unchanged. Measured, map(x*x) at
  // chunksize 1 (bench/workloads.cpp W1): see docs/scaling.md.
  static constexpr std::size_t chunks_per_bundle = 16;
  static constexpr double bundle_below_seconds = 20e-6;
  // Open MPI sends shared-memory messages up to 4 KiB at once, and a larger one only after a
  // handshake with the receiver, which on shared cores waits for it to get a core. A bundle
  // stays under this many bytes where that still carries half a bundle's chunks; else it takes
  // a whole bundle, whose one handshake its 16 chunks share. Measured at 17 ranks on 2 cores,
  // chunks of 64 ints: 2.1x the chunks/s of bundles of 16 (5 KiB); chunks of 1024 ints one to a
  // message instead of 16: a third to two thirds of the rate (docs/scaling.md, "Bundles").
  static constexpr std::size_t bundle_bytes_most = eager_message_bytes;
  // A stocking sub-master (set_weight) holds this many times what its workers may queue: as
  // much again as its workers hold, in its own stock, so that a worker that finishes finds its
  // next chunks there while the master refills the stock. Once prefetching, it is refilled a
  // half of its workers' worth at a time (refill_at), in one message: the master's messages
  // then go per group rather than per worker.
  static constexpr std::size_t sub_master_stock = 2;

  // `ranks`: the size of the communicator; `max_in_flight`: 1 or prefetch_depth; `workers`:
  // how many of the ranks take chunks (0: all but rank 0).
  dispatch_policy(std::size_t ranks, std::size_t max_in_flight, std::size_t workers = 0);

  // Parallel tasks: a job whose chunks run on a group of several workers at once. Among ready
  // jobs the widest that can start goes first (ties: the oldest): wide groups are the hardest
  // to place, and narrow ones fill the workers they leave. A wide job that cannot start yet
  // lets narrower ones use the idle workers (backfill) until it has been passed over this many
  // times per worker; then the idle workers are kept for it, so that it cannot starve.
  static constexpr std::size_t passes_per_worker_before_reservation = 4;

  // Jobs, in submission order. `width`: how many workers each of its chunks runs on at once
  // (a parallel task's group); 1 for ordinary tasks.
  void add_job(std::uint64_t id, bool takes_turns, std::size_t width = 1);
  void remove_job(std::uint64_t id);
  void clear_jobs();
  // The job that gives the next chunk, asking `readiness(id)`; exhausted jobs leave the queue on
  // the way. With ordinary jobs only: the oldest ready one. Nothing when none can start now, or
  // when a wide job that waited too long holds the idle workers.
  template <class Readiness>
  std::optional<std::uint64_t> next_job(Readiness&& readiness) {
    blocked_.clear();
    std::optional<std::uint64_t> best;
    std::size_t best_width = 0;
    for (auto it = queue_.begin(); it != queue_.end();) {
      switch (readiness(*it)) {
        case job_readiness::exhausted: it = queue_.erase(it); break;
        case job_readiness::waiting: ++it; break;
        case job_readiness::ready: {
          const job_entry& entry = jobs_.at(*it);
          if (entry.width <= 1 || idle_.size() >= entry.width) {
            if (entry.width > best_width) {
              best = *it;
              best_width = entry.width;
            }
            if (wide_jobs_ == 0) return best;  // ordinary jobs only: first come, first served
          } else {
            if (fifo_grouping_ || entry.passed_over >= reservation_after_passes()) return std::nullopt;
            blocked_.push_back(*it);
          }
          ++it;
          break;
        }
      }
    }
    return best;
  }
  // Plain FIFO grouping (for comparison): a wide job that cannot start holds back every later one.
  void set_fifo_grouping(bool fifo) { fifo_grouping_ = fifo; }
  std::size_t width(std::uint64_t id) const;
  // The idle workers for the next chunk of a job of width > 1: from one node where enough are
  // idle (the one with the fewest idle that still fits), else from the nodes with the most idle
  // first; in rank order, so that the same workers make the same group again. Call only when
  // next_job returned the job.
  std::vector<int> group_for(std::uint64_t id) const;
  // After its members were sent a group's chunk: none of them takes a prefetched chunk behind
  // it, and they come back as one. A member whose part is done waits, not idle, until every
  // member is done: freed one by one, each would be taken at once by a narrow task, and the
  // workers that a wide group leaves would never be idle together again for the next wide one.
  // (A group's members usually end together anyway, in the task's last collective.)
  void group_chunk_sent(const std::vector<int>& members);
  // Which node each worker runs on (any number that is equal for ranks of one node).
  void set_node(int rank, std::size_t node);
  // The job gave a chunk. Streams then take turns with later jobs, so that one with a fast
  // reader cannot starve them; other jobs are served first come, first served, as in Python.
  void chunk_taken(std::uint64_t id);
  std::size_t queued_jobs() const { return queue_.size(); }

  // Workers.
  // `rank` passes chunks on to `weight` workers (a stocking sub-master, wire/topology.hpp): it
  // counts as idle while it has fewer chunks than that, and may hold `weight` times a worker's
  // chunks in flight. Set before any chunk goes.
  void set_weight(int rank, std::size_t weight);
  // A chunk of job `id` went to `rank` (no id: the set-up chunk), or `chunks` of them in one
  // node-chunk, and came back (a sub-master's: nothing else sends several at once).
  void chunk_sent(int rank, std::optional<std::uint64_t> id = std::nullopt, std::size_t chunks = 1);
  void chunk_returned(int rank, std::size_t chunks = 1);
  std::size_t in_flight(int rank) const { return in_flight_.at(static_cast<std::size_t>(rank)); }
  std::size_t total_in_flight() const { return total_in_flight_; }
  // Whether any worker could take a chunk of some job: an idle one, or one with room to
  // prefetch.
  bool any_worker_free() const { return !idle_.empty() || !prefetchable_.empty(); }
  // The worker for the next chunk of job `id`, which has at least `chunks_left` chunks left
  // (counted up to chunks_worth_knowing()): the most recently idle worker, which is the likeliest
  // to be still polling rather than asleep; else, when prefetch pays, a busy worker that has
  // just started its chunk. Nothing when no worker should take it now.
  std::optional<int> worker_for(std::uint64_t id, std::size_t chunks_left);
  // How many chunks of job `id` the next message to `rank` may carry: 1, or a bundle's worth
  // where bundles pay (see chunks_per_bundle); to a rank of weight w, as many as fill its free
  // workers, or its stock when it prefetches, or w bundles.
  std::size_t chunks_per_message(std::uint64_t id, int rank) const;
  // How many chunks of job `id` a stocking sub-master sends one of its workers in one message:
  // a worker's bundle where bundles pay, else 1.
  std::size_t chunks_per_worker_message(std::uint64_t id) const { return bundles_pay(id) ? bundle_size(id) : 1; }
  // A dispatch round is over: busy workers are no longer known to have just started their
  // chunk. A worker that has been on one chunk for a while may be on a long task (or one that
  // waits for something); a chunk committed behind it could wait just as long while other
  // workers run dry. So only a worker that started its chunk this round (it was sent it from
  // idle, or its results just came back with another chunk queued) gets a second one.
  void end_round() { prefetchable_.clear(); }
  std::size_t chunks_worth_knowing() const { return prefetch_chunks_per_worker * workers_ + 1; }

  // Timings: how long a chunk of job `id` kept its worker busy, as the master saw it (round
  // trips included) and as the worker ran it (the tasks alone).
  void record_chunk_time(std::uint64_t id, double seconds);
  std::optional<double> typical_chunk_seconds(std::uint64_t id) const;
  void record_run_time(std::uint64_t id, double seconds);
  // The bytes of a chunk of job `id` (the latest built), which bound how many go in a bundle.
  void record_chunk_bytes(std::uint64_t id, std::size_t bytes);
  // Whether chunks of job `id` go in bundles: they are known to run under bundle_below_seconds.
  bool bundles_pay(std::uint64_t id) const;

  // Whether to commit one more chunk of a job to a worker that is still busy. The next chunk
  // waiting in the worker's queue saves it a round trip (tens of microseconds) per chunk, which
  // pays only while chunks are about that short; and a committed chunk can no longer go to
  // whichever worker frees first, which on heavy-tailed tasks near the end of a job costs more
  // than it saves. So: only once chunks of this job are known to be short (under a
  // millisecond: the tail then grows by a millisecond at most), and only while it has a couple
  // of chunks left for every worker.
  static bool prefetch_pays(std::size_t chunks_left, std::size_t workers, std::optional<double> typical_seconds,
                            double below_seconds = prefetch_below_seconds);
  // The ranks of the master's node share its cores: prefetch longer chunks, and more of them.
  void set_cores_shared(bool shared);

 private:
  double prefetch_below_ = prefetch_below_seconds;
  struct job_entry {
    bool takes_turns = false;
    std::optional<double> typical_seconds;  // moving average of its chunks' times
    std::optional<double> typical_run_seconds;  // likewise, by the workers' clocks
    std::size_t chunk_bytes = 0;                 // the latest chunk's, 0: none built yet
    std::size_t width = 1;
    std::size_t passed_over = 0;  // narrower chunks that started while it could not
  };
  static void remove_rank(std::deque<int>& list, int rank);
  std::size_t reservation_after_passes() const { return passes_per_worker_before_reservation * workers_; }

  std::deque<std::uint64_t> queue_;  // jobs that may still give chunks, oldest first
  std::unordered_map<std::uint64_t, job_entry> jobs_;
  const bool prefetches_;         // max_in_flight > 1
  std::size_t max_in_flight_;     // without bundles
  std::size_t most_in_flight_;    // with them: two bundles
  std::size_t workers_;
  std::vector<std::size_t> in_flight_;  // by rank
  std::vector<std::size_t> weight_;     // by rank: see set_weight
  std::size_t weight_of(int rank) const { return weight_[static_cast<std::size_t>(rank)]; }
  // The most chunks of job `id` that `rank` may hold: a worker's limit, or a sub-master's;
  // `bundles`: whether the job's chunks go in bundles.
  std::size_t limit_for(std::uint64_t id, int rank) const { return limit_for(bundles_pay(id), rank); }
  std::size_t limit_for(bool bundles, int rank) const;
  // The room a busy `rank` must have for a message of prefetched chunks of job `id`.
  std::size_t refill_at(std::uint64_t id, int rank) const;
  // The chunks of job `id` in one worker's bundle: as many as stay under bundle_bytes_most.
  std::size_t bundle_size(std::uint64_t id) const;
  std::size_t total_in_flight_ = 0;
  std::deque<int> idle_;          // nothing in flight; the most recently idle at the back
  std::deque<int> prefetchable_;  // busy with room for more, started this round; the latest at the back
  std::vector<std::size_t> node_;  // by rank
  std::size_t wide_jobs_ = 0;           // queued jobs of width > 1
  std::vector<std::uint64_t> blocked_;  // wide jobs that the last next_job passed over
  // Groups still running: the members of each, and how many have not come back yet.
  struct running_group {
    std::vector<int> members;
    std::size_t outstanding = 0;
  };
  std::unordered_map<std::uint64_t, running_group> running_groups_;
  std::unordered_map<int, std::uint64_t> group_of_;  // member rank -> its running group
  std::uint64_t next_group_ = 0;
  bool fifo_grouping_ = false;
};

}  // namespace mpipool::detail
