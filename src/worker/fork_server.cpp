#include "worker/fork_server.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace mpipool::detail {

namespace {

// One message between the rank and the server; see fork_server.hpp.
struct message {
  enum kind_type : std::int32_t { start = 1, started = 2, ended = 3 } kind;
  std::int32_t pid;     // started, ended: the helper's (-1: it could not be started)
  std::int32_t first;   // start: the flags; started: the errno when pid is -1; ended: the signal
  std::int32_t second;  // ended: the exit status
};

constexpr std::size_t most_descriptors = 2;

// Sends `sent` with `fds` beside it. False when the other side has gone.
bool send_message(int fd, const message& sent, std::span<const int> fds) {
  iovec data{const_cast<message*>(&sent), sizeof sent};
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * most_descriptors)> control{};
  msghdr header{};
  header.msg_iov = &data;
  header.msg_iovlen = 1;
  if (!fds.empty()) {
    header.msg_control = control.data();
    header.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* rights = CMSG_FIRSTHDR(&header);
    rights->cmsg_level = SOL_SOCKET;
    rights->cmsg_type = SCM_RIGHTS;
    rights->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(rights), fds.data(), sizeof(int) * fds.size());
  }
  for (;;) {
    if (::sendmsg(fd, &header, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof sent)) return true;
    if (errno != EINTR) return false;
  }
}

// Receives one message, and the descriptors beside it (close-on-exec) into `fds`, -1 where none
// came. False when the other side has gone.
bool receive_message(int fd, message& received, std::array<int, most_descriptors>& fds) {
  fds.fill(-1);
  iovec data{&received, sizeof received};
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * most_descriptors)> control{};
  msghdr header{};
  header.msg_iov = &data;
  header.msg_iovlen = 1;
  header.msg_control = control.data();
  header.msg_controllen = control.size();
  ssize_t n = 0;
  do {
    n = ::recvmsg(fd, &header, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return false;
  for (cmsghdr* part = CMSG_FIRSTHDR(&header); part != nullptr; part = CMSG_NXTHDR(&header, part)) {
    if (part->cmsg_level != SOL_SOCKET || part->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (part->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    std::memcpy(fds.data(), CMSG_DATA(part), sizeof(int) * std::min(count, most_descriptors));
  }
  return n == static_cast<ssize_t>(sizeof received);
}

process_end end_of(int status) {
  if (WIFSIGNALED(status)) return {WTERMSIG(status), -1};
  return {0, WEXITSTATUS(status)};
}

// Helpers catch SIGINT and SIGTERM and do nothing with them: a stop reaches every process of
// the job (Slurm signals them all, Ctrl-C the whole process group), and the rank ends the chunk
// after the item the helper runs. A handler, not SIG_IGN: a program a task execs gets the
// default action back.
void ignore_stop_signal(int) {}

// What the server changes in itself once forked, before it serves.
void become_server(int keep) {
  struct sigaction quiet {};
  quiet.sa_handler = ignore_stop_signal;
  sigemptyset(&quiet.sa_mask);
  quiet.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &quiet, nullptr);
  ::sigaction(SIGTERM, &quiet, nullptr);
  // The server reaps its helpers, and tasks their own children: whatever MPI made of SIGCHLD.
  ::signal(SIGCHLD, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // Descriptors marked close-on-exec are closed, as an exec'd helper would find them.
  std::vector<int> to_close;
  if (DIR* open_files = ::opendir("/proc/self/fd")) {
    while (const dirent* entry = ::readdir(open_files)) {
      const int fd = std::atoi(entry->d_name);
      if (fd <= STDERR_FILENO || fd == keep || fd == ::dirfd(open_files)) continue;
      const int flags = ::fcntl(fd, F_GETFD);
      if (flags >= 0 && (flags & FD_CLOEXEC) != 0) to_close.push_back(fd);
    }
    ::closedir(open_files);
  }
  for (int fd : to_close) ::close(fd);
}

struct child {
  pid_t pid;
  int pidfd;
};

[[noreturn]] void run_helper(helper_main main, int channel, int shared_memory, std::uint32_t flags) {
  try {
    main(channel, shared_memory, flags);
  } catch (...) {
    std::_Exit(EXIT_FAILURE);
  }
  std::fflush(nullptr);  // the helper's own output: its buffers held nothing else at the fork
  std::_Exit(EXIT_SUCCESS);
}

// Forks a helper; answers `started`.
void start_helper(int fd, helper_main main, const message& asked, const std::array<int, most_descriptors>& fds,
                  std::vector<child>& children) {
  message answer{message::started, -1, 0, 0};
  const pid_t server = ::getpid();
  pid_t pid = -1;
  if (fds[0] >= 0 && fds[1] >= 0) pid = ::fork();
  else errno = EBADF;
  if (pid == 0) {
    ::close(fd);
    for (const child& other : children) ::close(other.pidfd);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != server) std::_Exit(EXIT_FAILURE);  // the server died before the line above
    run_helper(main, fds[0], fds[1], static_cast<std::uint32_t>(asked.first));
  }
  int pidfd = -1;
  if (pid < 0) {
    answer.first = errno;
  } else {
    // Its own child, not yet reaped: the pid cannot name another process here.
    pidfd = open_pidfd(pid);
    if (pidfd < 0) {
      answer.first = errno;
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    } else {
      answer.pid = pid;
      children.push_back({pid, pidfd});
    }
  }
  for (int passed : fds)
    if (passed >= 0) ::close(passed);
  if (pidfd >= 0) send_message(fd, answer, std::span<const int>(&pidfd, 1));
  else send_message(fd, answer, {});
}

[[noreturn]] void serve_forks(int fd, helper_main main) {
  std::vector<child> children;
  std::vector<pollfd> watched;
  for (;;) {
    watched.assign(1, pollfd{fd, POLLIN, 0});
    for (const child& c : children) watched.push_back({c.pidfd, POLLIN, 0});
    if (::poll(watched.data(), watched.size(), -1) < 0) {
      if (errno == EINTR) continue;
      std::_Exit(EXIT_FAILURE);
    }
    // Helpers that ended: reap them and say how they ended.
    for (std::size_t i = watched.size() - 1; i >= 1; --i) {
      if (watched[i].revents == 0) continue;
      const child ended = children[i - 1];
      int status = 0;
      while (::waitpid(ended.pid, &status, 0) < 0 && errno == EINTR) {
      }
      const process_end how = end_of(status);
      ::close(ended.pidfd);
      children.erase(children.begin() + static_cast<std::ptrdiff_t>(i - 1));
      send_message(fd, {message::ended, ended.pid, how.signal, how.exit_status}, {});
    }
    if (watched[0].revents == 0) continue;
    message asked{};
    std::array<int, most_descriptors> fds{};
    if (!receive_message(fd, asked, fds)) {  // the rank closed the channel, or died
      for (const child& c : children) ::kill(c.pid, SIGKILL);
      for (const child& c : children) ::waitpid(c.pid, nullptr, 0);
      std::_Exit(EXIT_SUCCESS);
    }
    if (asked.kind == message::start) start_helper(fd, main, asked, fds, children);
    else
      for (int passed : fds)
        if (passed >= 0) ::close(passed);
  }
}

}  // namespace

int open_pidfd(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

bool signal_pidfd(int pidfd, int signal) { return ::syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0) == 0; }

fork_server::fork_server(helper_main main) {
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0)
    throw std::system_error(errno, std::generic_category(), "mpipool: socketpair for the helpers' fork server");
  const pid_t parent = ::getpid();
  std::fflush(nullptr);  // or the server's helpers would write what the rank's stdio holds
  pid_ = ::fork();
  if (pid_ < 0) {
    const int error = errno;
    ::close(ends[0]);
    ::close(ends[1]);
    throw std::system_error(error, std::generic_category(), "mpipool: fork of the helpers' fork server");
  }
  if (pid_ == 0) {
    ::close(ends[0]);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) std::_Exit(EXIT_FAILURE);  // the rank died before the line above
    become_server(ends[1]);
    serve_forks(ends[1], main);
  }
  ::close(ends[1]);
  fd_ = ends[0];
}

