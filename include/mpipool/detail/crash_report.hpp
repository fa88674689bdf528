#pragma once
// When a task kills its process (a signal, or exit() in the middle of a task), say which rank,
// host, task and item on stderr before the process goes, so that the job's log names the culprit.

#include <string>

namespace mpipool::detail {

// Idempotent; later calls only update the rank and host.
void install_crash_report(int rank, const std::string& host);

}  // namespace mpipool::detail
