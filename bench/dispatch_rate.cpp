// How fast the master hands out work: maps of a no-op task over ints, at fixed chunk sizes, so
// that the job's time is the master's dispatch and the round trips, not the tasks. For each
// chunk size, the input grows until one map takes at least `target_s`; that map is reported.
// scripts/dispatch-rate.sh runs it at several rank counts and prints the table of medians.
//
//   mpirun -n 9 ./bench_dispatch_rate chunksizes=1,4,16,64,256,1024,4096 target_s=0.3
//
// Prints, per chunk size (see bench_common.hpp for the line format):
//   RESULT mpipool <workers> dispatch cs<c> chunks_per_s <v>
//   RESULT mpipool <workers> dispatch cs<c> items_per_s <v>
//   RESULT mpipool <workers> dispatch cs<c> master_cpu_us_per_chunk <v>   every thread of rank 0
//   RESULT mpipool <workers> dispatch cs<c> caller_cpu_us_per_chunk <v>   the thread calling map
//   RESULT mpipool <workers> dispatch cs<c> master_cpu_share <v>          rank 0's CPU-s per wall-s
// and once, before the first map, the master's resident memory (its growth with the rank count
// is what each worker costs the master, Open MPI's share included):
//   RESULT mpipool <workers> dispatch start master_rss_kib <v>
//
// The master's CPU per chunk is what carries over to a machine with a core per rank: the rate
// itself, with more ranks than cores, is bounded by the cores the workers and the master share.
// The progress thread polls while it waits, so when the master is not saturated its CPU per
// chunk includes polling and is an upper bound.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include <mpi.h>

#include <mpipool/mpipool.hpp>

#include "bench_common.hpp"

namespace {

int noop(int x) { return x; }
MPIPOOL_REGISTER(noop);

struct measurement {
  long items = 0;
  double wall_s = 0;
  double master_cpu_s = 0;  // every thread of the master's process
  double caller_cpu_s = 0;  // the thread that called map: input and results on the master
};

measurement map_noops(mpipool::pool& pool, long n, long chunksize) {
  std::vector<int> items(static_cast<std::size_t>(n));
  std::iota(items.begin(), items.end(), 0);
  const long self = static_cast<long>(getpid());
  const double cpu = bench::process_cpu_s(self), caller = bench::thread_cpu_s(), start = bench::now_s();
  const std::vector<int> out = pool.map(noop, items, chunksize);
  measurement m;
  m.wall_s = bench::now_s() - start;
  m.caller_cpu_s = bench::thread_cpu_s() - caller;
  m.master_cpu_s = bench::process_cpu_s(self) - cpu;
  m.items = n;
  if (out != items) throw std::runtime_error("wrong results at chunksize " + std::to_string(chunksize));
  return m;
}

// Resident set of this process, from /proc/self/statm (pages).
double resident_kib() {
  std::ifstream statm("/proc/self/statm");
  double size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1024;
}

int body(mpipool::pool& pool, const bench::settings& s) {
  const long workers = static_cast<long>(pool.workers());
  bench::report("mpipool", workers, "dispatch", "start", "master_rss_kib", resident_kib());
  const double target_s = s.number("target_s", 0.3);
  const long max_items = static_cast<long>(s.number("max_items", 1e7));
  for (const auto& c : s.list("chunksizes", "1,4,16,64,256,1024,4096")) {
    const long chunksize = std::stol(c);
    const long warm_items = std::min(max_items, 4 * chunksize * workers);
    map_noops(pool, warm_items, chunksize);  // warm the buffers
    double chunks_mapped = static_cast<double>((warm_items + chunksize - 1) / chunksize);
    // As bench::adaptive_rate, keeping the whole measurement of the map that was long enough.
    long n = std::max(1000L, 20 * chunksize * workers);
    measurement m;
    for (;;) {
      m = map_noops(pool, n, chunksize);
      chunks_mapped += static_cast<double>((n + chunksize - 1) / chunksize);
      if (m.wall_s >= target_s || n >= max_items) break;
      const double grow = std::min(16.0, std::max(2.0, 1.3 * target_s / std::max(m.wall_s, 1e-6)));
      n = std::min(max_items, static_cast<long>(static_cast<double>(n) * grow));
    }
    const double chunks = static_cast<double>((m.items + chunksize - 1) / chunksize);
    auto report = [&](const char* metric, double v) { bench::report("mpipool", workers, "dispatch", "cs" + c, metric, v); };
    report("chunks_per_s", chunks / m.wall_s);
    report("items_per_s", static_cast<double>(m.items) / m.wall_s);
    report("master_cpu_us_per_chunk", m.master_cpu_s / chunks * 1e6);
    report("caller_cpu_us_per_chunk", m.caller_cpu_s / chunks * 1e6);
    report("master_cpu_share", m.master_cpu_s / m.wall_s);
    report("chunks_mapped", chunks_mapped);  // by every map at this chunk size, the warm-up's too
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  int rc = 0;
  try {
    const bench::settings s(argc, argv);
    rc = mpipool::run(MPI_COMM_WORLD, [&](mpipool::pool& pool) { return body(pool, s); });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_dispatch_rate: %s\n", e.what());
    rc = 1;
  }
  MPI_Finalize();
  return rc;
}
