// SIGTERM or SIGINT reaching the master in the middle of a call (as Slurm's time limit, scancel
// or Ctrl-C would): the body raises it itself, right after submitting, so the call is surely
// unfinished. Checks that the pool says what it interrupted (the test's EXPECT), that
// stop_requested() turns true, that the call fails and new calls are refused with
// pool_interrupted, that run returns 128 + signal on every rank, and that the handlers the
// program had before are back afterwards.
//
//   stop_on_signal SIGTERM|SIGINT map|imap
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <ranges>
#include <string>

#include <mpi.h>

#include <mpipool/mpipool.hpp>

int echo(int x) { return x; }
MPIPOOL_REGISTER(echo);

namespace {

void programs_own_handler(int) {}

bool handler_is(int signal, void (*handler)(int)) {
  struct sigaction now {};
  sigaction(signal, nullptr, &now);
  return now.sa_handler == handler;
}

const char* yes(bool value) { return value ? "yes" : "no"; }

}  // namespace

int main(int argc, char** argv) {
  const int signal = argc > 1 && std::strcmp(argv[1], "SIGINT") == 0 ? SIGINT : SIGTERM;
  const std::string call = argc > 2 ? argv[2] : "map";
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  // The program's own handler, which the pool must put back when it is done.
  struct sigaction own {};
  own.sa_handler = programs_own_handler;
  sigemptyset(&own.sa_mask);
  sigaction(SIGINT, &own, nullptr);

  bool asked = false;
  bool call_interrupted = false;
  bool refused = false;
  const int returned = mpipool::run(MPI_COMM_WORLD, [&](mpipool::pool& pool) {
    asked = pool.stop_requested();  // not yet
    try {
      if (call == "imap") {
        int read = 0;
        // An unbounded input: only the signal can end this loop.
        for (int value : pool.imap(echo, std::views::iota(0))) {
          if (value != read++) return 1;
          if (read == 3) raise(signal);
        }
      } else {
        auto squares = pool.map_async(echo, std::views::iota(0, 100000), 1);
        raise(signal);
        squares.get();
      }
    } catch (const mpipool::pool_interrupted& e) {
      call_interrupted = e.signal() == signal;
    }
    asked = !asked && pool.stop_requested() && pool.stop_signal() == signal;
    try {
      pool.apply(echo, 1);
    } catch (const mpipool::pool_interrupted& e) {
      refused = e.signal() == signal;
    }
    return 0;  // run still returns 128 + signal
  });

  int rank = 0;
  int lowest = 0;
  int highest = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Allreduce(&returned, &lowest, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&returned, &highest, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  const bool restored = handler_is(SIGINT, programs_own_handler) && handler_is(SIGTERM, SIG_DFL);
  int restored_everywhere = restored ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &restored_everywhere, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (rank == 0) {
    std::fflush(stderr);
    std::printf("stop_on_signal: stop_requested %s, %s failed with pool_interrupted %s, new calls refused %s, "
                "handlers restored %s, run returned %d to %d\n",
                yes(asked), call.c_str(), yes(call_interrupted), yes(refused), yes(restored_everywhere == 1), lowest,
                highest);
    std::fflush(stdout);  // before a non-zero exit: mpirun may end the job before stdout is read
  }
  MPI_Finalize();
  return returned;
}
