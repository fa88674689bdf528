#include "mpipool/detail/journal_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <utility>
#include <vector>

#include <boost/crc.hpp>

#include "faults/fault_injection.hpp"
#include "mpipool/errors.hpp"

namespace mpipool::detail {

namespace {

constexpr std::string_view file_magic = "mpipool journal 2\n";
constexpr std::string_view magic_stem = "mpipool journal ";
constexpr std::uint32_t call_record = 0x4c4c4143;   // "CALL"
constexpr std::uint32_t value_record = 0x554c4156;  // "VALU"
constexpr std::uint32_t sync_record = 0x434e5953;   // "SYNC"
constexpr std::uint64_t unknown_size = std::numeric_limits<std::uint64_t>::max();
constexpr std::size_t record_head = sizeof(std::uint32_t) + sizeof(std::uint64_t) + sizeof(std::uint32_t);
constexpr std::size_t record_tail = sizeof(std::uint32_t);
constexpr std::size_t sync_record_size = record_head + sizeof(std::uint64_t) + record_tail;

// The calls of one process take turns at the files, besides the flock (which orders them as
// well on a local file system): a lock manager that takes a process for one lock owner would
// not order them.
std::mutex& files_mutex() {
  static std::mutex m;
  return m;
}

template <class T>
void put(byte_buffer& out, const T& v) {
  const std::size_t at = out.size();
  out.resize(at + sizeof v);
  std::memcpy(out.data() + at, &v, sizeof v);
}
template <class T>
T get(const char* at) {
  T v;
  std::memcpy(&v, at, sizeof v);
  return v;
}

std::string errno_text(int error) { return std::strerror(error); }

std::size_t open_record(byte_buffer& out, std::uint32_t kind) {
  const std::size_t start = out.size();
  put(out, kind);
  put(out, std::uint64_t{0});  // the body's size and the head's CRC, filled by close_record
  put(out, std::uint32_t{0});
  return start;
}

// Fills in the head of the record that starts at `start` in `out`, and appends its tail.
void close_record(byte_buffer& out, std::size_t start) {
  char* head = out.data() + start;
  const std::uint64_t size = out.size() - start - record_head;
  std::memcpy(head + 4, &size, sizeof size);
  const std::uint32_t head_crc = crc32_of({head, 12});
  std::memcpy(head + 12, &head_crc, sizeof head_crc);
  const std::uint32_t body_crc = crc32_of({out.data() + start + record_head, size});
  put(out, body_crc);
}

// Whether the bytes at `at` are a whole, valid sync record that says that bytes past `offset`
// were on disk.
bool sync_record_covers(std::span<const char> record, std::uint64_t at, std::uint64_t offset) {
  if (record.size() < sync_record_size) return false;
  const char* head = record.data();
  if (get<std::uint32_t>(head) != sync_record || get<std::uint64_t>(head + 4) != sizeof(std::uint64_t)) return false;
  if (get<std::uint32_t>(head + 12) != crc32_of({head, 12})) return false;
  if (get<std::uint32_t>(head + record_head + 8) != crc32_of({head + record_head, 8})) return false;
  const auto synced = get<std::uint64_t>(head + record_head);
  return synced <= at && synced > offset;
}

}  // namespace

// Reads a file through a buffer of a megabyte or so: every record, of every call, is checked,
// and only this call's values are kept.
class journal_reader {
 public:
  journal_reader(int fd, std::uint64_t size, const journal_call& call, void (journal_call::*fail)(const std::string&) const)
      : fd_(fd), size_(size), call_(call), fail_(fail) {}

  // The bytes [at, at + n), which lie inside the file; valid until the next call.
  std::span<const char> bytes(std::uint64_t at, std::size_t n) {
    if (at >= buffer_at_ && at + n <= buffer_at_ + buffer_.size())
      return {buffer_.data() + (at - buffer_at_), n};
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(std::max(n, block), size_ - at));
    buffer_.resize(want);
    buffer_at_ = at;
    for (std::size_t done = 0; done < want;) {
      const ssize_t got = ::pread(fd_, buffer_.data() + done, want - done, static_cast<off_t>(at + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) (call_.*fail_)("cannot read: " + errno_text(errno));
      if (got == 0) (call_.*fail_)("cannot read: the file is shorter than its size");
      done += static_cast<std::size_t>(got);
    }
    return {buffer_.data(), n};
  }

