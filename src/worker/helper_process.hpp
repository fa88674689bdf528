#pragma once
// A helper process that runs a worker's tasks away from its rank (isolated workers), started by
// the rank's fork server (fork_server.hpp), and the framed messages the rank and the helper
// exchange over a socket pair. The helper never calls MPI: it only runs tasks, and leaves with
// _exit. Outcomes travel through an outcome_area (outcome_area.hpp), not through the socket, so
// that no item costs a system call; the socket carries one message each way per chunk. The rank
// learns that the helper died from its pidfd, not from the socket, which a child the task
// forked may keep open.
//
//   frame:   kind (u8) | size (u64) | payload
//   run     (rank -> helper): skip (u32) | unreadable count (u32) | unreadable (u32 each) |
//                             chunk message
//                             run the chunk from item `skip` on; the items before were run by a
//                             helper that died, and are decoded only, except the unreadable ones
//                             (their decoding killed a helper), which are passed over
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
#include <initializer_list>
#include <span>

#include "mpipool/detail/archive.hpp"
#include "worker/fork_server.hpp"

namespace mpipool::detail {

enum class frame_kind : std::uint8_t { run = 1, drain = 2, drained = 3, done = 4 };

// Writes one frame whose payload is `parts` (fewer than 8), one after the other, in one
// system call when the socket takes it all. False when the other side has gone.
bool write_frame(int fd, frame_kind kind, std::initializer_list<std::span<const char>> parts);

enum class read_status { frame, closed, timed_out };
// Reads one frame into `kind` and `payload`, waiting at most `timeout_ms` for it to start
// (negative: for ever). `closed` when the other side has gone, or, with a `watched` pidfd, when
// that process has ended and left no more to read.
read_status read_frame(int fd, frame_kind& kind, byte_buffer& payload, int timeout_ms, int watched = -1);

class helper_process {
 public:
  // Has `server` start a helper that runs its main with its end of a new channel, the rank's
  // `shared_memory` and `flags`.
  helper_process(fork_server& server, int shared_memory, std::uint32_t flags);
  // Closes the channel: an idle helper leaves on its own; waits for it.
  ~helper_process();
  helper_process(const helper_process&) = delete;
  helper_process& operator=(const helper_process&) = delete;

  int fd() const { return fd_; }
  // Readable once the helper has ended.
  int pidfd() const { return pidfd_; }
  // Waits for the helper to end (it died, or is leaving); how it ended.
  process_end reap();
  // Kills it (SIGKILL) and waits for it. Safe while it runs an item: the pidfd names it alone.
  process_end kill();

 private:
  fork_server& server_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int fd_ = -1;
};

}  // namespace mpipool::detail
