// Parallel tasks (mpipool::ranks): how well a mix of 1-, 2-, 4- and 8-rank tasks fills the
// workers with backfill and a reservation (the pool's policy) against plain FIFO grouping
// (MPIPOOL_GROUP_BACKFILL=off), in one run, interleaved; then what a group costs: making its
// communicator, and a parallel task's round trip beside an ordinary one's.
//
//   mpirun -n 16 --oversubscribe build-bench/bench/bench_parallel_tasks [tasks=120] [repeats=3]
//
// The tasks sleep (every member for the task's duration, then a barrier), so the cores do not
// matter: 16 ranks on two cores measure the scheduling. Utilisation = sum(width x duration) /
// (workers x makespan). A wide task's wait: from its submission to its start (its finish less
// its duration).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <boost/mpi/communicator.hpp>
#include <mpi.h>
#include <mpipool/mpipool.hpp>

namespace {

using clock_type = std::chrono::steady_clock;

int sleep_then_meet(const boost::mpi::communicator& group, int milliseconds) {
  std::this_thread::sleep_for(std::chrono::milliseconds(milliseconds));
  group.barrier();
  return group.size();
}
MPIPOOL_REGISTER(sleep_then_meet);

int nothing_in_group(const boost::mpi::communicator& group, int x) { return x + group.size() - group.size(); }
MPIPOOL_REGISTER(nothing_in_group);

int nothing(int x) { return x; }
MPIPOOL_REGISTER(nothing);

struct task_spec {
  int width;
  int milliseconds;
};

// The same mix for both policies: widths 1, 2, 4, 8 with weights 4:3:2:1, 20-80 ms each.
std::vector<task_spec> make_mix(int tasks, int workers) {
  std::mt19937 random(12345);
  std::discrete_distribution<int> width_pick({4, 3, 2, 1});
  std::uniform_int_distribution<int> duration(20, 80);
  const int widths[] = {1, 2, 4, 8};
  std::vector<task_spec> mix;
  for (int i = 0; i < tasks; ++i) mix.push_back({std::min(widths[width_pick(random)], workers), duration(random)});
  return mix;
}

struct mix_result {
  double utilisation = 0;
  double makespan_s = 0;
  double longest_wide_wait_s = 0;
};

mix_result run_mix(mpipool::pool& pool, const std::vector<task_spec>& mix) {
  const auto began = clock_type::now();
  std::vector<mpipool::async_result<int>> results;
  std::vector<clock_type::time_point> finished(mix.size());
  for (std::size_t i = 0; i < mix.size(); ++i) {
    results.push_back(pool.apply_async(mpipool::ranks(mix[i].width), sleep_then_meet, mix[i].milliseconds));
    results.back().add_done_callback([&finished, i](const mpipool::async_result<int>&) { finished[i] = clock_type::now(); });
  }
  double work = 0;
  mix_result r;
  for (auto& result : results) result.get();
  const auto ended = clock_type::now();
  r.makespan_s = std::chrono::duration<double>(ended - began).count();
  for (std::size_t i = 0; i < mix.size(); ++i) {
    work += mix[i].width * mix[i].milliseconds / 1e3;
    if (mix[i].width >= 4) {
      const double wait = std::chrono::duration<double>(finished[i] - began).count() - mix[i].milliseconds / 1e3;
      r.longest_wide_wait_s = std::max(r.longest_wide_wait_s, wait);
    }
  }
  r.utilisation = work / (static_cast<double>(pool.workers()) * r.makespan_s);
  return r;
}

template <class Call>
double median_us(int calls, Call&& call) {
  std::vector<double> times;
  for (int i = 0; i < calls; ++i) {
    const auto t0 = clock_type::now();
    call();
    times.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
  }
  std::nth_element(times.begin(), times.begin() + calls / 2, times.end());
  return times[static_cast<std::size_t>(calls / 2)];
}

int setting(int argc, char** argv, const std::string& key, int fallback) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind(key + "=", 0) == 0) return std::stoi(arg.substr(key.size() + 1));
  }
  return fallback;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const int tasks = setting(argc, argv, "tasks", 120);
  const int repeats = setting(argc, argv, "repeats", 3);
  const std::vector<task_spec> mix = make_mix(tasks, std::max(size - 1, 1));
  std::vector<double> utilisation[2], makespan[2], wide_wait[2];
  const char* policy_name[2] = {"backfill", "fifo"};
  for (int rep = 0; rep < repeats; ++rep) {
    for (int p = 0; p < 2; ++p) {
      const int policy = (p + rep) % 2;  // alternate which goes first
      if (policy == 1) setenv("MPIPOOL_GROUP_BACKFILL", "off", 1);
      else unsetenv("MPIPOOL_GROUP_BACKFILL");
      mpipool::run(MPI_COMM_WORLD, [&](mpipool::pool& pool) {
        const mix_result r = run_mix(pool, mix);
        utilisation[policy].push_back(r.utilisation);
        makespan[policy].push_back(r.makespan_s);
        wide_wait[policy].push_back(r.longest_wide_wait_s);
        return 0;
      });
    }
  }
  unsetenv("MPIPOOL_GROUP_BACKFILL");
  double first_group_us = 0, again_us[3] = {0, 0, 0}, plain_us = 0;
  const int width2 = std::min(2, std::max(size - 1, 1));
  const int width4 = std::min(4, std::max(size - 1, 1));
  mpipool::run(MPI_COMM_WORLD, [&](mpipool::pool& pool) {
    const auto t0 = clock_type::now();
    pool.apply(mpipool::ranks(width2), nothing_in_group, 1);
    first_group_us = std::chrono::duration<double, std::micro>(clock_type::now() - t0).count();
    plain_us = median_us(200, [&] { pool.apply(nothing, 1); });
    again_us[0] = median_us(200, [&] { pool.apply(mpipool::ranks(1), nothing_in_group, 1); });
    again_us[1] = median_us(200, [&] { pool.apply(mpipool::ranks(width2), nothing_in_group, 1); });
    again_us[2] = median_us(200, [&] { pool.apply(mpipool::ranks(width4), nothing_in_group, 1); });
    return 0;
  });
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) {
    std::printf("parallel tasks: %d ranks, %d tasks of widths 1/2/4/8 (weights 4:3:2:1), 20-80 ms each; medians of %d\n",
                size, tasks, repeats);
    std::printf("| policy | utilisation | makespan (s) | longest wait of a 4- or 8-rank task (s) |\n|---|---|---|---|\n");
    for (int p = 0; p < 2; ++p) {
      std::printf("| %s | %.3f | %.3f | %.3f |\n", policy_name[p], median(utilisation[p]), median(makespan[p]),
                  median(wide_wait[p]));
      std::printf("RESULT mpipool %d PAR %s utilisation %.4f\n", size - 1, policy_name[p], median(utilisation[p]));
      std::printf("RESULT mpipool %d PAR %s longest_wide_wait_s %.4f\n", size - 1, policy_name[p], median(wide_wait[p]));
    }
    std::printf("first call on a new group of %d (makes its communicator): %.0f us\n", width2, first_group_us);
    std::printf("apply round trip, median of 200: ordinary %.1f us, ranks(1) %.1f us, ranks(%d) %.1f us, ranks(%d) %.1f us\n",
                plain_us, again_us[0], width2, again_us[1], width4, again_us[2]);
  }
  MPI_Finalize();
  return 0;
}
