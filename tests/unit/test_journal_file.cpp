// The journal file on its own (mpipool/detail/journal_file.hpp), without MPI: processes that
// share one file (forked here), a file made by several at once, damage after and before a sync
// point, a writer killed in the middle of a record, and a write that fails part way.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "mpipool/detail/journal_file.hpp"
#include "mpipool/errors.hpp"

namespace {

using mpipool::detail::byte_buffer;
using mpipool::detail::call_identity;
using mpipool::detail::journal_call;

std::filesystem::path scratch_file(const std::string& what) {
  return std::filesystem::temp_directory_path() / ("mpipool-journal-file-" + what + "-" + std::to_string(::getpid()));
}

// Where a reader sees a write of a few pages half done (tmpfs copies and shows a write a page at
// a time; ext4 only past its large folios, megabytes), so that a reader that does not wait for
// the writer's lock would see one: /dev/shm when there is one.
std::filesystem::path racy_file(const std::string& what) {
  const std::filesystem::path shm = "/dev/shm";
  if (std::filesystem::is_directory(shm) && ::access(shm.c_str(), W_OK) == 0)
    return shm / ("mpipool-journal-file-" + what + "-" + std::to_string(::getpid()));
  return scratch_file(what);
}

struct scratch {
  explicit scratch(const std::string& what, bool racy = false) : path(racy ? racy_file(what) : scratch_file(what)) {
    std::filesystem::remove(path);
  }
  ~scratch() { std::filesystem::remove(path); }
  std::filesystem::path path;
};

const call_identity identity{"test_task", "std::string", 0, 0};

// The call `name` of `file`, loaded.
std::unique_ptr<journal_call> open_call(const std::filesystem::path& file, const std::string& name,
                                        std::optional<std::uint64_t> items = std::nullopt) {
  auto call = std::make_unique<journal_call>(mpipool::journal{file, name}, identity, items);
  call->start();
  call->wait_loaded();
  return call;
}

std::string value_of(std::uint64_t index, std::size_t size) {
  std::string v(size, static_cast<char>('a' + index % 26));
  v.replace(0, std::to_string(index).size(), std::to_string(index));
  return v;
}

void add_value(journal_call& call, std::uint64_t index, std::size_t size) {
  call.add(index, 0, [&](byte_buffer& out) { mpipool::detail::encode_alone(out, value_of(index, size)); });
}

// Every value the call `name` holds, checked: how many there are.
std::size_t check_values(const std::filesystem::path& file, const std::string& name, std::size_t size) {
  auto call = open_call(file, name);
  for (const auto& saved : call->all_saved())
    EXPECT_EQ(call->restore<std::string>(saved.index, saved), value_of(saved.index, size)) << "item " << saved.index;
  return call->all_saved().size();
}

// Runs `body` in a child process; returns its wait status.
int in_child(const std::function<int()>& body) {
  std::fflush(nullptr);
  const pid_t child = ::fork();
  if (child == 0) {
    int code = 1;
    try {
      code = body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
    }
    std::fflush(nullptr);
    ::_exit(code);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return status;
}

std::uintmax_t size_of(const std::filesystem::path& file) { return std::filesystem::file_size(file); }

void overwrite(const std::filesystem::path& file, std::uintmax_t at, const std::string& bytes) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(at));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void append(const std::filesystem::path& file, const std::string& bytes) {
  std::ofstream(file, std::ios::app | std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

constexpr std::size_t sync_record_size = 28;

}  // namespace

// A process appends records of 8 MiB, each one write(2) that the kernel copies, and shows, a
// page at a time (on tmpfs), and tells another process as it starts each; that one opens the same
// file at once, in the middle of the write, reading the file and looking at its end. Every record
// the writer wrote must be there at the end.
TEST(journal_file, a_forked_writer_and_an_opener_share_the_file) {
  scratch s("shared", true);
  constexpr std::size_t records = 8, size = std::size_t{8} << 20;
  open_call(s.path, "opener");  // the file exists before the two start
  int started[2];
  ASSERT_EQ(::pipe(started), 0);
  std::fflush(nullptr);
  const pid_t writer = ::fork();
  if (writer == 0) {
    ::close(started[0]);
    int code = 1;
    try {
      auto call = open_call(s.path, "writer", records);
      for (std::size_t i = 0; i < records; ++i) {
        add_value(*call, i, size);
        const char go = 1;
        if (::write(started[1], &go, 1) != 1) break;
        call->write_added();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the opener reads meanwhile
      }
      call->sync_now();
      code = 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "writer: %s\n", e.what());
    }
    ::_exit(code);
  }
  ::close(started[1]);
  int opens = 0;
  char go = 0;
  while (::read(started[0], &go, 1) == 1) {
    try {
      open_call(s.path, "opener");
      ++opens;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "open " << opens << ": " << e.what();
    }
  }
  ::close(started[0]);
  int status = 0;
  ::waitpid(writer, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the writer failed";
  EXPECT_EQ(opens, int{records});
  EXPECT_EQ(check_values(s.path, "writer", size), records) << "after " << opens << " opens beside the writer";
}

// Four processes make a fresh journal at the same moment, each for a call of its own: the file
// is made once, and every call's records are in it.
TEST(journal_file, processes_that_make_a_journal_at_once_share_it) {
  constexpr int trials = 40, makers = 4, records = 20;
  for (int trial = 0; trial < trials && !HasFailure(); ++trial) {
    scratch s("made-at-once", true);
    int go[2];
    ASSERT_EQ(::pipe(go), 0);
    std::fflush(nullptr);
    std::vector<pid_t> children;
    for (int k = 0; k < makers; ++k) {
      const pid_t child = ::fork();
      if (child == 0) {
        ::close(go[1]);
        char byte;
        if (::read(go[0], &byte, 1) != 0) ::_exit(3);  // all start when the pipe closes
        int code = 1;
        try {
          auto call = open_call(s.path, "maker-" + std::to_string(k), records);
          for (int i = 0; i < records; ++i) add_value(*call, static_cast<std::uint64_t>(i), 100);
          call->write_added();
          call->sync_now();
          code = 0;
        } catch (const std::exception& e) {
          std::fprintf(stderr, "maker %d: %s\n", k, e.what());
        }
        ::_exit(code);
      }
      children.push_back(child);
    }
    ::close(go[0]);
    ::close(go[1]);
    for (pid_t child : children) {
      int status = 0;
      ::waitpid(child, &status, 0);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "trial " << trial << ": a maker failed";
    }
    for (int k = 0; k < makers; ++k) {
      try {
        EXPECT_EQ(check_values(s.path, "maker-" + std::to_string(k), 100), std::size_t{records}) << "trial " << trial;
      } catch (const std::exception& e) {
        ADD_FAILURE() << "trial " << trial << ", maker " << k << ": " << e.what();
      }
    }
  }
}

// Records after the last sync point that the disk lost or garbled (a node crash, NFS write-back):
// cut off with a warning, so that their items are computed again; the records before stay.
TEST(journal_file, damage_after_the_last_sync_point_is_cut_off) {
  scratch s("damaged-tail");
  {
    auto call = open_call(s.path, "values", 100);
    for (std::uint64_t i = 0; i < 40; ++i) add_value(*call, i, 50);
    call->sync_now();
  }
  const std::uintmax_t synced = size_of(s.path);
  {
    auto call = open_call(s.path, "values", 100);
    for (std::uint64_t i = 40; i < 80; ++i) add_value(*call, i, 50);
    call->write_added();
  }  // closing syncs: take that sync point off again, as a crash before it would
  std::filesystem::resize_file(s.path, size_of(s.path) - sync_record_size);
  const std::uintmax_t record = (size_of(s.path) - synced) / 40;
  overwrite(s.path, synced + 300, std::string(200, '\0'));  // zeros where records were
  const std::size_t kept = 40 + 300 / record;
  testing::internal::CaptureStderr();
  EXPECT_EQ(check_values(s.path, "values", 50), kept);
  const std::string warning = testing::internal::GetCapturedStderr();
  EXPECT_NE(warning.find("damaged records from byte"), std::string::npos) << warning;
  EXPECT_NE(warning.find("computed again"), std::string::npos) << warning;
  // Cut off for good: the next load finds nothing to say.
  testing::internal::CaptureStderr();
  EXPECT_EQ(check_values(s.path, "values", 50), kept);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");

  // Garbage after the end (a file extended, its data never written): cut off too.
  append(s.path, std::string(4096, '\0'));
  testing::internal::CaptureStderr();
  EXPECT_EQ(check_values(s.path, "values", 50), kept);
  EXPECT_NE(testing::internal::GetCapturedStderr().find("damaged records"), std::string::npos);
}

// Damage before a sync point: those bytes were on disk when the file was synced, so the disk
// changed them. That is corruption, and an error, not something to cut off.
TEST(journal_file, damage_before_a_sync_point_is_an_error) {
  scratch s("damaged-synced");
  {
    auto call = open_call(s.path, "values", 100);
    for (std::uint64_t i = 0; i < 40; ++i) add_value(*call, i, 50);
  }  // closing syncs, and a sync record follows
  const std::uintmax_t size = size_of(s.path);
  overwrite(s.path, size / 2, std::string(3, 'x'));
  try {
    open_call(s.path, "values");
    ADD_FAILURE() << "damage before a sync point was read";
  } catch (const mpipool::journal_error& e) {
    EXPECT_NE(std::string(e.what()).find("corrupt record"), std::string::npos) << e.what();
    EXPECT_EQ(e.path(), s.path.string());
  }
  EXPECT_EQ(size_of(s.path), size) << "a corrupt journal is left as it is";
}

// A process killed in the middle of a record leaves it cut short; the next process to append
// cuts it off first, so that its own records do not follow a broken one (which would make the
// whole file unreadable once a sync point came after them).
TEST(journal_file, a_record_left_cut_short_is_cut_off_before_the_next_append) {
  scratch s("killed-writer");
  {
    auto call = open_call(s.path, "first", 10);
    for (std::uint64_t i = 0; i < 10; ++i) add_value(*call, i, 50);
  }
  // What a kill in the middle of write(2) leaves: the first half of a record.
  {
    auto other = open_call(s.path, "killed", 10);
    add_value(*other, 0, 5000);
    other->sync_now();
  }
  const std::uintmax_t whole = size_of(s.path);
  std::filesystem::resize_file(s.path, whole - sync_record_size - 2500);
  testing::internal::CaptureStderr();
  {
    auto call = open_call(s.path, "second", 10);  // its load cuts it off
    for (std::uint64_t i = 0; i < 10; ++i) add_value(*call, i, 50);
  }
  EXPECT_NE(testing::internal::GetCapturedStderr().find("a record cut short"), std::string::npos);
  // The same, with the broken record left behind after the second call loaded: the append cuts
  // it off.
  {
    auto call = open_call(s.path, "third", 10);
    append(s.path, std::string(1000, 'q'));  // a killed process's half record
    testing::internal::CaptureStderr();
    for (std::uint64_t i = 0; i < 10; ++i) add_value(*call, i, 50);
    call->sync_now();
    EXPECT_NE(testing::internal::GetCapturedStderr().find("damaged records"), std::string::npos);
  }
  testing::internal::CaptureStderr();
  EXPECT_EQ(check_values(s.path, "first", 50), 10u);
  EXPECT_EQ(check_values(s.path, "second", 50), 10u);
  EXPECT_EQ(check_values(s.path, "third", 50), 10u);
  EXPECT_EQ(check_values(s.path, "killed", 5000), 0u);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "") << "the file is whole again";
}

// A write that fails part way (a full disk; here a file size limit, RLIMIT_FSIZE, which fails
// it with EFBIG at a byte the test chooses) fails the call with journal_error, and leaves no
// record cut short behind: the file ends at a whole record.
TEST(journal_file, a_write_that_fails_part_way_leaves_whole_records) {
  scratch s("full");
  const int status = in_child([&] {
    ::signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of the signal
    auto call = open_call(s.path, "values", 100);
    for (std::uint64_t i = 0; i < 10; ++i) add_value(*call, i, 50);
    call->sync_now();
    const rlimit limit{static_cast<rlim_t>(size_of(s.path) + 1000), RLIM_INFINITY};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return 2;
    for (std::uint64_t i = 10; i < 100; ++i) add_value(*call, i, 50);
    try {
      call->write_added();
      call->sync_now();
    } catch (const mpipool::journal_error& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return std::string(e.what()).find("cannot write") != std::string::npos ? 0 : 4;
    }
    return 5;  // no failure
  });
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  ASSERT_EQ(WEXITSTATUS(status), 0);
  testing::internal::CaptureStderr();
  EXPECT_EQ(check_values(s.path, "values", 50), 10u);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "") << "nothing was left cut short";
}

