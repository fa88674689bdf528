// run(argc, argv, body) initializes and finalizes MPI, so it can run once per process: a second
// call must throw std::logic_error on every rank, saying how to run several pools, rather than
// let MPI abort the job. Exits 0 only if it did.
#include <cstdio>
#include <stdexcept>
#include <string>

#include <mpipool/mpipool.hpp>

int main(int argc, char** argv) {
  const int first = mpipool::run(argc, argv, [](mpipool::pool& pool) {
    return pool.apply([](int x) { return 2 * x; }, 21) == 42 ? 0 : 1;
  });
  if (first != 0) return 1;
  try {
    mpipool::run(argc, argv, [](mpipool::pool&) {});
    std::printf("the second run(argc, argv, body) did not throw\n");
  } catch (const std::logic_error& e) {
    std::printf("%s\n", e.what());
    const std::string what = e.what();
    const bool explained =
        what.find("run(argc, argv, body) initializes and finalizes MPI") != std::string::npos &&
        what.find("MPI_Init_thread with MPI_THREAD_SERIALIZED") != std::string::npos &&
        what.find("mpipool::run(comm, body) for each") != std::string::npos;
    return explained ? 0 : 1;
  }
  return 1;
}
