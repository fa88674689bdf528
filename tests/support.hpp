#pragma once
// Helpers shared by the MPI tests.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <mpi.h>
#include <mpipool/mpipool.hpp>

namespace mpipool_test {

inline int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

inline int world_size() {
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
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
