#pragma once
// A helper process that a worker forks to run its tasks away from its rank (isolated
// workers), and the framed messages the two exchange over a socket pair. The helper never
// calls MPI: it only runs tasks, and leaves with _exit. Outcomes travel through an
// outcome_area (outcome_area.hpp), not through the socket, so that no item costs a system
// call; the socket carries one message each way per chunk, and says when the helper dies.
//
//   frame:   kind (u8) | size (u64) | payload
//   run     (rank -> helper): skip (u32) | chunk message   run the chunk, from item `skip` on
//   drain   (helper -> rank): the outcome that did not fit   the area is full: take what it
//                             holds, then this outcome, and answer `drained`
//   drained (rank -> helper): (nothing)                      the area is empty again
//   done    (helper -> rank): count (u32) | reset (u8) | the outcomes not in the area (all of
//                             this run's when reset is 1: the area's are void then)
//
// Never more than one frame is on its way in each direction: each side waits for the other's
// answer (done or drained) before it sends again. A stop travels through the area.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>

#include "mpipool/detail/archive.hpp"

namespace mpipool::detail {

enum class frame_kind : std::uint8_t { run = 1, drain = 2, drained = 3, done = 4 };

// How a process ended, as waitpid says.
struct process_end {
  int signal = 0;        // the signal that killed it, or 0 when it exited
  int exit_status = -1;  // its exit status, or -1 when a signal killed it
};

// Writes one frame whose payload is `parts` (fewer than 8), one after the other, in one
// system call when the socket takes it all. False when the other side has gone.
bool write_frame(int fd, frame_kind kind, std::initializer_list<std::span<const char>> parts);

enum class read_status { frame, closed, timed_out };
// Reads one frame into `kind` and `payload`, waiting at most `timeout_ms` for it to start
// (negative: for ever). `closed` when the other side has gone.
read_status read_frame(int fd, frame_kind& kind, byte_buffer& payload, int timeout_ms);

class helper_process {
 public:
  // Forks. The child closes the rank's end, runs `main` with its own end, and leaves with
  // _exit; it never returns here. It is killed if the thread that forked it ends.
  explicit helper_process(const std::function<void(int fd)>& main);
  // Closes the channel: an idle helper leaves on its own; waits for it.
  ~helper_process();
  helper_process(const helper_process&) = delete;
  helper_process& operator=(const helper_process&) = delete;

  int fd() const { return fd_; }
  // Waits for the helper, which has closed its end (it died, or left); how it ended.
  process_end reap();
  // Kills it (SIGKILL) and waits for it.
  process_end kill();

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
};

}  // namespace mpipool::detail
