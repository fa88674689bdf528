#pragma once
// Failures on demand at the places where the master's progress thread talks to its workers, so
// that tests can check where each failure ends up: the call that caused it, or, when no single
// call can be blamed, every pending call followed by a job abort. Nothing is injected unless a
// test asks; the check on the hot path is one relaxed atomic load.

#include <chrono>
#include <string>

namespace mpipool::detail {

enum class fault_point {
  chunk_send,       // sending a chunk to a worker: the call whose chunk it is fails
  results_decode,   // reading a results message: the call that worker was running fails
  results_receive,  // receiving a results message: no call to blame; the job aborts
};

// The next time the master reaches `where`, it throws std::runtime_error(`message`) there.
void inject_fault(fault_point where, std::string message);
// Throws the fault injected at `where`, once, if there is one.
void raise_injected_fault(fault_point where);

// A slow file system, for the journal: from now on every write and sync of a journal file
// takes `delay` longer (zero: no longer). Its thread waits, the progress thread must not.
void slow_journal_io(std::chrono::milliseconds delay);
// Called before each write and sync of a journal file.
void wait_as_slow_journal_io();

}  // namespace mpipool::detail
