// MPI initialized with only MPI_THREAD_FUNNELED: mpipool::run must refuse with a clear message
// on every rank (and this program then exits non-zero), never start a pool that could misuse MPI.
#include <cstdio>
#include <cstdlib>

#include <mpi.h>
#include <mpipool/mpipool.hpp>

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int exit_code = EXIT_SUCCESS;
  try {
    mpipool::run(MPI_COMM_WORLD, [](mpipool::pool& pool) { (void)pool.apply([](int x) { return x; }, 1); });
    std::printf("the pool ran although MPI provides only thread level %d\n", provided);
  } catch (const mpipool::error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    exit_code = EXIT_FAILURE;
  }
  MPI_Finalize();
  return exit_code;
}
