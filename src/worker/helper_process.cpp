#include "worker/helper_process.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/uio.h>
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

enum class readiness { readable, ended, timed_out };
// Waits at most `timeout_ms` (negative: for ever) until `fd` has bytes to read, or, with a
// `watched` pidfd, until that process has ended and `fd` has nothing left.
readiness wait_readable(int fd, int watched, int timeout_ms) {
  std::array<pollfd, 2> waiting{pollfd{fd, POLLIN, 0}, pollfd{watched, POLLIN, 0}};
  const nfds_t count = watched >= 0 ? 2 : 1;
  for (;;) {
    const int ready = ::poll(waiting.data(), count, timeout_ms);
    if (ready == 0) return readiness::timed_out;
    if (ready < 0) {
      if (errno == EINTR) continue;
      return readiness::ended;
    }
    if (waiting[0].revents != 0) return readiness::readable;  // bytes, or the end of the socket
    return readiness::ended;
  }
}

bool read_all(int fd, char* data, std::size_t size, int watched) {
  while (size > 0) {
    // A frame the helper did not finish before it died would otherwise be waited for as long
    // as a child of its task keeps the socket open.
    if (watched >= 0 && wait_readable(fd, watched, -1) != readiness::readable) return false;
    const ssize_t n = ::read(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

void wait_until_ended(int pidfd) {
  pollfd ended{pidfd, POLLIN, 0};
  while (::poll(&ended, 1, -1) < 0 && errno == EINTR) {
  }
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

read_status read_frame(int fd, frame_kind& kind, byte_buffer& payload, int timeout_ms, int watched) {
  // A read that may wait for ever, with nothing to watch, blocks in read itself.
  if (timeout_ms >= 0 || watched >= 0) {
    const readiness ready = wait_readable(fd, watched, timeout_ms);
    if (ready == readiness::timed_out) return read_status::timed_out;
    if (ready == readiness::ended) return read_status::closed;
  }
  frame_header header{};
  if (!read_all(fd, reinterpret_cast<char*>(&header), sizeof header, watched)) return read_status::closed;
  kind = header.kind;
  payload.resize(header.size);
  if (!read_all(fd, payload.data(), payload.size(), watched)) return read_status::closed;
  return read_status::frame;
}

helper_process::helper_process(fork_server& server, int shared_memory, std::uint32_t flags) : server_(server) {
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0)
    throw std::system_error(errno, std::generic_category(), "mpipool: socketpair for a helper process");
  try {
    const fork_server::started_helper started = server.start(ends[1], shared_memory, flags);
    pid_ = started.pid;
    pidfd_ = started.pidfd;
  } catch (...) {
    ::close(ends[0]);
    ::close(ends[1]);
    throw;
  }
  ::close(ends[1]);
  fd_ = ends[0];
}

helper_process::~helper_process() {
  if (fd_ >= 0) ::close(fd_);
  if (pidfd_ >= 0) {
    try {
      reap();
    } catch (...) {  // the server is gone: so is the helper
    }
  }
}

process_end helper_process::reap() {
  wait_until_ended(pidfd_);
  ::close(pidfd_);
  pidfd_ = -1;
  return server_.wait_end(pid_);
}

process_end helper_process::kill() {
  signal_pidfd(pidfd_, SIGKILL);
  return reap();
}

}  // namespace mpipool::detail
