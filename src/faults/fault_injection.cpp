#include "faults/fault_injection.hpp"

#include <array>
#include <atomic>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>

namespace mpipool::detail {

namespace {

constexpr std::size_t fault_points = 3;

struct injected_faults {
  std::atomic<bool> any{false};
  std::mutex mutex;
  std::array<std::optional<std::string>, fault_points> messages;
};

injected_faults& faults() {
  static injected_faults instance;
  return instance;
}

}  // namespace

void inject_fault(fault_point where, std::string message) {
  auto& f = faults();
  std::lock_guard lock(f.mutex);
  f.messages[static_cast<std::size_t>(where)] = std::move(message);
  f.any.store(true, std::memory_order_release);
}

void raise_injected_fault(fault_point where) {
  auto& f = faults();
  if (!f.any.load(std::memory_order_relaxed)) return;
  std::optional<std::string> message;
  {
    std::lock_guard lock(f.mutex);
    message = std::exchange(f.messages[static_cast<std::size_t>(where)], std::nullopt);
  }
  if (message) throw std::runtime_error(*message);
}

namespace {
std::atomic<long long> journal_io_delay_ms{0};
}

void slow_journal_io(std::chrono::milliseconds delay) { journal_io_delay_ms.store(delay.count()); }

void wait_as_slow_journal_io() {
  if (const long long ms = journal_io_delay_ms.load(std::memory_order_relaxed); ms > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

}  // namespace mpipool::detail
