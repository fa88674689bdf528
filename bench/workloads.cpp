// mpipool on the side-by-side workloads W1-W4 and W6, and an idle pool (scripts/bench.sh runs
// it; bench/RESULTS.md defines the workloads). Rank 0 is the master, every other rank a worker.
//
//   mpirun -n 3 ./bench_workloads workloads=W1,W2,W3,W4,journal,W6,idle target_s=0.3 ...
//
// Prints RESULT lines (see bench_common.hpp). With isolated=1 the pool runs its tasks in helper
// processes (pool_options::isolated) and every variant is named "<variant>-isolated".
#include <sys/types.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include <mpi.h>

#include <mpipool/mpipool.hpp>

#include "bench_common.hpp"

namespace {

const std::string system_name = "mpipool";

long square(long x) { return x * x; }
MPIPOOL_REGISTER(square);
int spin_task(double seconds) { return bench::spin(seconds); }
MPIPOOL_REGISTER(spin_task);
int nap_task(double seconds) { return bench::nap(seconds); }
MPIPOOL_REGISTER(nap_task);

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("wrong results in ") + what);
}

// One map of x*x over 0..n-1; `chunksize` 0 means the default.
double map_squares(mpipool::pool& pool, long n, long chunksize) {
  std::vector<long> items(static_cast<std::size_t>(n));
  std::iota(items.begin(), items.end(), 0L);
  const double start = bench::now_s();
  const std::vector<long> out = chunksize > 0 ? pool.map(square, items, chunksize) : pool.map(square, items);
  const double seconds = bench::now_s() - start;
  check(out.size() == items.size() && out.back() == (n - 1) * (n - 1), "W1");
  return seconds;
}

// One map of x*x over 0..n-1 with default chunking, journaled in `file`.
double journaled_squares(mpipool::pool& pool, long n, const std::filesystem::path& file) {
  std::vector<long> items(static_cast<std::size_t>(n));
  std::iota(items.begin(), items.end(), 0L);
  const double start = bench::now_s();
  const std::vector<long> out = pool.map(square, items, std::nullopt, mpipool::journal{file, "W1"});
  const double seconds = bench::now_s() - start;
  check(out.size() == items.size() && out.back() == (n - 1) * (n - 1), "journaled W1");
  return seconds;
}

// W3: a serial run of `durations` on this thread, then the same tasks through map, in the same
// process so that drift cancels. Returns {serial seconds, parallel seconds}.
std::pair<double, double> paired(mpipool::pool& pool, const std::vector<double>& durations, long chunksize) {
  double start = bench::now_s();
  int done = 0;
  for (double d : durations) done += bench::spin(d);
  const double serial = bench::now_s() - start;
  start = bench::now_s();
  const std::vector<int> out =
      chunksize > 0 ? pool.map(spin_task, durations, chunksize) : pool.map(spin_task, durations);
  const double parallel = bench::now_s() - start;
  check(done == static_cast<int>(durations.size()) &&
            std::accumulate(out.begin(), out.end(), 0) == static_cast<int>(durations.size()),
        "W3");
  return {serial, parallel};
}

