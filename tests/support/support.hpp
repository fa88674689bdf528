#pragma once
// Helpers shared by the MPI tests.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <mpi.h>
#include <mpipool/mpipool.hpp>

namespace mpipool_test {

// MPI_COMM_WORLD's rank and size, noted by the test main before any pool runs, so that a pool's
// body reads them without an MPI call of its own (see mpipool/mpi_section.hpp).
struct world_shape {
  int rank = -1;
  int size = -1;
};
inline world_shape world;

inline void note_world() {
  MPI_Comm_rank(MPI_COMM_WORLD, &world.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world.size);
}

inline const world_shape& noted_world() {
  if (world.size < 0) {
    std::fputs("mpipool tests: world_rank() or world_size() before the test main noted them\n", stderr);
    std::abort();
  }
  return world;
}

inline int world_rank() { return noted_world().rank; }
inline int world_size() { return noted_world().size; }

// The ranks that run a pool's tasks, worked out on their own (the test's oracle): every rank
// but 0 (rank 0 alone in a pool of one), less the relays when groups of R = ranks_per_group cut
// ranks 1.., whose first rank relays when the group has two or more.
inline std::vector<int> worker_ranks(int ranks_per_group) {
  const int size = world_size();
  if (size == 1) return {0};
  const int group = ranks_per_group;
  std::vector<int> workers;
  for (int rank = 1; rank < size; ++rank) {
    const bool relay = group >= 2 && (rank - 1) % group == 0 && rank + 1 < size;
    if (!relay) workers.push_back(rank);
  }
  return workers;
}
// The same for the pools of the test suites, grouped by MPIPOOL_RANKS_PER_GROUP if set.
inline std::vector<int> worker_ranks() {
  const char* env = std::getenv("MPIPOOL_RANKS_PER_GROUP");
  return worker_ranks(env && *env ? std::atoi(env) : 0);
}
inline int worker_count() { return static_cast<int>(worker_ranks().size()); }
inline int first_worker_rank() { return worker_ranks().front(); }
inline bool is_worker_rank(int rank) {
  for (int worker : worker_ranks())
    if (worker == rank) return true;
  return false;
}

// Runs `body` on rank 0 with a pool of all the other ranks; returns run's exit code.
template <class Body>
int with_pool(Body&& body, const mpipool::pool_options& options = {}) {
  return mpipool::run(MPI_COMM_WORLD, std::forward<Body>(body), options);
}

// A gate that tasks on any rank of this host can wait for until the test opens it: it lets a
// test hold a task back for as long as it needs, without guessing durations.
class gate {
 public:
  explicit gate(const std::string& name)
      : path_(std::filesystem::temp_directory_path() /
              ("mpipool-gate-" + name + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove(path_);
  }
  ~gate() { std::filesystem::remove(path_); }
  const std::string path() const { return path_.string(); }
  void open() const { open_at(path()); }
  static void open_at(const std::string& path) { std::ofstream(path) << "open"; }

  // Called by a task: returns once the gate at `path` is open.
  static void wait(const std::string& path) {
    while (!std::filesystem::exists(path)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

 private:
  std::filesystem::path path_;
};

}  // namespace mpipool_test
