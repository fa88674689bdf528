// A long journaled map that a time limit may stop and a rerun resumes: the program a batch job
// that requeues itself runs.
//
//   journal_job <items> <task cost in µs> <journal file> [--stop-after K] [--stop-at-item K]
//               [--expect-restored-at-least M] [--chunksize C] [--sleep]
//
// Each item spins (with --sleep: sleeps) for the task cost and gives a checksum of its index. At the end it prints
//   journal: N items, M from the journal, K computed
// and exits 0 when the results are exactly those an uninterrupted run gives (1 otherwise).
// SIGTERM or SIGINT stops it with 128 + the signal, the results so far in the journal.
// --stop-after K reads the results through imap and raises SIGTERM itself once it has read K
// of them, as Slurm's time limit would (the same call name and task: the rerun resumes it).
// --stop-at-item K: the map (default chunking unless --chunksize) is stopped by a SIGTERM that
// the task sends the master as it starts item K: in the middle of a chunk, when K is below the
// first chunks' size. The chunks in flight are cut short, and what they ran must be journaled.
// (The master's process id reaches the tasks through a file beside the journal, not through the
// task's parameters, which the journal binds the call to.)
// --expect-restored-at-least M fails the run when fewer than M results came from the journal.
// --chunksize C: the map's chunk size (default: the pool's). Small chunks lose little work when
// a stop ends the chunks in flight.
// Every process that ran tasks says how many as it ends (`journal_job: T tasks run here`), so
// that the work of a chain of runs can be added up from their output.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ranges>
#include <string>
#include <thread>
#include <vector>

#include <mpipool/mpipool.hpp>

namespace {

// Tasks this process ran, for the line at its end.
std::atomic<std::uint64_t> tasks_run{0};

// What item `x` gives: cheap to check, different for every item.
std::uint64_t expected_value(std::uint64_t x) { return (x * 2654435761u) % 1000003u; }

// What --stop-at-item wrote beside the journal: the master's process id and the item, read
// once per process.
struct stop_request {
  long pid = 0;
  std::uint64_t item = 0;
};
const std::optional<stop_request>& stop_request_in(const std::string& file) {
  static const std::optional<stop_request> request = [&]() -> std::optional<stop_request> {
    std::ifstream in(file);
    stop_request r;
    if (in >> r.pid >> r.item) return r;
    return std::nullopt;
  }();
  return request;
}

struct costly_item {
  std::int64_t cost_us = 0;
  bool sleeps = false;  // a task that waits (for I/O, say) rather than computes
  std::string stop_file;  // where --stop-at-item leaves its request
  std::uint64_t operator()(std::uint64_t x) const {
    tasks_run.fetch_add(1, std::memory_order_relaxed);
    if (const auto& stop = stop_request_in(stop_file); stop && stop->item == x)
      ::kill(static_cast<pid_t>(stop->pid), SIGTERM);
    if (sleeps) {
      std::this_thread::sleep_for(std::chrono::microseconds(cost_us));
      return expected_value(x);
    }
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(cost_us);
    while (std::chrono::steady_clock::now() < until) {
    }
    return expected_value(x);
  }
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & cost_us & sleeps & stop_file;
  }
};

int usage() {
  std::fputs("usage: journal_job <items> <task cost in us> <journal file> [--stop-after K] [--stop-at-item K] "
             "[--expect-restored-at-least M] [--chunksize C] [--sleep]\n",
             stderr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Each line reaches the job's output as it is printed. A batch job's warning signal may come
  // just after the map has finished, once the pool's own handlers are gone: its default action
  // then ends the process, and a buffered "journal: ... computed" would be lost with it.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc < 4) return usage();
  const std::uint64_t items = std::strtoull(argv[1], nullptr, 10);
  const std::string file = argv[3];
  costly_item task{std::strtoll(argv[2], nullptr, 10), false, file + ".stop"};
  std::optional<std::uint64_t> stop_after;
  std::optional<std::uint64_t> stop_at_item;
  std::uint64_t expect_restored = 0;
  std::optional<std::int64_t> chunksize;
  for (int i = 4; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (std::strcmp(argv[i], "--sleep") == 0) task.sleeps = true;
    else if (has_value && std::strcmp(argv[i], "--stop-after") == 0) stop_after = std::strtoull(argv[++i], nullptr, 10);
    else if (has_value && std::strcmp(argv[i], "--stop-at-item") == 0) stop_at_item = std::strtoull(argv[++i], nullptr, 10);
    else if (has_value && std::strcmp(argv[i], "--expect-restored-at-least") == 0) expect_restored = std::strtoull(argv[++i], nullptr, 10);
    else if (has_value && std::strcmp(argv[i], "--chunksize") == 0) chunksize = std::strtoll(argv[++i], nullptr, 10);
    else return usage();
  }

  const int status = mpipool::run(argc, argv, [&](mpipool::pool& pool) {
    // Only the master writes it, before any task can read it; a rerun without the option
    // removes it.
    if (stop_at_item) std::ofstream(task.stop_file) << ::getpid() << ' ' << *stop_at_item << '\n';
    else std::filesystem::remove(task.stop_file);
    const auto input = std::views::iota(std::uint64_t{0}, items);
    mpipool::journal journal{file, "values"};
    std::vector<std::uint64_t> values;
    try {
      if (stop_after) {
        for (std::uint64_t v : pool.imap(task, input, 10, journal)) {
          values.push_back(v);
          if (values.size() == *stop_after) raise(SIGTERM);
        }
      } else {
        values = pool.map(task, input, chunksize, journal);
      }
    } catch (const mpipool::pool_interrupted& e) {
      std::printf("journal: stopped by signal %d; %llu results were in the journal at the start\n", e.signal(),
                  static_cast<unsigned long long>(journal.restored()));
      return 1;  // run returns 128 + the signal
    }
    const std::uint64_t restored = journal.restored();
    std::printf("journal: %llu items, %llu from the journal, %llu computed\n", static_cast<unsigned long long>(items),
                static_cast<unsigned long long>(restored), static_cast<unsigned long long>(items - restored));
    bool exact = values.size() == items;
    for (std::uint64_t i = 0; exact && i < items; ++i) exact = values[i] == expected_value(i);
    if (!exact) std::puts("journal_job: the results differ from an uninterrupted run's");
    if (restored < expect_restored)
      std::printf("journal_job: expected at least %llu results from the journal\n",
                  static_cast<unsigned long long>(expect_restored));
    return exact && restored >= expect_restored ? 0 : 1;
  });
  if (const auto ran = tasks_run.load(); ran > 0)
    std::printf("journal_job: %llu tasks run here\n", static_cast<unsigned long long>(ran));
  return status;
}
