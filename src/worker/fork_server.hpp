#pragma once
// The process that starts an isolated worker's helpers. A helper forked from the rank itself
// would copy whatever the rank's other threads hold at that moment: a lock (the helper then
// waits for it for ever), unwritten stdio buffers (the helper writes them a second time), and
// every descriptor the body has open (a pipe then never sees its end). So each rank forks this
// server once, as run() starts, before the pool's threads and the body exist, and the server
// forks every helper from that clean, single-threaded state. It never calls MPI and runs no task
// itself. (Python's "forkserver" start method, for the same reasons; exec'ing a helper would
// also lose the globals that main() set up before run(), which tasks may rely on.)
//
// At its start the server closes the descriptors marked close-on-exec (MPI's own, mostly),
// as an exec'd helper would find them closed; the others, opened before run(), stay open.
//
// The rank and the server talk over a SOCK_SEQPACKET socket pair, one fixed-size message at a
// time, with descriptors passed beside them:
//   start   (rank -> server): flags, with the helper's end of its channel and its shared memory
//   started (server -> rank): the helper's pid, with a pidfd of it; or pid -1 and an errno
//   ended   (server -> rank): a helper's pid, and how it ended, once the server has reaped it
//
// The rank watches each helper through its pidfd, so it sees a helper die at once, even while a
// child the task forked keeps the helper's channel open; the server, the helper's parent, reaps
// it and says how it ended. The server dies with the rank (PR_SET_PDEATHSIG), and the helpers
// with the server; when the rank closes the server's channel, it kills the helpers left and
// leaves.

#include <sys/types.h>

#include <cstdint>
#include <map>

namespace mpipool::detail {

// How a process ended, as waitpid says.
struct process_end {
  int signal = 0;        // the signal that killed it, or 0 when it exited
  int exit_status = -1;  // its exit status, or -1 when a signal killed it
};

// A pidfd names one process for as long as it is open: signalling through it cannot reach
// another process that took over the pid. (Through syscall(): some C libraries declare the
// wrappers without C linkage for C++, or not at all.)
int open_pidfd(pid_t pid);
// Sends `signal` to the process of `pidfd`; false if it could not.
bool signal_pidfd(int pidfd, int signal);

// What a helper runs: its end of the channel to the rank, the shared memory the rank passed, and
// the rank's flags. The helper leaves when it returns.
using helper_main = void (*)(int channel, int shared_memory, std::uint32_t flags);

class fork_server {
 public:
  // Forks the server, which will start helpers that run `main`. Call it while the process has
  // no thread of its own that may hold a lock or be writing through stdio.
  explicit fork_server(helper_main main);
  // Closes the channel: the server kills the helpers left, and leaves; waits for it.
  ~fork_server();
  fork_server(const fork_server&) = delete;
  fork_server& operator=(const fork_server&) = delete;

  struct started_helper {
    pid_t pid;
    int pidfd;  // the caller's to close; readable once the helper has ended
  };
  // Starts a helper that runs main(its copy of `channel`, of `shared_memory`, `flags`). The
  // descriptors stay open here.
  started_helper start(int channel, int shared_memory, std::uint32_t flags);
  // How helper `pid` ended; waits until the server has reaped it, so call it once the helper
  // has ended (its pidfd is readable) or is sure to end soon.
  process_end wait_end(pid_t pid);

 private:
  // Reads the server's next message: true when it says a helper started (in `started`); how
  // a helper ended is kept in ended_.
  bool receive(started_helper& started);

  pid_t pid_ = -1;
  int fd_ = -1;
  std::map<pid_t, process_end> ended_;  // helpers reaped whose end no one asked for yet
};

}  // namespace mpipool::detail