// An earlier format, or another file, is refused with a journal_error that says which.
TEST(journal_file, another_format_is_refused) {
  scratch s("format");
  std::ofstream(s.path) << "mpipool journal 1\nCALL";
  try {
    open_call(s.path, "values");
    ADD_FAILURE() << "a journal of format 1 was read";
  } catch (const mpipool::journal_error& e) {
    EXPECT_NE(std::string(e.what()).find("another version of mpipool (mpipool journal 1)"), std::string::npos)
        << e.what();
  }
  std::ofstream(s.path) << "not a journal at all";
  EXPECT_THROW(open_call(s.path, "values"), mpipool::journal_error);
}

// The identity of the call: a task whose state or result type differs is another task.
TEST(journal_file, another_identity_is_refused) {
  scratch s("identity");
  {
    auto call = open_call(s.path, "values", 10);
    add_value(*call, 0, 50);
  }
  auto expect_refused = [&](call_identity other, const char* says) {
    journal_call call(mpipool::journal{s.path, "values"}, std::move(other), 10);
    call.start();
    try {
      call.wait_loaded();
      ADD_FAILURE() << "accepted: " << says;
    } catch (const mpipool::journal_error& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  expect_refused({"test_task", "std::string", 8, 1234}, "with other parameters");
  expect_refused({"test_task", "int", 0, 0}, "results of type 'std::string', not 'int'");
  expect_refused({"other_task", "std::string", 0, 0}, "by the task 'test_task', not 'other_task'");
  EXPECT_EQ(check_values(s.path, "values", 50), 1u);
}