 private:
  static constexpr std::size_t block = std::size_t{1} << 20;
  int fd_;
  std::uint64_t size_;
  const journal_call& call_;
  void (journal_call::*fail_)(const std::string&) const;
  byte_buffer buffer_;
  std::uint64_t buffer_at_ = 0;
};

struct journal_scan {
  std::uint64_t end = 0;   // where the whole records end: the first bad byte, or the file's end
  bool damaged = false;    // a record there fails its checksum (rather than running past the end)
};

namespace {

// Walks the records of [from, size), which starts at a record, calling on_record(at, kind,
// body) for each whole one and raising `synced_end` at each sync record; stops at the first
// record that is cut short or damaged.
template <class OnRecord>
journal_scan scan_records(journal_reader& reader, std::uint64_t from, std::uint64_t size, std::uint64_t& synced_end,
                          OnRecord&& on_record) {
  std::uint64_t at = from;
  while (at < size) {
    if (size - at < record_head + record_tail) return {at, false};
    const std::span<const char> head = reader.bytes(at, record_head);
    const auto kind = get<std::uint32_t>(head.data());
    const auto body_size = get<std::uint64_t>(head.data() + 4);
    if (get<std::uint32_t>(head.data() + 12) != crc32_of(head.first(12))) return {at, true};
    if (body_size > size - at - record_head - record_tail) return {at, false};  // runs past the end
    const std::span<const char> whole =
        reader.bytes(at, static_cast<std::size_t>(record_head + body_size + record_tail));
    const std::span<const char> body = whole.subspan(record_head, static_cast<std::size_t>(body_size));
    if (get<std::uint32_t>(body.data() + body_size) != crc32_of(body)) return {at, true};
    if (kind == sync_record) {
      if (body_size != sizeof(std::uint64_t) || get<std::uint64_t>(body.data()) > at) return {at, true};
      synced_end = std::max(synced_end, get<std::uint64_t>(body.data()));
    }
    on_record(at, kind, body);
    at += record_head + body_size + record_tail;
  }
  return {size, false};
}

}  // namespace

std::uint32_t crc32_of(std::span<const char> bytes) {
  boost::crc_32_type crc;
  crc.process_bytes(bytes.data(), bytes.size());
  return crc.checksum();
}

journal_call::journal_call(const journal& j, call_identity identity, std::optional<std::uint64_t> items,
                           std::function<void()> wake)
    : path_(j.file().string()),
      name_(j.name()),
      id_(crc32_of(std::span<const char>(j.name().data(), j.name().size()))),
      identity_(std::move(identity)),
      items_(items),
      restored_(j.restored_),
      wake_(std::move(wake)) {
  restored_->store(0);
}

journal_call::~journal_call() {
  {
    std::lock_guard lock(wake_mutex_);
    wake_ = nullptr;  // whoever it wakes may be going away too
  }
  if (thread_.joinable()) {
    {
      std::lock_guard lock(mutex_);
      if (!failure_ && !close_asked_) queued_.insert(queued_.end(), added_.begin(), added_.end());
      if (!close_asked_) {
        close_asked_ = true;
        ++syncs_asked_;
      }
      stopping_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  if (fd_ >= 0) ::close(fd_);
  if (failure_ && !failure_reported_) {
    try {
      std::rethrow_exception(failure_);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s (no call was left to report it to)\n", e.what());
    } catch (...) {
    }
  }
}

void journal_call::fail(const std::string& what) const { throw journal_error(path_, what); }

void journal_call::fail_errno(const std::string& doing) const {
  const int error = errno;
  fail(doing + ": " + errno_text(error));
}

void journal_call::undecodable(std::uint64_t index) const {
  fail("the journaled result of item " + std::to_string(index) + " of the call '" + name_ +
       "' does not decode: a corrupt journal, or one from another version of the program");
}

void journal_call::warn(const std::string& what) const {
  std::fprintf(stderr, "mpipool: journal '%s': %s\n", path_.c_str(), what.c_str());
  std::fflush(stderr);
}

void journal_call::start(std::function<void()> on_loaded) {
  thread_ = std::thread([this, on_loaded = std::move(on_loaded)] { serve(on_loaded); });
}

void journal_call::wait_loaded() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return loaded(); });
  if (failure_) {
    failure_reported_ = true;
    std::rethrow_exception(failure_);
  }
}

