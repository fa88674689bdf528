#include "mpipool/detail/journal_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <algorithm>
#include <vector>

#include <boost/crc.hpp>

#include "mpipool/errors.hpp"

namespace mpipool::detail {

namespace {

constexpr std::string_view file_magic = "mpipool journal 1\n";
constexpr std::uint32_t call_record = 0x4c4c4143;   // "CALL"
constexpr std::uint32_t value_record = 0x554c4156;  // "VALU"
constexpr std::uint64_t unknown_size = std::numeric_limits<std::uint64_t>::max();
constexpr std::size_t record_head = sizeof(std::uint32_t) + sizeof(std::uint64_t) + sizeof(std::uint32_t);

// Calls of one process may share a file: loading and appending take turns, so that no call
// reads another's record half written.
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

std::string system_error_text() { return std::strerror(errno); }

}  // namespace

std::uint32_t crc32_of(std::span<const char> bytes) {
  boost::crc_32_type crc;
  crc.process_bytes(bytes.data(), bytes.size());
  return crc.checksum();
}

journal_call::journal_call(const journal& j, const std::string& task, std::optional<std::uint64_t> items)
    : path_(j.file().string()),
      name_(j.name()),
      id_(crc32_of(std::span<const char>(j.name().data(), j.name().size()))),
      restored_(j.restored_) {
  restored_->store(0);
  std::lock_guard lock(files_mutex());
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot open: " + system_error_text());
  try {
    load(task, items);
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

journal_call::~journal_call() {
  if (dirty_) ::fdatasync(fd_);
  ::close(fd_);
}

void journal_call::fail(const std::string& what) const { throw journal_error(path_, what); }

void journal_call::undecodable(std::uint64_t index) const {
  fail("the journaled result of item " + std::to_string(index) + " of the call '" + name_ +
       "' does not decode: a corrupt journal, or one from another version of the program");
}

void journal_call::load(const std::string& task, std::optional<std::uint64_t> items) {
  struct stat info {};
  if (::fstat(fd_, &info) != 0) fail("cannot read: " + system_error_text());
  file_bytes_.resize(static_cast<std::size_t>(info.st_size));
  for (std::size_t done = 0; done < file_bytes_.size();) {
    const ssize_t got = ::pread(fd_, file_bytes_.data() + done, file_bytes_.size() - done, static_cast<off_t>(done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) fail("cannot read: " + system_error_text());
    done += static_cast<std::size_t>(got);
  }
  const std::string_view bytes(file_bytes_.data(), file_bytes_.size());
  std::size_t good_end = 0;  // where the last whole record ends
  if (bytes.size() < file_magic.size()) {
    // Empty, or cut short while it was made.
    if (!file_magic.starts_with(bytes)) fail("not an mpipool journal");
  } else {
    if (!bytes.starts_with(file_magic)) fail("not an mpipool journal");
    good_end = file_magic.size();
  }
  bool call_known = false;
  std::size_t at = good_end;
  while (good_end >= file_magic.size() && at < bytes.size()) {
    if (bytes.size() - at < record_head) break;  // cut short
    const char* head = bytes.data() + at;
    const auto kind = get<std::uint32_t>(head);
    const auto size = get<std::uint64_t>(head + 4);
    if (get<std::uint32_t>(head + 12) != crc32_of({head, 12}))
      fail("corrupt record at byte " + std::to_string(at) + " (checksum mismatch)");
    if (size > bytes.size() - at - record_head || bytes.size() - at - record_head - size < sizeof(std::uint32_t))
      break;  // cut short
    const std::span<const char> body(head + record_head, size);
    if (get<std::uint32_t>(body.data() + size) != crc32_of(body))
      fail("corrupt record at byte " + std::to_string(at) + " (checksum mismatch)");
    auto too_short = [&](std::size_t need) {
      if (size < need) fail("corrupt record at byte " + std::to_string(at) + " (too short)");
    };
    too_short(sizeof(std::uint32_t));
    const auto id = get<std::uint32_t>(body.data());
    if (kind == call_record) {
      too_short(4 + 8 + 4);
      const auto journaled_items = get<std::uint64_t>(body.data() + 4);
      const auto name_size = get<std::uint32_t>(body.data() + 12);
      too_short(16 + std::size_t{name_size} + 4);
      const std::string name(body.data() + 16, name_size);
      const auto task_size = get<std::uint32_t>(body.data() + 16 + name_size);
      too_short(20 + std::size_t{name_size} + task_size);
      const std::string journaled_task(body.data() + 20 + name_size, task_size);
      if (id == id_) {
        if (name != name_)
          fail("the call names '" + name + "' and '" + name_ + "' cannot share one journal file (their ids collide): " +
               "rename one");
        if (journaled_task != task)
          fail("the call '" + name_ + "' was journaled by the task '" + journaled_task + "', not '" + task +
               "': a journal from another task");
        if (items && journaled_items != unknown_size && journaled_items != *items)
          fail("the call '" + name_ + "' was journaled over " + std::to_string(journaled_items) + " items, not " +
               std::to_string(*items) + ": a journal from another input");
        call_known = true;
      }
    } else if (kind == value_record) {
      too_short(4 + 8 + 4);
      if (id == id_) {
        if (!call_known) fail("corrupt record at byte " + std::to_string(at) + " (a result before its call)");
        const auto index = get<std::uint64_t>(body.data() + 4);
        if (items && index >= *items)
          fail("the call '" + name_ + "' has a result for item " + std::to_string(index) + " of an input of " +
               std::to_string(*items) + " items: a journal from another input");
        saved_.push_back(saved{index, get<std::uint32_t>(body.data() + 12), body.subspan(16)});
      }
    } else {
      fail("corrupt record at byte " + std::to_string(at) + " (unknown kind)");
    }
    at += record_head + size + sizeof(std::uint32_t);
    good_end = at;
  }
  // By index; of two records of one index (two runs at once), the later.
  std::stable_sort(saved_.begin(), saved_.end(), [](const saved& a, const saved& b) { return a.index < b.index; });
  auto last_of_each = std::unique(saved_.rbegin(), saved_.rend(),
                                  [](const saved& a, const saved& b) { return a.index == b.index; });
  saved_.erase(saved_.begin(), last_of_each.base());
  if (good_end != bytes.size()) {
    // The tail a kill cut short: dropped, so that new records follow the last whole one.
    if (::ftruncate(fd_, static_cast<off_t>(good_end)) != 0) fail("cannot cut its last record: " + system_error_text());
  }
  if (good_end < file_magic.size()) {
    added_.insert(added_.end(), file_magic.begin() + static_cast<std::ptrdiff_t>(good_end), file_magic.end());
  }
  if (!call_known) {
    const std::size_t start = added_.size();
    put(added_, call_record);
    put(added_, std::uint64_t{0});
    put(added_, std::uint32_t{0});
    put(added_, id_);
    put(added_, items.value_or(unknown_size));
    put(added_, static_cast<std::uint32_t>(name_.size()));
    added_.insert(added_.end(), name_.begin(), name_.end());
    put(added_, static_cast<std::uint32_t>(task.size()));
    added_.insert(added_.end(), task.begin(), task.end());
    end_record(start);
  }
  // Holding the lock already: write without write_added().
  for (std::size_t done = 0; done < added_.size();) {
    const ssize_t wrote = ::write(fd_, added_.data() + done, added_.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0) fail("cannot write: " + system_error_text());
    done += static_cast<std::size_t>(wrote);
  }
  if (!added_.empty()) dirty_ = true;
  added_.clear();
}

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
  file_bytes_ = {};
}

std::size_t journal_call::begin_value(std::uint64_t index, std::uint32_t args_crc) {
  const std::size_t start = added_.size();
  put(added_, value_record);
  put(added_, std::uint64_t{0});  // the body's size and the head's CRC, filled by end_record
  put(added_, std::uint32_t{0});
  put(added_, id_);
  put(added_, index);
  put(added_, args_crc);
  return start;
}

void journal_call::end_record(std::size_t start) {
  char* head = added_.data() + start;
  const std::uint64_t size = added_.size() - start - record_head;
  std::memcpy(head + 4, &size, sizeof size);
  const std::uint32_t head_crc = crc32_of({head, 12});
  std::memcpy(head + 12, &head_crc, sizeof head_crc);
  const std::uint32_t body_crc = crc32_of({added_.data() + start + record_head, size});
  put(added_, body_crc);
}

void journal_call::write_added() {
  if (added_.empty()) return;
  std::lock_guard lock(files_mutex());
  for (std::size_t done = 0; done < added_.size();) {
    const ssize_t wrote = ::write(fd_, added_.data() + done, added_.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0) {
      added_.clear();
      fail("cannot write: " + system_error_text());
    }
    done += static_cast<std::size_t>(wrote);
  }
  added_.clear();
  dirty_ = true;
}

void journal_call::sync() {
  if (!dirty_) return;
  ::fdatasync(fd_);
  dirty_ = false;
}

run_plan resume_plan(const journal_call& call, std::size_t items, std::optional<std::int64_t> chunksize,
                     std::size_t workers) {
  std::vector<std::size_t> done;
  done.reserve(call.all_saved().size());
  for (const auto& entry : call.all_saved()) done.push_back(entry.index);
  return run_plan(plan_chunks(chunksize, items - done.size(), workers), missing_runs(items, done));
}

}  // namespace mpipool::detail
