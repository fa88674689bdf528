#include "worker/helper_process.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace mpipool::detail {

namespace {

struct frame_header {
  frame_kind kind;
  std::uint64_t size;
} __attribute__((packed));

// Sends all of `parts` with as few system calls as the socket allows: one, mostly.
bool write_all(int fd, std::span<iovec> parts) {
  while (!parts.empty()) {
    msghdr message{};
    message.msg_iov = parts.data();
    message.msg_iovlen = std::min<std::size_t>(parts.size(), IOV_MAX);
    const ssize_t n = ::sendmsg(fd, &message, MSG_NOSIGNAL);  // a gone helper is no SIGPIPE
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    auto left = static_cast<std::size_t>(n);
    while (!parts.empty() && left >= parts.front().iov_len) {
      left -= parts.front().iov_len;
      parts = parts.subspan(1);
    }
    if (left > 0) {
      parts.front().iov_base = static_cast<char*>(parts.front().iov_base) + left;
      parts.front().iov_len -= left;
    }
  }
  return true;
}

bool read_all(int fd, char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::read(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

process_end wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return {};
  }
  if (WIFSIGNALED(status)) return {WTERMSIG(status), -1};
  return {0, WEXITSTATUS(status)};
}

}  // namespace

bool write_frame(int fd, frame_kind kind, std::initializer_list<std::span<const char>> parts) {
  frame_header header{kind, 0};
  for (auto part : parts) header.size += part.size();
  constexpr std::size_t most_parts = 8;
  if (parts.size() >= most_parts) throw std::logic_error("mpipool: a frame of too many parts");
  std::array<iovec, most_parts> pieces{};
  std::size_t count = 0;
  pieces[count++] = {&header, sizeof header};
  for (auto part : parts)
    if (!part.empty()) pieces[count++] = {const_cast<char*>(part.data()), part.size()};
  return write_all(fd, std::span<iovec>(pieces.data(), count));
}

read_status read_frame(int fd, frame_kind& kind, byte_buffer& payload, int timeout_ms) {
  pollfd waiting{fd, POLLIN, 0};
  while (timeout_ms >= 0) {  // a read that may wait for ever blocks in read itself
    const int ready = ::poll(&waiting, 1, timeout_ms);
    if (ready > 0) break;
    if (ready == 0) return read_status::timed_out;
    if (errno != EINTR) return read_status::closed;
  }
  frame_header header{};
  if (!read_all(fd, reinterpret_cast<char*>(&header), sizeof header)) return read_status::closed;
  kind = header.kind;
  payload.resize(header.size);
  if (!read_all(fd, payload.data(), payload.size())) return read_status::closed;
  return read_status::frame;
}

helper_process::helper_process(const std::function<void(int fd)>& main) {
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0)
    throw std::system_error(errno, std::generic_category(), "mpipool: socketpair for a helper process");
  const pid_t parent = ::getpid();
  std::fflush(nullptr);  // or what the rank's stdio holds would be written twice
  pid_ = ::fork();
  if (pid_ < 0) {
    const int error = errno;
    ::close(ends[0]);
    ::close(ends[1]);
    throw std::system_error(error, std::generic_category(), "mpipool: fork of a helper process");
  }
  if (pid_ == 0) {
    ::close(ends[0]);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) std::_Exit(EXIT_FAILURE);  // the rank died before the line above
    try {
      main(ends[1]);
    } catch (...) {
      std::_Exit(EXIT_FAILURE);
    }
    std::fflush(nullptr);
    std::_Exit(EXIT_SUCCESS);
  }
  ::close(ends[1]);
  fd_ = ends[0];
}

helper_process::~helper_process() {
  if (fd_ >= 0) ::close(fd_);
  if (pid_ > 0) wait_for(pid_);
}

process_end helper_process::reap() {
  const process_end end = wait_for(pid_);
  pid_ = -1;
  return end;
}

process_end helper_process::kill() {
  ::kill(pid_, SIGKILL);
  return reap();
}

}  // namespace mpipool::detail