std::exception_ptr journal_call::failure() const {
  if (!failed_.load(std::memory_order_acquire)) return nullptr;
  std::lock_guard lock(mutex_);
  return failure_;
}

std::exception_ptr journal_call::failure_for_call() {
  if (!failed_.load(std::memory_order_acquire)) return nullptr;
  std::lock_guard lock(mutex_);
  failure_reported_ = true;
  return failure_;
}

void journal_call::record_failure(std::exception_ptr failure) {
  {
    std::lock_guard lock(mutex_);
    if (failure_) return;  // the first one tells
    failure_ = std::move(failure);
    failed_.store(true, std::memory_order_release);
  }
  changed_.notify_all();
}

void journal_call::wake() {
  std::lock_guard lock(wake_mutex_);
  if (wake_) wake_();
}

// --- the journal thread ---

void journal_call::serve(const std::function<void()>& on_loaded) {
  try {
    open_or_make();
    load();
    if (on_loaded) on_loaded();
  } catch (...) {
    record_failure(std::current_exception());
  }
  {
    std::lock_guard lock(mutex_);
    loaded_.store(true, std::memory_order_release);
  }
  changed_.notify_all();
  wake();
  std::uint64_t synced_to = 0;
  byte_buffer batch;
  for (;;) {
    std::uint64_t sync_to = 0;
    bool last = false;
    bool stop = false;
    batch.clear();
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return !queued_.empty() || syncs_asked_ > synced_to || stopping_; });
      batch.swap(queued_);
      sync_to = syncs_asked_;
      last = close_asked_;
      stop = stopping_;
    }
    const bool failed_before = failed_.load(std::memory_order_acquire);
    auto under_lock = [this](auto&& action) {
      try {
        lock_for_append();
        try {
          action();
        } catch (...) {
          unlock_file();
          throw;
        }
        unlock_file();
      } catch (...) {
        record_failure(std::current_exception());
      }
    };
    if (!batch.empty() && !failed_before && fd_ >= 0) under_lock([&] { write_locked(batch); });
    const bool syncs = sync_to > synced_to;
    if (syncs && fd_ >= 0) {
      if (!failed_.load(std::memory_order_acquire)) under_lock([&] { sync_locked(); });
      if (last) close_file();
    }
    synced_to = sync_to;
    bool done = false;
    {
      std::lock_guard lock(mutex_);
      syncs_done_ = synced_to;
      synced_.store(syncs_done_ == syncs_asked_, std::memory_order_release);
      done = stop && syncs_done_ == syncs_asked_ && queued_.empty();
    }
    changed_.notify_all();
    if (syncs || (failed_.load(std::memory_order_acquire) && !failed_before)) wake();
    if (done) return;
  }
}

void journal_call::open_or_make() {
  for (int attempt = 0;; ++attempt) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
    if (fd_ >= 0) return;
    if (errno != ENOENT) fail_errno("cannot open");
    // Made with O_EXCL: of several processes that find it missing, one makes it. Its first
    // line is written under the lock, by whichever locks it first (load()).
    fd_ = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ >= 0) {
      made_ = true;
      return;
    }
    if (errno != EEXIST || attempt >= 100) fail_errno("cannot make");
  }
}

void journal_call::lock_file() {
  files_mutex().lock();
  while (::flock(fd_, LOCK_EX) != 0) {
    const int error = errno;
    if (error == EINTR) continue;
    files_mutex().unlock();
    if (error == ENOLCK || error == ENOSYS || error == EOPNOTSUPP || error == EINVAL)
      fail("cannot lock it (flock: " + errno_text(error) +
           "): its file system does not support locks, and a journal that processes share without "
           "them loses records. Keep it where they work: a local disk, NFS, Lustre mounted with -o flock");
    fail("cannot lock it: " + errno_text(error));
  }
}

void journal_call::unlock_file() {
  ::flock(fd_, LOCK_UN);  // NFS writes back what this process wrote, here
  files_mutex().unlock();
}

void journal_call::lock_for_append() {
  lock_file();
  try {
    struct stat info {};
    if (::fstat(fd_, &info) != 0) fail_errno("cannot read its size");
    const auto size = static_cast<std::uint64_t>(info.st_size);
    if (size < known_end_) {
      known_end_ = size;  // another process cut off a damaged end, at a record's start
    } else if (size > known_end_) {
      // Others appended: whole records, unless one of them was killed while it wrote.
      journal_reader reader(fd_, size, *this, &journal_call::fail);
      const journal_scan scanned =
          scan_records(reader, known_end_, size, synced_end_, [](std::uint64_t, std::uint32_t, std::span<const char>) {});
      if (scanned.end != size) cut_bad_end(reader, scanned, size);
      known_end_ = scanned.end;
    }
  } catch (...) {
    unlock_file();
    throw;
  }
}

