#pragma once
// When a task kills its process (a signal, or exit() in the middle of a task), say which rank,
// host, task and item on stderr before the process goes, so that the job's log names the culprit.

#include <array>
#include <string>

namespace mpipool::detail {

// Reports crashes for as long as it lives: installs handlers for the fatal signals (SIGSEGV,
// SIGBUS, SIGFPE, SIGILL, SIGABRT) and an exit hook, and puts the process's previous handlers
// back when it goes, so a code that manages MPI itself keeps its own. Scopes may nest: an inner
// one only names its rank and host until it goes, and the outermost one restores the original
// handlers.
class crash_report {
 public:
  crash_report(int rank, const std::string& host);
  ~crash_report();
  crash_report(const crash_report&) = delete;
  crash_report& operator=(const crash_report&) = delete;

 private:
  std::array<char, 256> outer_prefix_{};  // what the enclosing scope printed
};

// In a helper process forked to run tasks (isolated workers): a crash is still reported, then
// kills the helper alone, by the signal's default action (not the MPI library's handler); and
// exit() in a task is reported and ends the helper at once with the status it gave, running
// none of the rank's exit handlers.
void crash_report_in_helper();

}  // namespace mpipool::detail
