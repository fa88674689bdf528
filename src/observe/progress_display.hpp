#pragma once
// How far each running call has come, on stderr: on a terminal a bar per call, redrawn in
// place a few times a second; elsewhere (a batch job's output file) a plain line per call every
// interval. It runs on the master's progress thread, between two turns of its loop, and reads
// the jobs' own counts, and the items workers finished in chunks whose results are still out:
// no thread of its own, no lock, no MPI. The progress thread's wait ends
// after event_wait::safety_timeout at the latest, which bounds how late a redraw comes.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "mpipool/detail/job.hpp"

namespace mpipool::detail {

class progress_display {
 public:
  using clock = std::chrono::steady_clock;

  // `interval`: how often a plain line is written; zero writes one at every change.
  progress_display(std::FILE* out, bool terminal, clock::duration interval);
  // As the environment and the options ask, or none: MPIPOOL_PROGRESS (1, or "bar" or "lines"
  // to choose the display whatever stderr is), MPIPOOL_PROGRESS_INTERVAL (seconds).
  static std::unique_ptr<progress_display> from_settings(bool asked);

  void job_started(std::uint64_t id, const job& work, clock::time_point now);
  // The job finished: its last line says so. A job that fails or is dropped is forgotten at the
  // next show().
  void job_finished(std::uint64_t id, const job& work, clock::time_point now);
  // Items finished in chunks still out, by job id.
  using items_by_job = std::unordered_map<std::uint64_t, std::uint64_t>;
  // Draws what is due. `items_in_flight` is asked only when a line is due.
  void show(const std::unordered_map<std::uint64_t, std::unique_ptr<job>>& jobs, clock::time_point now,
            const std::function<items_by_job()>& items_in_flight);
  // The pool stopped: leaves the cursor below the bars.
  void finish();

  // How often a terminal is redrawn.
  static constexpr std::chrono::milliseconds redraw_every{200};

 private:
  static constexpr std::uint64_t unshown = ~std::uint64_t{0};
  struct shown_job {
    clock::time_point began;
    std::uint64_t last_done = unshown;  // as last shown
  };
  std::string line(const job& work, const job::progress_report& done, const shown_job& shown, clock::time_point now,
                   bool finished) const;
  void erase_bars();

  std::FILE* out_;
  bool terminal_;
  clock::duration interval_;
  clock::time_point last_shown_{};
  std::map<std::uint64_t, shown_job> shown_;  // by id: in the order the calls came
  int bars_drawn_ = 0;
};

}  // namespace mpipool::detail