fork_server::~fork_server() {
  ::close(fd_);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

bool fork_server::receive(started_helper& started) {
  message received{};
  std::array<int, most_descriptors> fds{};
  if (!receive_message(fd_, received, fds))
    throw std::runtime_error("mpipool: the process that starts the isolated helpers has died");
  if (received.kind == message::started) {
    if (received.pid < 0 || fds[0] < 0)
      throw std::system_error(received.first, std::generic_category(), "mpipool: fork of a helper process");
    started = {received.pid, fds[0]};
    return true;
  }
  if (received.kind == message::ended) ended_[received.pid] = {received.first, received.second};
  for (int passed : fds)
    if (passed >= 0) ::close(passed);
  return false;
}

fork_server::started_helper fork_server::start(int channel, int shared_memory, std::uint32_t flags) {
  const std::array<int, 2> passed{channel, shared_memory};
  if (!send_message(fd_, {message::start, 0, static_cast<std::int32_t>(flags), 0}, passed))
    throw std::runtime_error("mpipool: the process that starts the isolated helpers has died");
  started_helper started{};
  while (!receive(started)) {
  }
  return started;
}

process_end fork_server::wait_end(pid_t pid) {
  for (;;) {
    if (auto it = ended_.find(pid); it != ended_.end()) {
      const process_end how = it->second;
      ended_.erase(it);
      return how;
    }
    started_helper none{};
    receive(none);  // only `ended` messages come while no start is asked
  }
}

}  // namespace mpipool::detail
