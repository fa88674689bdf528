#pragma once
// SIGTERM (Slurm's time limit, scancel) and SIGINT (Ctrl-C) while a pool runs: the handler only
// records the signal and rings the master's bell; the progress thread does the rest (it stops
// handing out work, cuts running chunks short and says what was interrupted).

#include <atomic>

namespace mpipool::detail {

class doorbell;

// Installs the handlers for SIGTERM and SIGINT for as long as it lives, on every rank, and puts
// the process's previous ones back when it goes. The first signal is recorded; a repeat within
// a second is taken as the same request (Slurm signals every task, and srun forwards the signal
// to them as well); a later one restores the default action and re-raises it, so that pressing
// Ctrl-C twice always ends the process. Scopes may nest: the outermost one installs and restores.
class stop_signal_handlers {
 public:
  stop_signal_handlers();
  ~stop_signal_handlers();
  stop_signal_handlers(const stop_signal_handlers&) = delete;
  stop_signal_handlers& operator=(const stop_signal_handlers&) = delete;
};

// The signal that asked this process to stop while its pool ran, or 0.
int requested_stop_signal() noexcept;
// The bell the handler rings, so that a waiting progress thread acts at once; null for none.
// Set by the master while its progress thread runs.
void ring_on_stop_signal(doorbell* bell) noexcept;
// "SIGTERM", "SIGINT", or "signal N" for another (e.g. "signal 10").
const char* stop_signal_name(int signal) noexcept;

}  // namespace mpipool::detail
