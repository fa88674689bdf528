// A library to preload (LD_PRELOAD) into an MPI program: counts rank 0's point-to-point sends
// and receives, from any thread, through MPI's profiling interface, and prints them on stderr
// at MPI_Finalize as
//
//   MESSAGES rank0 sends <n> receives <m>
//
// scripts/dispatch-rate.sh --messages preloads it into bench_dispatch_rate: how many messages
// the root exchanges per chunk, flat, through relays and through stocking sub-masters.
//
// It counts MPI_Send, MPI_Isend, MPI_Recv and MPI_Irecv: all that mpipool's transport and
// Boost.MPI's point-to-point calls use. Other kinds (MPI_Ssend, MPI_Sendrecv, persistent or
// matched receives) would go uncounted.
#include <mpi.h>

#include <atomic>
#include <cstdio>

namespace {

std::atomic<long> sends{0};
std::atomic<long> receives{0};

// This process's rank, once MPI is initialized (no call is counted before).
bool on_rank_zero() {
  static std::atomic<int> rank{-1};
  if (rank.load(std::memory_order_relaxed) < 0) {
    int initialized = 0;
    PMPI_Initialized(&initialized);
    if (!initialized) return false;
    int mine = -1;
    PMPI_Comm_rank(MPI_COMM_WORLD, &mine);
    rank.store(mine, std::memory_order_relaxed);
  }
  return rank.load(std::memory_order_relaxed) == 0;
}

}  // namespace

extern "C" {
int MPI_Send(const void* buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm) {
  if (on_rank_zero()) ++sends;
  return PMPI_Send(buf, count, type, dest, tag, comm);
}
int MPI_Isend(const void* buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm, MPI_Request* request) {
  if (on_rank_zero()) ++sends;
  return PMPI_Isend(buf, count, type, dest, tag, comm, request);
}
int MPI_Recv(void* buf, int count, MPI_Datatype type, int source, int tag, MPI_Comm comm, MPI_Status* status) {
  if (on_rank_zero()) ++receives;
  return PMPI_Recv(buf, count, type, source, tag, comm, status);
}
int MPI_Irecv(void* buf, int count, MPI_Datatype type, int source, int tag, MPI_Comm comm, MPI_Request* request) {
  if (on_rank_zero()) ++receives;
  return PMPI_Irecv(buf, count, type, source, tag, comm, request);
}
int MPI_Finalize() {
  if (on_rank_zero()) std::fprintf(stderr, "MESSAGES rank0 sends %ld receives %ld\n", sends.load(), receives.load());
  return PMPI_Finalize();
}
}
