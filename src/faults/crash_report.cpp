#include "faults/crash_report.hpp"

#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "mpipool/detail/registry.hpp"

namespace mpipool::detail {

namespace {

constexpr std::array<int, 5> fatal_signals{SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
struct sigaction previous[NSIG];
char prefix[256];  // "mpipool: rank R on host H: "
int depth = 0;     // crash_report scopes alive
std::atomic<bool> reporting{false};
bool exit_hook_registered = false;

// A fixed table, not strsignal: the handler may call only async-signal-safe functions.
const char* signal_name(int signal) {
  switch (signal) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    default: return "unknown signal";
  }
}

void write_text(const char* text) {
  ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

void write_number(std::uint64_t value) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  char text[24];
  for (int i = 0; i < n; ++i) text[i] = digits[n - 1 - i];
  text[n] = '\0';
  write_text(text);
}

void describe_running_task() {
  auto& task = current_task();
  if (!task.active.load()) {
    write_text(" outside any task\n");
    return;
  }
  write_text(" while running item ");
  write_number(task.item.load());
  write_text(" of task ");
  const char* name = task.name.load();
  write_text(name != nullptr ? name : "?");
  write_text("\n");
}

void on_fatal_signal(int signal) {
  write_text(prefix);
  write_text("process killed by signal ");
  write_number(static_cast<std::uint64_t>(signal));
  write_text(" (");
  write_text(signal_name(signal));
  write_text(")");
  describe_running_task();
  // Hand over to whoever handled it before (Open MPI prints a backtrace), then die of it.
  sigaction(signal, &previous[signal], nullptr);
  raise(signal);
}

void on_exit_during_task() {
  // atexit hooks cannot be removed: once the report is uninstalled this one does nothing.
  if (!reporting.load() || !current_task().active.load()) return;
  write_text(prefix);
  write_text("exit() called");
  describe_running_task();
  std::_Exit(EXIT_FAILURE);  // an exit inside a task is a failure, whatever code it gave
}

void on_exit_in_helper(int status, void*) {
  if (current_task().active.load()) {
    write_text(prefix);
    write_text("exit(");
    write_number(static_cast<std::uint64_t>(status & 0xff));
    write_text(") called");
    describe_running_task();
  }
  std::_Exit(status);
}

bool handled_here(int signal) {
  struct sigaction now {};
  sigaction(signal, nullptr, &now);
  return now.sa_handler == on_fatal_signal;
}

}  // namespace

crash_report::crash_report(int rank, const std::string& host) {
  static_assert(sizeof prefix == std::tuple_size_v<decltype(outer_prefix_)>);
  std::memcpy(outer_prefix_.data(), prefix, sizeof prefix);
  std::snprintf(prefix, sizeof prefix, "mpipool: rank %d on host %s: ", rank, host.c_str());
  if (depth++ > 0) return;
  struct sigaction action {};
  action.sa_handler = on_fatal_signal;
  sigemptyset(&action.sa_mask);
  for (int signal : fatal_signals) sigaction(signal, &action, &previous[signal]);
  if (!exit_hook_registered) exit_hook_registered = std::atexit(on_exit_during_task) == 0;
  reporting.store(true);
}

void crash_report_in_helper() {
  for (int signal : fatal_signals) {
    previous[signal] = {};
    previous[signal].sa_handler = SIG_DFL;
    sigemptyset(&previous[signal].sa_mask);
  }
  // Registered last, so it runs first: before the hooks the helper inherited from its rank.
  ::on_exit(on_exit_in_helper, nullptr);
}

crash_report::~crash_report() {
  std::memcpy(prefix, outer_prefix_.data(), sizeof prefix);
  if (--depth > 0) return;
  reporting.store(false);
  // A handler the caller installed while the pool ran is theirs to keep.
  for (int signal : fatal_signals)
    if (handled_here(signal)) sigaction(signal, &previous[signal], nullptr);
}

}  // namespace mpipool::detail