int body(mpipool::pool& pool, const bench::settings& s, const std::vector<long>& pids) {
  const auto workloads = s.list("workloads", "W1,W2,W3,W4,journal,W6,idle");
  const long workers = static_cast<long>(pool.workers());
  const double target_s = s.number("target_s", 0.3);
  const long max_items = static_cast<long>(s.number("max_items", 4e6));
  const std::string mode = s.number("isolated", 0) != 0 ? "-isolated" : "";
  auto report = [&](const std::string& w, const std::string& variant, const std::string& metric, double v) {
    bench::report(system_name, workers, w, variant + mode, metric, v);
  };

  if (s.has(workloads, "W1")) {
    for (const auto& c : s.list("chunksizes", "1,10,100,1000,10000")) {
      const long chunksize = std::stol(c);
      const double rate = bench::adaptive_rate(chunksize, workers, target_s, max_items,
                                               [&](long n) { return map_squares(pool, n, chunksize); });
      report("W1", "cs" + c, "items_per_s", rate);
    }
    const long n = static_cast<long>(s.number("default_items", 1e6));
    if (n > 0) {
      map_squares(pool, n / 10, 0);  // warm the buffers, as the adaptive runs above did
      report("W1", "default", "items_per_s", static_cast<double>(n) / map_squares(pool, n, 0));
    }
  }
  if (s.has(workloads, "W2")) {
    for (long i = 0; i < 50; ++i) check(pool.apply(square, i) == i * i, "W2");
    long calls = 0;
    const double start = bench::now_s();
    double elapsed = 0;
    do {
      for (int k = 0; k < 50; ++k, ++calls) check(pool.apply(square, calls) == calls * calls, "W2");
      elapsed = bench::now_s() - start;
    } while (elapsed < target_s);
    report("W2", "apply", "us_per_call", elapsed / static_cast<double>(calls) * 1e6);
  }
  if (s.has(workloads, "W3")) {
    const std::vector<double> tasks(static_cast<std::size_t>(s.number("w3_tasks", 200)), 0.010);
    const auto [serial, parallel] = paired(pool, tasks, 0);
    report("W3", "default", "efficiency", serial / (static_cast<double>(workers) * parallel));
  }
  if (s.has(workloads, "W4")) {
    const auto durations =
        bench::w4_durations(s.text("w4_file", "bench/w4_durations.json"), static_cast<long>(s.number("w4_stride", 1)));
    // One serial run, then default chunking and chunksize 1, each against it.
    double start = bench::now_s();
    for (double d : durations) bench::spin(d);
    const double ideal = (bench::now_s() - start) / static_cast<double>(workers);
    for (const auto& c : s.list("w4_chunksizes", "0,1")) {  // 0: the default
      const long chunksize = std::stol(c);
      start = bench::now_s();
      const std::vector<int> out =
          chunksize > 0 ? pool.map(spin_task, durations, chunksize) : pool.map(spin_task, durations);
      const double makespan = bench::now_s() - start;
      check(std::accumulate(out.begin(), out.end(), 0) == static_cast<int>(durations.size()), "W4");
      report("W4", chunksize > 0 ? "cs1" : "default", "makespan_over_ideal", makespan / ideal);
    }
  }
  if (s.has(workloads, "journal")) {
    // The journal's cost: W1 (default chunking) and W4 without and with one, side by side; and
    // a rerun of W1 that finds every result in the journal.
    const std::filesystem::path file =
        std::filesystem::temp_directory_path() / ("mpipool-bench-journal-" + std::to_string(::getpid()));
    const long n = static_cast<long>(s.number("default_items", 1e6));
    if (n > 0) {
      map_squares(pool, n / 10, 0);  // warm the buffers
      report("J1", "plain", "items_per_s", static_cast<double>(n) / map_squares(pool, n, 0));
      std::filesystem::remove(file);
      report("J1", "journal", "items_per_s", static_cast<double>(n) / journaled_squares(pool, n, file));
      report("J1", "resumed", "items_per_s", static_cast<double>(n) / journaled_squares(pool, n, file));
      std::filesystem::remove(file);
    }
    const auto durations =
        bench::w4_durations(s.text("w4_file", "bench/w4_durations.json"), static_cast<long>(s.number("w4_stride", 1)));
    double start = bench::now_s();
    for (double d : durations) bench::spin(d);
    const double ideal = (bench::now_s() - start) / static_cast<double>(workers);
    for (const bool journaled : {false, true}) {
      start = bench::now_s();
      const std::vector<int> out = journaled ? pool.map(spin_task, durations, std::nullopt, mpipool::journal{file, "W4"})
                                             : pool.map(spin_task, durations);
      const double makespan = bench::now_s() - start;
      check(std::accumulate(out.begin(), out.end(), 0) == static_cast<int>(durations.size()), "journaled W4");
      report("J4", journaled ? "journal" : "plain", "makespan_over_ideal", makespan / ideal);
    }
    std::filesystem::remove(file);
  }
  if (s.has(workloads, "W6")) {
    const std::vector<double> naps(20, s.number("w6_sleep_s", 0.2));
    const double cpu = bench::processes_cpu_s(pids), master = bench::process_cpu_s(pids.front()),
                 start = bench::now_s();
    const std::vector<int> out = pool.map(nap_task, naps, 1);
    const double wall = bench::now_s() - start;
    check(std::accumulate(out.begin(), out.end(), 0) == 20, "W6");
    report("W6", "sleep", "cpu_s_per_s", (bench::processes_cpu_s(pids) - cpu) / wall);
    report("W6", "sleep", "master_cpu_s_per_s", (bench::process_cpu_s(pids.front()) - master) / wall);
  }
  if (s.has(workloads, "idle")) {
    const double cpu = bench::processes_cpu_s(pids), master = bench::process_cpu_s(pids.front()),
                 start = bench::now_s();
    bench::nap(s.number("idle_s", 3));
    const double wall = bench::now_s() - start;
    report("idle", "pool", "cpu_s_per_s", (bench::processes_cpu_s(pids) - cpu) / wall);
    report("idle", "pool", "master_cpu_s_per_s", (bench::process_cpu_s(pids.front()) - master) / wall);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const std::vector<long> pids = bench::gather_job_pids(MPI_COMM_WORLD);

  int rc = 0;
  try {
    const bench::settings s(argc, argv);
    const mpipool::pool_options options{.isolated = s.number("isolated", 0) != 0};
    rc = mpipool::run(MPI_COMM_WORLD, [&](mpipool::pool& pool) { return body(pool, s, pids); }, options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_workloads: %s\n", e.what());
    rc = 1;
  }
  MPI_Finalize();
  return rc;
}
