#include "faults/stop_signals.hpp"

#include <signal.h>
#include <time.h>

#include <array>
#include <cerrno>
#include <cstdio>

#include "wire/doorbell.hpp"

namespace mpipool::detail {

namespace {

constexpr std::array<int, 2> stop_signals{SIGTERM, SIGINT};
struct sigaction previous[NSIG];
int depth = 0;  // stop_signal_handlers scopes alive

// Only lock-free atomics may be shared with a handler. The first signal and when it came are one
// word, (milliseconds << 8) | signal, set by one compare-and-swap: a handler that loses the race
// on another thread reads both at once. (Two words, set one after the other, let it read the
// signal without its time, take itself for a second signal a second later, and kill the process
// before the journal is synced.)
std::atomic<long long> requested{0};
std::atomic<doorbell*> bell_to_ring{nullptr};
static_assert(std::atomic<long long>::is_always_lock_free && std::atomic<doorbell*>::is_always_lock_free);

constexpr int signal_bits = 8;
constexpr long long signal_mask = (1LL << signal_bits) - 1;

// A repeat this soon after the first signal is the same request delivered twice.
constexpr long long same_request_ms = 1000;

long long now_ms() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);  // async-signal-safe
  return static_cast<long long>(now.tv_sec) * 1000 + now.tv_nsec / 1'000'000;
}

void on_stop_signal(int signal) {
  const int saved_errno = errno;  // the futex syscall may change it under the interrupted code
  long long first = 0;
  if (requested.compare_exchange_strong(first, (now_ms() << signal_bits) | (signal & signal_mask))) {
    // ring() is a lock-free atomic increment and a futex wake: no lock, no allocation.
    if (doorbell* bell = bell_to_ring.load()) bell->ring();
  } else if (now_ms() - (first >> signal_bits) >= same_request_ms) {
    // Asked again: stop waiting for the pool to wind down.
    struct sigaction fallback {};
    fallback.sa_handler = SIG_DFL;
    sigemptyset(&fallback.sa_mask);
    sigaction(signal, &fallback, nullptr);
    raise(signal);
  }
  errno = saved_errno;
}

bool handled_here(int signal) {
  struct sigaction now {};
  sigaction(signal, nullptr, &now);
  return now.sa_handler == on_stop_signal;
}

}  // namespace

stop_signal_handlers::stop_signal_handlers() {
  if (depth++ > 0) return;
  requested.store(0);  // a new pool: an earlier pool's stop is no request to this one
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  // Blocking MPI and futex calls resume after the handler rather than fail with EINTR.
  action.sa_flags = SA_RESTART;
  for (int signal : stop_signals) sigaction(signal, &action, &previous[signal]);
}

stop_signal_handlers::~stop_signal_handlers() {
  if (--depth > 0) return;
  // A handler the caller installed while the pool ran is theirs to keep.
  for (int signal : stop_signals)
    if (handled_here(signal)) sigaction(signal, &previous[signal], nullptr);
}

int requested_stop_signal() noexcept { return static_cast<int>(requested.load() & signal_mask); }

void ring_on_stop_signal(doorbell* bell) noexcept { bell_to_ring.store(bell); }

const char* stop_signal_name(int signal) noexcept {
  switch (signal) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    default: {
      static thread_local char name[24];
      std::snprintf(name, sizeof name, "signal %d", signal);
      return name;
    }
  }
}

}  // namespace mpipool::detail
