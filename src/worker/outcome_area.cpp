#include "worker/outcome_area.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>
#include <system_error>

#include "mpipool/detail/outcomes.hpp"

namespace mpipool::detail {

namespace {

constexpr std::size_t outcome_prefix = 1 + sizeof(std::uint64_t);  // status | size
constexpr std::size_t header_room = 64;  // one cache line, so that the data starts aligned

// The size of the outcome at the start of `bytes`, or 0 when it is not whole there.
std::size_t outcome_size(std::span<const char> bytes) {
  if (bytes.size() >= 2 && static_cast<std::uint8_t>(bytes[0]) == static_cast<std::uint8_t>(outcome_status::fixed_success)) {
    const std::size_t payload = static_cast<std::uint8_t>(bytes[1]);
    return payload > bytes.size() - 2 ? 0 : 2 + payload;
  }
  if (bytes.size() < outcome_prefix) return 0;
  std::uint64_t payload = 0;
  std::memcpy(&payload, bytes.data() + 1, sizeof payload);
  if (payload > bytes.size() - outcome_prefix) return 0;
  return outcome_prefix + payload;
}

}  // namespace

outcome_area::outcome_area(std::size_t capacity) : capacity_(capacity) {
  static_assert(sizeof(header) <= header_room);
  fd_ = ::memfd_create("mpipool-outcomes", MFD_CLOEXEC);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "mpipool: shared memory for a helper process");
  if (::ftruncate(fd_, static_cast<off_t>(header_room + capacity)) != 0) {
    const int error = errno;
    ::close(fd_);
    throw std::system_error(error, std::generic_category(), "mpipool: shared memory for a helper process");
  }
  map(true);
}

outcome_area::outcome_area(attach existing) : capacity_(0), fd_(existing.shared_memory) {
  struct stat size {};
  if (::fstat(fd_, &size) != 0 || static_cast<std::size_t>(size.st_size) <= header_room)
    throw std::runtime_error("mpipool: a helper process got no shared memory from its rank");
  capacity_ = static_cast<std::size_t>(size.st_size) - header_room;
  map(false);
}

void outcome_area::map(bool fresh) {
  mapped_ = header_room + capacity_;
  void* at = ::mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (at == MAP_FAILED) {
    const int error = errno;
    ::close(fd_);
    throw std::system_error(error, std::generic_category(), "mpipool: shared memory for a helper process");
  }
  // The rank makes the header; the helper finds it made (a memfd starts zeroed either way).
  header_ = fresh ? new (at) header{} : static_cast<header*>(at);
  data_ = static_cast<char*>(at) + header_room;
}

outcome_area::~outcome_area() {
  ::munmap(header_, mapped_);
  ::close(fd_);
}

void outcome_area::publish(std::span<const char> bytes) {
  const std::uint64_t at = header_->bytes.load(std::memory_order_relaxed);  // only the helper writes it meanwhile
  std::memcpy(data_ + at, bytes.data(), bytes.size());
  header_->bytes.store(at + bytes.size(), std::memory_order_release);
}

std::uint32_t outcome_area::now_ms() {
  const auto since_epoch = std::chrono::steady_clock::now().time_since_epoch();
  return static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count());
}

void outcome_area::mark_running(std::uint32_t index) {
  header_->running.store(std::uint64_t{index} << 32 | now_ms(), std::memory_order_relaxed);
}

void outcome_area::reset_for_run() {
  clear();
  header_->stop.store(false, std::memory_order_relaxed);
  header_->decoded.store(0, std::memory_order_relaxed);
  mark_running(0);
}

outcome_area::running_item outcome_area::running() const {
  const std::uint64_t word = header_->running.load(std::memory_order_relaxed);
  const auto began = static_cast<std::uint32_t>(word);
  const std::uint32_t elapsed = now_ms() - began;  // modulo 2^32: right for 49 days
  return {static_cast<std::uint32_t>(word >> 32), std::chrono::milliseconds(elapsed)};
}

std::uint32_t outcome_area::count_outcomes(std::span<const char> bytes) {
  std::uint32_t count = 0;
  while (const std::size_t size = outcome_size(bytes)) {
    bytes = bytes.subspan(size);
    ++count;
  }
  return count;
}

std::size_t outcome_area::outcomes_length(std::span<const char> bytes, std::uint32_t count) {
  std::size_t length = 0;
  for (; count > 0; --count) {
    const std::size_t size = outcome_size(bytes.subspan(length));
    if (size == 0) break;
    length += size;
  }
  return length;
}

}  // namespace mpipool::detail