void journal_call::cut_bad_end(journal_reader& reader, const journal_scan& scanned, std::uint64_t size) {
  const std::uint64_t from = scanned.end;
  if (scanned.damaged) {
    // Damage before a sync point is corruption: a sync record past it says that the damaged
    // bytes were on disk.
    bool covered = synced_end_ > from;
    for (std::uint64_t seek = from + 1; !covered && seek + sync_record_size <= size;) {
      const auto length = static_cast<std::size_t>(std::min<std::uint64_t>(size - seek, std::uint64_t{1} << 20));
      const std::span<const char> window = reader.bytes(seek, length);
      for (std::size_t i = 0; i + sync_record_size <= window.size() && !covered; ++i)
        if (window[i] == 'S') covered = sync_record_covers(window.subspan(i), seek + i, from);
      seek += window.size() - (sync_record_size - 1);
    }
    if (covered)
      fail("corrupt record at byte " + std::to_string(from) +
           " (checksum mismatch), before a point where the file was synced: changed on its disk");
  }
  if (::ftruncate(fd_, static_cast<off_t>(from)) != 0) fail_errno("cannot cut off its damaged end");
  warn(std::string(scanned.damaged ? "damaged records" : "a record cut short") + " from byte " +
       std::to_string(from) + " to its end (" + std::to_string(size - from) +
       " bytes), after its last sync point (byte " +
       std::to_string(std::max<std::uint64_t>(synced_end_, file_magic.size())) +
       "): a process or node stopped before they reached the disk. Cut off; their items are computed again");
}

void journal_call::write_locked(std::span<const char> bytes) {
  wait_as_slow_journal_io();
  const std::uint64_t start = known_end_;  // the file's end: the lock is held
  for (std::size_t done = 0; done < bytes.size();) {
    const ssize_t wrote = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0) {
      // Part of the records may be in: cut them off, so that what follows starts at a record.
      const int error = errno;
      if (done > 0) (void)!::ftruncate(fd_, static_cast<off_t>(start));
      errno = error;
      fail_errno("cannot write");
    }
    done += static_cast<std::size_t>(wrote);
  }
  known_end_ = start + bytes.size();
  wrote_since_sync_ = true;
}

void journal_call::sync_locked() {
  if (!wrote_since_sync_) return;  // nothing of this call's to sync
  wait_as_slow_journal_io();
  if (::fdatasync(fd_) != 0) fail_errno("cannot sync (fdatasync)");
  // Where the file stood at the sync, in a record after it: the next sync takes it to the disk,
  // and the next load learns from it how far the disk held the file.
  const std::uint64_t synced = known_end_;
  byte_buffer record;
  const std::size_t start = open_record(record, sync_record);
  put(record, synced);
  close_record(record, start);
  write_locked(record);
  synced_end_ = std::max(synced_end_, synced);
  wrote_since_sync_ = false;
}

void journal_call::close_file() {
  const int fd = std::exchange(fd_, -1);
  // On NFS, a write-back error (ENOSPC, EDQUOT, EIO) may show only here.
  if (::close(fd) != 0 && errno != EINTR) {
    try {
      fail_errno("cannot close");
    } catch (...) {
      record_failure(std::current_exception());
    }
  }
}

