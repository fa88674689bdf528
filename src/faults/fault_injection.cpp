#include "faults/fault_injection.hpp"

#include <array>
#include <atomic>
#include <mutex>
#include <optional>
#include <stdexcept>
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

}  // namespace mpipool::detail
