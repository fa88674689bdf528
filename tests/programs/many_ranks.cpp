// A pool of many ranks (ctest runs it at 64, oversubscribed on a small machine): a map, an
// ordered and an unordered stream, apply_async calls and a map_async in flight together, every
// result checked, and every worker rank shown to have run work. Each result carries the pid of
// the process that computed it; the ranks' pids are gathered before the pool starts. Exits 0
// only if everything checked out; otherwise prints what did not.
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <ranges>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <mpi.h>
#include <mpipool/mpipool.hpp>

#include "support.hpp"

namespace {

using result = std::pair<long, long>;  // {x * x, pid of the process that computed it}

result square_with_pid(long x) { return {x * x, static_cast<long>(::getpid())}; }
MPIPOOL_REGISTER(square_with_pid);

class checker {
 public:
  void expect(bool ok, const std::string& what) {
    if (ok) return;
    if (failures_ < 20) std::printf("many_ranks: FAILED: %s\n", what.c_str());
    ++failures_;
  }
  // One result of item `x`.
  void expect_result(const result& r, long x, const char* call) {
    expect(r.first == x * x, std::string(call) + ": item " + std::to_string(x) + " gave " + std::to_string(r.first));
  }
  int failures() const { return failures_; }

 private:
  int failures_ = 0;
};

int body(mpipool::pool& pool, const std::set<long>& worker_pids) {
  const auto start = std::chrono::steady_clock::now();
  const long workers = static_cast<long>(pool.workers());
  checker check;
  check.expect(static_cast<std::size_t>(workers) == worker_pids.size(),
               "pool.workers() is " + std::to_string(workers) + ", expected " + std::to_string(worker_pids.size()));

  // 1. A map with default chunking. Every worker is idle when the first call arrives, and the
  // call has more chunks than there are workers, so every worker gets a chunk.
  const long n_map = 32 * workers;
  const std::vector<result> mapped = pool.map(square_with_pid, std::views::iota(0L, n_map));
  check.expect(static_cast<long>(mapped.size()) == n_map, "map: " + std::to_string(mapped.size()) + " results");
  std::set<long> ran;
  for (long x = 0; x < static_cast<long>(mapped.size()); ++x) {
    check.expect_result(mapped[static_cast<std::size_t>(x)], x, "map");
    ran.insert(mapped[static_cast<std::size_t>(x)].second);
  }
  for (long pid : ran) check.expect(worker_pids.contains(pid), "map: a result from pid " + std::to_string(pid) + ", not a worker");
  check.expect(ran.size() == worker_pids.size(),
               "map: " + std::to_string(ran.size()) + " of " + std::to_string(worker_pids.size()) + " workers ran work");

  // 2. A map_async, apply_async calls and an ordered stream, all in flight at once.
  const long n_async = 16 * workers;
  auto big = pool.map_async(square_with_pid, std::views::iota(0L, n_async), 3);
  std::vector<mpipool::async_result<result>> applies;
  for (long x = 0; x < 2 * workers; ++x) applies.push_back(pool.apply_async(square_with_pid, x));
  long next = 0;
  for (const result& r : pool.imap(square_with_pid, std::views::iota(0L, 8 * workers), 1)) {
    check.expect_result(r, next, "imap");
    ran.insert(r.second);
    ++next;
  }
  check.expect(next == 8 * workers, "imap: " + std::to_string(next) + " results");
  for (long x = 0; x < static_cast<long>(applies.size()); ++x) {
    const result& r = applies[static_cast<std::size_t>(x)].get();
    check.expect_result(r, x, "apply_async");
    ran.insert(r.second);
  }
  const std::vector<result>& async_mapped = big.get();
  check.expect(static_cast<long>(async_mapped.size()) == n_async, "map_async: " + std::to_string(async_mapped.size()) + " results");
  for (long x = 0; x < static_cast<long>(async_mapped.size()); ++x)
    check.expect_result(async_mapped[static_cast<std::size_t>(x)], x, "map_async");

  // 3. An unordered stream: every item exactly once.
  std::vector<int> seen(static_cast<std::size_t>(8 * workers), 0);
  for (const result& r : pool.imap_unordered(square_with_pid, std::views::iota(0L, 8 * workers), 2)) {
    long x = 0;
    while (x * x < r.first) ++x;
    check.expect(x * x == r.first && x < static_cast<long>(seen.size()), "imap_unordered: unexpected " + std::to_string(r.first));
    if (x < static_cast<long>(seen.size())) ++seen[static_cast<std::size_t>(x)];
  }
  for (std::size_t x = 0; x < seen.size(); ++x)
    check.expect(seen[x] == 1, "imap_unordered: item " + std::to_string(x) + " came " + std::to_string(seen[x]) + " times");

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("many_ranks: %ld workers, %zu of them ran work; %d failures; %.2f s\n", workers, ran.size(),
              check.failures(), seconds);
  return check.failures() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  long pid = static_cast<long>(::getpid());
  std::vector<long> pids(static_cast<std::size_t>(size));
  MPI_Gather(&pid, 1, MPI_LONG, pids.data(), 1, MPI_LONG, 0, MPI_COMM_WORLD);
  // With one rank, the master's own process runs the tasks; with groups, the relays run none.
  mpipool_test::note_world();
  std::set<long> worker_pids;
  for (int worker : mpipool_test::worker_ranks()) worker_pids.insert(pids[static_cast<std::size_t>(worker)]);

  int rc = 0;
  try {
    rc = mpipool::run(MPI_COMM_WORLD, [&](mpipool::pool& pool) { return body(pool, worker_pids); });
  } catch (const std::exception& e) {
    std::printf("many_ranks: FAILED: %s\n", e.what());
    rc = 1;
  }
  MPI_Finalize();
  return rc;
}