void journal_call::load() {
  lock_file();
  struct unlock_at_end {
    journal_call* call;
    ~unlock_at_end() { call->unlock_file(); }
  } unlock{this};

  struct stat info {};
  if (::fstat(fd_, &info) != 0) fail_errno("cannot read");
  const auto size = static_cast<std::uint64_t>(info.st_size);
  journal_reader reader(fd_, size, *this, &journal_call::fail);
  byte_buffer to_write;
  const std::span<const char> first = reader.bytes(0, static_cast<std::size_t>(std::min<std::uint64_t>(size, file_magic.size())));
  const std::string_view text(first.data(), first.size());
  if (size < file_magic.size() ? !file_magic.starts_with(text) : text != file_magic) {
    if (text.starts_with(magic_stem))
      fail("a journal of another version of mpipool (" + std::string(text.substr(0, text.find('\n'))) +
           "), which this one cannot resume: delete it to start afresh");
    fail("not an mpipool journal");
  }
  // Empty (just made, here or by another process), or cut short while it was made: the rest of
  // its first line.
  if (size < file_magic.size())
    to_write.insert(to_write.end(), file_magic.begin() + static_cast<std::ptrdiff_t>(size), file_magic.end());

  struct value_at {
    std::uint64_t index;
    std::uint32_t argument_crc;
    std::size_t offset;
    std::size_t size;
  };
  std::vector<value_at> found;
  bool call_known = false;
  auto on_record = [&](std::uint64_t at, std::uint32_t kind, std::span<const char> body) {
    auto too_short = [&](std::size_t need) {
      if (body.size() < need) fail("corrupt record at byte " + std::to_string(at) + " (too short)");
    };
    if (kind == sync_record) return;
    if (kind == call_record) {
      too_short(4 + 8);
      const auto id = get<std::uint32_t>(body.data());
      const auto journaled_items = get<std::uint64_t>(body.data() + 4);
      std::size_t pos = 12;
      auto text_field = [&] {
        too_short(pos + 4);
        const auto length = get<std::uint32_t>(body.data() + pos);
        too_short(pos + 4 + std::size_t{length});
        std::string s(body.data() + pos + 4, length);
        pos += 4 + std::size_t{length};
        return s;
      };
      const std::string name = text_field();
      const std::string task = text_field();
      const std::string result_type = text_field();
      too_short(pos + 8 + 4);
      const auto state_size = get<std::uint64_t>(body.data() + pos);
      const auto state_crc = get<std::uint32_t>(body.data() + pos + 8);
      if (id != id_) return;
      if (name != name_)
        fail("the call names '" + name + "' and '" + name_ + "' cannot share one journal file (their ids collide): " +
             "rename one");
      if (task != identity_.task)
        fail("the call '" + name_ + "' was journaled by the task '" + task + "', not '" + identity_.task +
             "': a journal from another task");
      if (result_type != identity_.result_type)
        fail("the call '" + name_ + "' journaled results of type '" + result_type + "', not '" +
             identity_.result_type + "': a journal from another task, or another version of it");
      if (state_size != identity_.state_size || state_crc != identity_.state_crc)
        fail("the call '" + name_ + "' was journaled by the task '" + task +
             "' with other parameters (its serialized state differs): a journal from another task; "
             "give the call another name, or delete the journal to start afresh");
      if (items_ && journaled_items != unknown_size && journaled_items != *items_)
        fail("the call '" + name_ + "' was journaled over " + std::to_string(journaled_items) + " items, not " +
             std::to_string(*items_) + ": a journal from another input");
      call_known = true;
    } else if (kind == value_record) {
      too_short(4 + 8 + 4);
      if (get<std::uint32_t>(body.data()) != id_) return;
      if (!call_known) fail("corrupt record at byte " + std::to_string(at) + " (a result before its call)");
      const auto index = get<std::uint64_t>(body.data() + 4);
      if (items_ && index >= *items_)
        fail("the call '" + name_ + "' has a result for item " + std::to_string(index) + " of an input of " +
             std::to_string(*items_) + " items: a journal from another input");
      const std::span<const char> value = body.subspan(16);
      found.push_back({index, get<std::uint32_t>(body.data() + 12), values_.size(), value.size()});
      values_.insert(values_.end(), value.begin(), value.end());
    } else {
      fail("corrupt record at byte " + std::to_string(at) + " (a record of unknown kind)");
    }
  };
  known_end_ = size;
  if (size >= file_magic.size()) {
    const journal_scan scanned = scan_records(reader, file_magic.size(), size, synced_end_, on_record);
    if (scanned.end != size) cut_bad_end(reader, scanned, size);
    known_end_ = scanned.end;
  }

  // By index; of two records of one index (two runs at once), the later.
  std::stable_sort(found.begin(), found.end(), [](const value_at& a, const value_at& b) { return a.index < b.index; });
  auto last_of_each = std::unique(found.rbegin(), found.rend(),
                                  [](const value_at& a, const value_at& b) { return a.index == b.index; });
  found.erase(found.begin(), last_of_each.base());
  saved_.reserve(found.size());
  for (const value_at& v : found)
    saved_.push_back({v.index, v.argument_crc, std::span<const char>(values_.data() + v.offset, v.size)});

  if (!call_known) {
    const std::size_t start = open_record(to_write, call_record);
    put(to_write, id_);
    put(to_write, items_.value_or(unknown_size));
    for (const std::string* field : {&name_, &identity_.task, &identity_.result_type}) {
      put(to_write, static_cast<std::uint32_t>(field->size()));
      to_write.insert(to_write.end(), field->begin(), field->end());
    }
    put(to_write, identity_.state_size);
    put(to_write, identity_.state_crc);
    close_record(to_write, start);
  }
  if (!to_write.empty()) write_locked(to_write);
  if (made_) {
    // A new file: its first line, and its name in the directory, on disk, so that a crash
    // leaves either no journal or a valid one.
    if (::fdatasync(fd_) != 0) fail_errno("cannot sync (fdatasync)");
    std::filesystem::path directory = std::filesystem::path(path_).parent_path();
    if (directory.empty()) directory = ".";
    const int dir = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) fail_errno("cannot open its directory to sync it");
    const int synced = ::fsync(dir);
    const int error = errno;
    ::close(dir);
    // Some file systems cannot sync a directory (EINVAL): their entries are as safe as they get.
    if (synced != 0 && error != EINVAL) fail("cannot sync its directory: " + errno_text(error));
  }
}

