#pragma once
// A timeline of the run, recorded on the master's progress thread: a span per chunk on its
// worker's track, and the master's own busy and idle spans. Recording appends plain values to
// vectors; the trace is written (Chrome trace event format) and the load-balance summary
// printed when the pool stops. Off, the master holds no recorder: one branch per chunk.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mpipool/detail/protocol.hpp"

namespace mpipool::detail {

class trace_recorder {
 public:
  using clock = std::chrono::steady_clock;

  struct worker_name {
    int rank = 0;
    std::string host;
  };

  // `path`: where the trace goes; empty, only the summary is kept. `ranks`: the communicator's
  // size (a worker's rank indexes its totals).
  trace_recorder(std::string path, std::size_t ranks, clock::time_point start);

  void job_started(std::uint64_t job, std::string_view method, std::string_view task);
  // The results of a chunk of `job` came back from `rank` at `received`; `run_ns` is how long
  // the worker says it ran.
  void chunk_done(int rank, std::uint64_t job, item_range items, std::uint64_t bytes_out, std::uint64_t bytes_in,
                  std::uint64_t run_ns, clock::time_point received);
  // One turn of the master's loop ended at `now`: busy if it got something done, else idle
  // (it looked, found nothing, and waited).
  void master_turn(bool progressed, clock::time_point now);

  // Writes the trace file (if any) and prints the summary on `out`.
  void finish(const std::string& master_host, const std::vector<worker_name>& workers, clock::time_point now, std::FILE* out);

  // At most this many events of each kind are kept; the totals count every one.
  static constexpr std::size_t most_events = 2'000'000;

 private:
  struct chunk_event {
    std::uint64_t job;
    std::uint64_t first;
    std::uint64_t bytes_out;
    std::uint64_t bytes_in;
    std::int64_t end_ns;  // since start_, by the master's clock
    std::uint64_t run_ns;
    std::uint32_t items;
    int rank;
  };
  struct master_span {
    std::int64_t begin_ns;
    std::int64_t end_ns;
    bool busy;
  };
  struct job_name {
    std::string method;
    std::string task;
  };
  struct worker_totals {
    std::uint64_t busy_ns = 0;
    std::uint64_t items = 0;
    std::uint64_t chunks = 0;
  };
  struct slowest_chunk {
    std::uint64_t run_ns = 0;
    std::uint64_t job = 0;
    std::uint64_t first = 0;
    int rank = -1;
  };

  std::int64_t since_start(clock::time_point t) const;
  void write_trace(const std::string& master_host, const std::vector<worker_name>& workers, std::int64_t end_ns, std::FILE* out) const;
  void print_summary(const std::vector<worker_name>& workers, std::int64_t end_ns, std::FILE* out) const;
  std::string task_of(std::uint64_t job) const;

  std::string path_;
  clock::time_point start_;
  std::unordered_map<std::uint64_t, job_name> jobs_;
  std::vector<chunk_event> chunks_;
  std::vector<master_span> master_;
  std::vector<worker_totals> workers_;  // by rank
  slowest_chunk slowest_;
  std::int64_t master_busy_ns_ = 0;
  std::int64_t last_turn_end_ns_ = 0;
  bool dropped_events_ = false;
};

}  // namespace mpipool::detail
