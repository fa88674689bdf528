// The C API's map beside the C++ API's on W1 (x*x over 64-bit integers), at chunksize 1000 and
// 1, alternating pools of each API in one run; medians in items per second, and their ratio.
//
//   mpirun -n 3 build-bench/bench/bench_c_api_map [items=200000] [repeats=5]
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include <mpi.h>

#include <mpipool.h>
#include <mpipool/mpipool.hpp>

#include "bench_common.hpp"

namespace {

long square(long x) { return x * x; }
MPIPOOL_REGISTER(square);

int square_record(const void* in, void* out, void*) {
  long x = 0;
  std::memcpy(&x, in, sizeof x);
  const long y = x * x;
  std::memcpy(out, &y, sizeof y);
  return 0;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

long setting(int argc, char** argv, const std::string& key, long fallback) {
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]).rfind(key + "=", 0) == 0) return std::stol(argv[i] + key.size() + 1);
  return fallback;
}

struct c_run {
  long n;
  long chunksize;
  double items_per_s = 0;
  bool right = false;
};

int c_body(mpipool_pool* pool, void* user) {
  c_run& run = *static_cast<c_run*>(user);
  std::vector<long> xs(static_cast<std::size_t>(run.n)), ys(xs.size());
  std::iota(xs.begin(), xs.end(), 0L);
  const double start = bench::now_s();
  const int status = mpipool_map(pool, "square", xs.data(), sizeof(long), xs.size(), ys.data(), sizeof(long),
                                 ys.size() * sizeof(long), run.chunksize);
  run.items_per_s = static_cast<double>(run.n) / (bench::now_s() - start);
  run.right = status == MPIPOOL_OK && ys.back() == (run.n - 1) * (run.n - 1);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const long items = setting(argc, argv, "items", 200000);
  const long repeats = setting(argc, argv, "repeats", 5);
  mpipool_register_records("square", square_record, sizeof(long), sizeof(long), nullptr);
  if (rank == 0) std::printf("| W1 map | C++ API (items/s) | C API (items/s) | C / C++ |\n|---|---|---|---|\n");
  int failures = 0;
  for (long chunksize : {1000L, 1L}) {
    const long n = chunksize == 1 ? std::min(items, 50000L) : items;
    std::vector<double> cpp, c;
    for (long rep = 0; rep < repeats; ++rep) {
      for (int which = 0; which < 2; ++which) {
        if ((which == 0) == (rep % 2 == 0)) {
          mpipool::run(MPI_COMM_WORLD, [&](mpipool::pool& pool) {
            std::vector<long> xs(static_cast<std::size_t>(n));
            std::iota(xs.begin(), xs.end(), 0L);
            const double start = bench::now_s();
            const std::vector<long> ys = pool.map(square, xs, chunksize);
            cpp.push_back(static_cast<double>(n) / (bench::now_s() - start));
            failures += ys.back() == (n - 1) * (n - 1) ? 0 : 1;
            return 0;
          });
        } else {
          c_run run{n, chunksize};
          int exit_code = 0;
          if (mpipool_run_comm(MPI_COMM_WORLD, nullptr, c_body, &run, &exit_code) != MPIPOOL_OK) ++failures;
          if (rank == 0) {
            c.push_back(run.items_per_s);
            failures += run.right ? 0 : 1;
          }
        }
      }
    }
    if (rank == 0) {
      std::printf("| chunksize %ld, %ld items | %.3g | %.3g | %.2f |\n", chunksize, n, median(cpp), median(c),
                  median(c) / median(cpp));
      std::printf("RESULT mpipool 2 W1-C-API chunksize%ld ratio %.4f\n", chunksize, median(c) / median(cpp));
    }
  }
  if (rank == 0 && failures > 0) std::printf("%d wrong results\n", failures);
  MPI_Finalize();
  return failures == 0 ? 0 : 1;
}