// --- the progress thread ---

const journal_call::saved* journal_call::find(std::uint64_t index) const {
  auto it = std::lower_bound(saved_.begin(), saved_.end(), index,
                             [](const saved& s, std::uint64_t i) { return s.index < i; });
  return it != saved_.end() && it->index == index ? &*it : nullptr;
}

void journal_call::check_argument(const saved& s, std::uint32_t crc) const {
  if (s.argument_crc != crc)
    fail("item " + std::to_string(s.index) + " of the call '" + name_ +
         "' is not the item journaled there: a journal from another input");
}

void journal_call::count_restored(std::uint64_t n) { restored_->fetch_add(n); }

void journal_call::release_saved() {
  saved_ = {};
  values_ = {};
}

std::size_t journal_call::begin_value(std::uint64_t index, std::uint32_t args_crc) {
  const std::size_t start = open_record(added_, value_record);
  put(added_, id_);
  put(added_, index);
  put(added_, args_crc);
  return start;
}

void journal_call::end_record(std::size_t start) { close_record(added_, start); }

void journal_call::write_added() {
  if (added_.empty()) return;
  if (failed_.load(std::memory_order_acquire)) {
    added_.clear();
    std::rethrow_exception(failure_for_call());
  }
  {
    std::lock_guard lock(mutex_);
    if (close_asked_) {  // closed: nothing more goes in
      added_.clear();
      return;
    }
    if (queued_.empty()) queued_.swap(added_);  // the journal thread's spent buffer comes back for the next
    else queued_.insert(queued_.end(), added_.begin(), added_.end());
  }
  added_.clear();
  changed_.notify_all();
}

void journal_call::request_sync(bool last) {
  {
    std::lock_guard lock(mutex_);
    if (close_asked_) return;
    ++syncs_asked_;
    if (last) close_asked_ = true;
    synced_.store(false, std::memory_order_release);
  }
  changed_.notify_all();
}

bool journal_call::synced() const { return synced_.load(std::memory_order_acquire); }

bool journal_call::closing() const {
  std::lock_guard lock(mutex_);
  return close_asked_;
}

void journal_call::sync_now() {
  write_added();
  std::uint64_t ticket = 0;
  {
    std::lock_guard lock(mutex_);
    if (!close_asked_) {
      ++syncs_asked_;
      synced_.store(false, std::memory_order_release);
    }
    ticket = syncs_asked_;
  }
  changed_.notify_all();
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return syncs_done_ >= ticket && loaded(); });
  if (failure_) {
    failure_reported_ = true;
    std::rethrow_exception(failure_);
  }
}

run_plan resume_plan(const journal_call& call, std::size_t items, std::optional<std::int64_t> chunksize,
                     std::size_t workers) {
  std::vector<std::size_t> done;
  done.reserve(call.all_saved().size());
  for (const auto& entry : call.all_saved()) done.push_back(entry.index);
  return run_plan(plan_chunks(chunksize, items - done.size(), workers), missing_runs(items, done));
}

}  // namespace mpipool::detail
