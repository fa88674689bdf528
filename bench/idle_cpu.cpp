// What waiting costs: the CPU that idle and waiting ranks burn, and the latency of the wake-up.
//
//   mpirun -n 3 ./bench_idle_cpu
//
// Prints one line of key=value pairs:
//   idle_cpu    CPU-s per wall-s of all ranks while the pool sits idle for 3 s
//   w6_cpu      the same while map runs 20 tasks that sleep 0.2 s each (master_w6_cpu: rank 0 alone)
//   apply_us    median round trip of 2000 sequential apply calls
//   cold_us     median apply round trip after 1 s of idleness (5 tries)
//   map1_ips    map(square, 1e5 ints, chunksize 1), items per second
// CPU time is each process's threads' run time from /proc/PID/task/*/schedstat; the workers'
// process ids are gathered by tasks (all ranks run on this node).
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <ranges>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <mpipool/mpipool.hpp>

namespace {

int square(int x) { return x * x; }
MPIPOOL_REGISTER(square);

int pid_after_nap(int) {
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return static_cast<int>(getpid());
}
MPIPOOL_REGISTER(pid_after_nap);

int nap_200ms(int x) {
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  return x;
}
MPIPOOL_REGISTER(nap_200ms);

// CPU time of a process, all its threads, in seconds: the scheduler's nanosecond count, where
// utime + stime from /proc/PID/stat would count whole clock ticks of 10 ms.
double cpu_seconds(int pid) {
  double total = 0;
  for (const auto& thread : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::ifstream schedstat(thread.path() / "schedstat");
    unsigned long long running_ns = 0;
    if (schedstat >> running_ns) total += static_cast<double>(running_ns) * 1e-9;
  }
  return total;
}

double cpu_seconds(const std::vector<int>& pids) {
  double total = 0;
  for (int pid : pids) total += cpu_seconds(pid);
  return total;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::ranges::sort(values);
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  return mpipool::run(argc, argv, [](mpipool::pool& pool) {
    const int master_pid = static_cast<int>(getpid());
    std::vector<int> pids{master_pid};
    const auto worker_pids = pool.map(pid_after_nap, std::views::iota(0, 16), 1);
    for (int pid : std::set<int>(worker_pids.begin(), worker_pids.end()))
      if (pid != master_pid) pids.push_back(pid);

    auto start = std::chrono::steady_clock::now();
    double cpu_before = cpu_seconds(pids);
    std::this_thread::sleep_for(std::chrono::seconds(3));
    const double idle_cpu = (cpu_seconds(pids) - cpu_before) / seconds_since(start);

    start = std::chrono::steady_clock::now();
    cpu_before = cpu_seconds(pids);
    const double master_before = cpu_seconds(master_pid);
    pool.map(nap_200ms, std::views::iota(0, 20));
    const double w6_wall = seconds_since(start);
    const double w6_cpu = (cpu_seconds(pids) - cpu_before) / w6_wall;
    const double master_w6_cpu = (cpu_seconds(master_pid) - master_before) / w6_wall;

    for (int i = 0; i < 100; ++i) pool.apply(square, i);
    std::vector<double> round_trips;
    for (int i = 0; i < 2000; ++i) {
      start = std::chrono::steady_clock::now();
      pool.apply(square, i);
      round_trips.push_back(seconds_since(start) * 1e6);
    }

    std::vector<double> cold;
    for (int i = 0; i < 5; ++i) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      start = std::chrono::steady_clock::now();
      pool.apply(square, i);
      cold.push_back(seconds_since(start) * 1e6);
    }

    constexpr int map_items = 100000;
    start = std::chrono::steady_clock::now();
    pool.map(square, std::views::iota(0, map_items), 1);
    const double map1_ips = map_items / seconds_since(start);

    std::printf("ranks=%zu idle_cpu=%.4f w6_cpu=%.4f master_w6_cpu=%.4f w6_wall=%.3f apply_us=%.1f cold_us=%.0f map1_ips=%.0f\n",
                pids.size(), idle_cpu, w6_cpu, master_w6_cpu, w6_wall, median(round_trips), median(cold), map1_ips);
    std::fflush(stdout);
    return 0;
  });
}
