// A raw MPI request/reply loop in C++, the limit for W1 at chunksize 1 and W2, and its CPU use
// on W6 (scripts/bench.sh runs it beside mpipool). No library: blocking MPI_Send/MPI_Recv, one
// item per message; a worker's reply is its request for the next item.
//
//   mpirun -n 3 ./bench_raw_mpi workloads=W1,W2,W6 target_s=0.3
//
// Prints RESULT lines (see bench_common.hpp).
#include <sys/types.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <mpi.h>

#include "bench_common.hpp"

namespace {

const std::string system_name = "raw_mpi";

enum tag : int { square_tag = 1, nap_tag = 2, stop_tag = 3, reply_tag = 4 };

// A worker: answers every message from the master until told to stop.
void serve() {
  for (;;) {
    long item = 0;
    MPI_Status status;
    MPI_Recv(&item, 1, MPI_LONG, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &status);
    if (status.MPI_TAG == stop_tag) return;
    long result = 0;
    if (status.MPI_TAG == square_tag) result = item * item;
    else result = bench::nap(static_cast<double>(item) * 1e-6);
    MPI_Send(&result, 1, MPI_LONG, 0, reply_tag, MPI_COMM_WORLD);
  }
}

// Hands out n items, one per message, to whichever worker replies; returns the results' sum.
long request_reply(long n, int tag, long value_or_minus_one, int workers) {
  long next = 0, received = 0, sum = 0;
  auto item = [&](long i) { return value_or_minus_one >= 0 ? value_or_minus_one : i; };
  for (int w = 1; w <= workers && next < n; ++w, ++next) {
    const long x = item(next);
    MPI_Send(&x, 1, MPI_LONG, w, tag, MPI_COMM_WORLD);
  }
  while (received < n) {
    long result = 0;
    MPI_Status status;
    MPI_Recv(&result, 1, MPI_LONG, MPI_ANY_SOURCE, reply_tag, MPI_COMM_WORLD, &status);
    ++received;
    sum += result;
    if (next < n) {
      const long x = item(next++);
      MPI_Send(&x, 1, MPI_LONG, status.MPI_SOURCE, tag, MPI_COMM_WORLD);
    }
  }
  return sum;
}

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("wrong results in ") + what);
}

void master(const bench::settings& s, int workers, const std::vector<long>& pids) {
  const auto workloads = s.list("workloads", "W1,W2,W6");
  const double target_s = s.number("target_s", 0.3);
  const long max_items = static_cast<long>(s.number("max_items", 4e6));
  auto report = [&](const std::string& w, const std::string& variant, const std::string& metric, double v) {
    bench::report(system_name, workers, w, variant, metric, v);
  };
  if (s.has(workloads, "W1")) {
    const double rate = bench::adaptive_rate(1, workers, target_s, max_items, [&](long n) {
      const double start = bench::now_s();
      const long sum = request_reply(n, square_tag, -1, workers);
      const double seconds = bench::now_s() - start;
      long expected = 0;
      for (long i = 0; i < n; ++i) expected += i * i;
      check(sum == expected, "W1");
      return seconds;
    });
    report("W1", "cs1", "items_per_s", rate);
  }
  if (s.has(workloads, "W2")) {
    request_reply(1000, square_tag, -1, 1);
    long calls = 0;
    const double start = bench::now_s();
    double elapsed = 0;
    do {
      calls += 1000;
      request_reply(1000, square_tag, -1, 1);  // one worker, one item in flight: a ping-pong
      elapsed = bench::now_s() - start;
    } while (elapsed < target_s);
    report("W2", "apply", "us_per_call", elapsed / static_cast<double>(calls) * 1e6);
  }
  if (s.has(workloads, "W6")) {
    const long nap_us = static_cast<long>(s.number("w6_sleep_s", 0.2) * 1e6);
    const double cpu = bench::processes_cpu_s(pids), start = bench::now_s();
    check(request_reply(20, nap_tag, nap_us, workers) == 20, "W6");
    const double wall = bench::now_s() - start;
    report("W6", "sleep", "cpu_s_per_s", (bench::processes_cpu_s(pids) - cpu) / wall);
  }
  const long none = 0;
  for (int w = 1; w <= workers; ++w) MPI_Send(&none, 1, MPI_LONG, w, stop_tag, MPI_COMM_WORLD);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const std::vector<long> pids = bench::gather_job_pids(MPI_COMM_WORLD);

  int rc = 0;
  if (rank == 0) {
    try {
      master(bench::settings(argc, argv), size - 1, pids);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_raw_mpi: %s\n", e.what());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
  } else {
    serve();
  }
  MPI_Finalize();
  return rc;
}
