#pragma once
// What bench/workloads.cpp (mpipool) and bench/raw_mpi.cpp (raw MPI) share with each other and,
// by the same rules, with bench/python_peers.py: the command-line settings, the tasks, the
// adaptive sizing of W1, the CPU accounting of W6 and the result lines that scripts/bench.sh
// collects.
//
//   RESULT <system> <workers> <workload> <variant> <metric> <value>

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <mpi.h>

namespace bench {

// key=value arguments; every key has a default, so that a program runs with none.
class settings {
 public:
  settings(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      const auto eq = arg.find('=');
      if (eq == std::string::npos) throw std::invalid_argument("expected key=value, got " + arg);
      values_[arg.substr(0, eq)] = arg.substr(eq + 1);
    }
  }
  std::string text(const std::string& key, const std::string& fallback) const {
    const auto it = values_.find(key);
    return it == values_.end() ? fallback : it->second;
  }
  double number(const std::string& key, double fallback) const {
    const auto it = values_.find(key);
    return it == values_.end() ? fallback : std::stod(it->second);
  }
  // A comma-separated list.
  std::vector<std::string> list(const std::string& key, const std::string& fallback) const {
    std::vector<std::string> out;
    std::stringstream in(text(key, fallback));
    for (std::string item; std::getline(in, item, ',');)
      if (!item.empty()) out.push_back(item);
    return out;
  }
  bool has(const std::vector<std::string>& workloads, const std::string& w) const {
    for (const auto& x : workloads)
      if (x == w) return true;
    return false;
  }

 private:
  std::map<std::string, std::string> values_;
};

inline double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

inline double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// The CPU task of W3 and W4: burns `seconds` of this thread's CPU time, so that the work is the
// same in every language and does not stretch when the process is preempted.
inline int spin(double seconds) {
  const double end = thread_cpu_s() + seconds;
  int rounds = 0;
  while (thread_cpu_s() < end) ++rounds;
  return rounds > 0 ? 1 : 0;
}

inline int nap(double seconds) {
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  return 1;
}

// CPU seconds used so far by every thread of process `pid`, from /proc/<pid>/task/*/schedstat
// (nanoseconds; /proc/<pid>/stat counts in 10 ms ticks, too coarse for an idle pool).
inline double process_cpu_s(long pid) {
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  double total = 0;
  DIR* dir = opendir(tasks.c_str());
  if (!dir) return 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream in(tasks + "/" + entry->d_name + "/schedstat");
    double ns = 0;
    if (in >> ns) total += ns * 1e-9;
  }
  closedir(dir);
  return total;
}

// Every process of a system run on this node, gathered on rank 0 of `comm`: the ranks, then
// mpirun (their parent), for the CPU figures of W6 and the idle pool.
inline std::vector<long> gather_job_pids(MPI_Comm comm) {
  int size = 0;
  MPI_Comm_size(comm, &size);
  long pid = static_cast<long>(getpid());
  std::vector<long> pids(static_cast<std::size_t>(size));
  MPI_Gather(&pid, 1, MPI_LONG, pids.data(), 1, MPI_LONG, 0, comm);
  pids.push_back(static_cast<long>(getppid()));
  return pids;
}

inline double processes_cpu_s(const std::vector<long>& pids) {
  double total = 0;
  for (long pid : pids) total += process_cpu_s(pid);
  return total;
}

// W1's sizing, the same for every system: starting from max(1000, 20 * chunksize * workers)
// items, grow the input until one map takes at least `target_s`, and report that map's rate.
template <class RunItems>  // double run_items(long n): seconds for one map of n items
double adaptive_rate(long chunksize, long workers, double target_s, long max_items, RunItems&& run_items) {
  long n = std::max(1000L, 20 * chunksize * workers);
  for (;;) {
    const double seconds = run_items(n);
    if (seconds >= target_s || n >= max_items) return static_cast<double>(n) / seconds;
    const double grow = std::min(16.0, std::max(2.0, 1.3 * target_s / std::max(seconds, 1e-6)));
    n = std::min(max_items, static_cast<long>(static_cast<double>(n) * grow));
  }
}

// W4's task durations, the "durations_s" array of bench/w4_durations.json; every `stride`-th
// one (the quick run takes a tenth).
inline std::vector<double> w4_durations(const std::string& path, long stride) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string s = text.str();
  const auto key = s.find("\"durations_s\"");
  if (key == std::string::npos) throw std::runtime_error("no durations_s in " + path);
  const char* p = s.c_str() + s.find('[', key) + 1;
  std::vector<double> all;
  for (;;) {
    char* end = nullptr;
    const double d = std::strtod(p, &end);
    if (end == p) break;
    all.push_back(d);
    p = end;
    while (*p == ',' || *p == ' ' || *p == '\n') ++p;
  }
  std::vector<double> picked;
  for (std::size_t i = 0; i < all.size(); i += static_cast<std::size_t>(stride)) picked.push_back(all[i]);
  return picked;
}

inline void report(const std::string& system, long workers, const std::string& workload, const std::string& variant,
                   const std::string& metric, double value) {
  std::printf("RESULT %s %ld %s %s %s %.6g\n", system.c_str(), workers, workload.c_str(), variant.c_str(),
              metric.c_str(), value);
  std::fflush(stdout);
}

}  // namespace bench
