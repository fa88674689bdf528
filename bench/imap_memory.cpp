// The master's peak RSS while imap streams millions of 1 KiB items, as growth over the peak RSS
// of an MPI rank that does nothing in the same job.
//
//   mpirun -n 4 ./bench_imap_memory ITEMS fast|slow
//
// The last rank of MPI_COMM_WORLD is the idle rank; the others form the pool (rank 0 the master,
// the rest workers). The consumer reads every result in input order; "slow" sleeps 10 ms after
// every 1000 results, so that the workers could run far ahead of it if nothing held them back.
// Peak RSS is per process and never goes down, so each configuration needs its own mpirun
// (bench/imap_memory.sh runs them all). Prints one line:
//
//   items=1000000 consumer=fast master_peak_mib=... idle_peak_mib=... growth_mib=... ...
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <ranges>
#include <string>
#include <thread>
#include <vector>

#include <mpi.h>

#include <mpipool/mpipool.hpp>

namespace {

constexpr std::size_t item_bytes = 1024;
constexpr std::int64_t chunksize = 1000;
constexpr long slow_every = 1000;  // the slow consumer sleeps after this many results
constexpr auto slow_pause = std::chrono::milliseconds(10);

// Peak resident set size of this process so far, in KiB (Linux reports ru_maxrss in KiB).
long peak_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

double mib(long kib) { return static_cast<double>(kib) / 1024.0; }

// A barrier on MPI_COMM_WORLD that waits without spinning a core: Open MPI's blocking calls
// busy-poll, and on an oversubscribed machine (4 ranks on 2 cores) a spinning idle rank would
// slow the pool down. Every rank calls this once, at the end.
void sleepy_barrier() {
  MPI_Request request;
  MPI_Ibarrier(MPI_COMM_WORLD, &request);
  int done = 0;
  for (;;) {
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (done) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

struct measurement {
  long count = 0;
  long wrong = 0;  // results other than item_bytes
  double seconds = 0;
  long master_peak_kib = 0;
};

// The master's part: stream `items` strings of 1 KiB through imap and read every result.
measurement stream(mpipool::pool& pool, long items, bool slow) {
  // Lazy input: each string is made only when the master reads it to fill a chunk.
  auto input = std::views::iota(0L, items) |
               std::views::transform([](long i) { return std::string(item_bytes, static_cast<char>('a' + i % 26)); });
  measurement m;
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t length : pool.imap([](const std::string& s) { return s.size(); }, input, chunksize)) {
    if (length != item_bytes) ++m.wrong;
    ++m.count;
    if (slow && m.count % slow_every == 0) std::this_thread::sleep_for(slow_pause);
  }
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.master_peak_kib = peak_rss_kib();
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  const bool usage_ok = argc == 3 && std::atol(argv[1]) > 0 &&
                        (std::strcmp(argv[2], "fast") == 0 || std::strcmp(argv[2], "slow") == 0);
  if (!usage_ok || size < 2 || provided < MPI_THREAD_SERIALIZED) {
    if (rank == 0) {
      if (!usage_ok) std::fprintf(stderr, "usage: mpirun -n 4 bench_imap_memory ITEMS fast|slow\n");
      else if (size < 2) std::fprintf(stderr, "bench_imap_memory: needs at least 2 ranks (pool + idle rank)\n");
      else std::fprintf(stderr, "bench_imap_memory: MPI_THREAD_SERIALIZED not available\n");
    }
    MPI_Finalize();
    return 2;
  }
  const long items = std::atol(argv[1]);
  const bool slow = std::strcmp(argv[2], "slow") == 0;

  // The last rank stays out of the pool: its peak RSS is the baseline of an MPI rank that does
  // nothing, with the same MPI library and the same number of peers.
  const int idle_rank = size - 1;
  const bool idle = rank == idle_rank;
  MPI_Comm pool_comm = MPI_COMM_NULL;
  MPI_Comm_split(MPI_COMM_WORLD, idle ? MPI_UNDEFINED : 0, rank, &pool_comm);

  int rc = 0;
  measurement m;
  if (!idle) {
    try {
      rc = mpipool::run(pool_comm, [&](mpipool::pool& pool) {
        m = stream(pool, items, slow);
        return 0;
      });
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_imap_memory: %s\n", e.what());
      rc = 1;
    }
    MPI_Comm_free(&pool_comm);
  }
  sleepy_barrier();

  // Rank 0 reports the master's peak taken right after the stream; every other rank its own
  // peak now, at the end of its work (the idle rank's is the baseline).
  const long mine = rank == 0 ? m.master_peak_kib : peak_rss_kib();
  std::vector<long> peaks(rank == 0 ? static_cast<std::size_t>(size) : 0);
  MPI_Gather(&mine, 1, MPI_LONG, peaks.data(), 1, MPI_LONG, 0, MPI_COMM_WORLD);

  if (rank == 0) {
    long worker_peak = 0;
    for (int r = 1; r < idle_rank; ++r) worker_peak = std::max(worker_peak, peaks[static_cast<std::size_t>(r)]);
    const long idle_peak = peaks[static_cast<std::size_t>(idle_rank)];
    std::printf(
        "items=%ld consumer=%s master_peak_mib=%.2f idle_peak_mib=%.2f growth_mib=%.2f seconds=%.2f "
        "results=%ld worker_peak_mib=%.2f\n",
        items, slow ? "slow" : "fast", mib(m.master_peak_kib), mib(idle_peak), mib(m.master_peak_kib - idle_peak),
        m.seconds, m.count, mib(worker_peak));
    if (rc == 0 && (m.count != items || m.wrong != 0)) {
      std::fprintf(stderr, "bench_imap_memory: expected %ld results of %zu, got %ld (%ld wrong)\n", items,
                   item_bytes, m.count, m.wrong);
      rc = 1;
    }
  }
  MPI_Finalize();
  return rc;
}
