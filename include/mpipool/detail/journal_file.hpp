#pragma once
// One call's view of a results journal (mpipool/journal.hpp): what the file holds for it, and
// the records it appends. Used by the jobs on the master only.
//
// The file: the line "mpipool journal 2\n", then records, each
//   kind (u32) | body size (u64) | CRC32 of those 12 bytes (u32) | body | CRC32 of the body (u32)
// with three kinds of body:
//   call:  call id (u32) | input size (u64, or ~0 when unknown) | name size (u32) | name |
//          task size (u32) | task name | result type size (u32) | result type |
//          task state size (u64) | CRC32 of the task's state (u32)
//   value: call id (u32) | item index (u64) | CRC32 of the item's arguments (u32) | value bytes
//   sync:  synced size (u64): every byte before that offset was on disk (fdatasync) when this
//          record was written
// A call's id is the CRC32 of its name; the call record says which name, task and task state
// it stands for. Values are encoded alone (raw bytes for a bitwise type, else an archive of their
// own), so each record reads without the others.
//
// Several processes (and several calls of one process) may share a file. Each holds an
// exclusive flock(2) on it while it reads it, appends to it or syncs it, so that no one reads a
// record another is writing; the file is made with O_EXCL and its first line written under that
// lock, so that two makers cannot both write it.
//
// What a crash can leave: a last record cut short, or bytes that never reached the disk (zeros,
// garbage) after the last sync. Damage after the last sync point is cut off with a warning on
// stderr, and its items are computed again; damage before it (a sync record after the damage
// says that those bytes had reached the disk) is corruption, and an error. Whoever takes the
// lock looks at what others appended since it last held it, before it appends: a record that a
// killed process left cut short is cut off there, rather than buried under new records. A
// process whose own write fails part way cuts its partial records off itself.
//
// All of the file's I/O happens on the call's own journal thread: the load when the call starts,
// then every write and sync. The progress thread only encodes records and hands them over, and
// learns of the outcome through loaded(), synced() and failure(), with a wake-up (the master's
// poke) each time one of them changes.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <typeinfo>
#include <vector>

#include <boost/core/demangle.hpp>

#include "mpipool/detail/archive.hpp"
#include "mpipool/detail/bitwise.hpp"
#include "mpipool/detail/outcomes.hpp"
#include "mpipool/detail/scheduler.hpp"
#include "mpipool/detail/task_model.hpp"
#include "mpipool/journal.hpp"

namespace mpipool::detail {

std::uint32_t crc32_of(std::span<const char> bytes);

// A value (or an argument tuple) encoded alone.
template <class T>
void encode_alone(byte_buffer& out, const T& value) {
  if constexpr (is_bitwise_v<T>) {
    const std::size_t at = out.size();
    out.resize(at + bitwise_wire_size(value));
    write_bitwise(out.data() + at, value);
  } else {
    writer archive(out);
    archive << value;
  }
}

template <class T>
T decode_alone(std::span<const char> bytes) {
  T value{};
  if constexpr (is_bitwise_v<T>) {
    read_bitwise_frame(bytes, value);
  } else {
    reader archive(bytes);
    archive >> value;
    check_decoded_size(0, bytes.size(), archive.position());
  }
  return value;
}

// The checksum a record keeps of its item's arguments, to tell another input on resume.
template <class Args>
std::uint32_t argument_crc(const Args& args) {
  thread_local byte_buffer scratch;
  scratch.clear();
  encode_alone(scratch, args);
  return crc32_of(scratch);
}

// What a call's results depend on besides its input: the task (its name), the parameters a
// function object carries (its encoded state) and the type its results are journaled as. A
// rerun whose identity differs in any of these is another computation, and its journal is
// refused rather than trusted.
struct call_identity {
  std::string task;         // the task's name (display_name)
  std::string result_type;  // the result type, demangled ("void" for none)
  std::uint64_t state_size = 0;
  std::uint32_t state_crc = 0;  // of the task's encoded state (encode_callable)
};

template <class Model>
call_identity journal_identity(const typename Model::callable_type& callable) {
  using result = typename Model::result_type;
  const byte_buffer state = encode_callable(callable);
  return {display_name(callable),
          std::is_void_v<result> ? std::string("void") : boost::core::demangle(typeid(result).name()),
          state.size(), crc32_of(state)};
}

// Whether a task's type is a lambda's, or names one (a function object template instantiated
// with a lambda). A lambda's type is named by its place in the code (main()::{lambda(int)#2}),
// which a lambda added above it changes: a journal cannot tell two lambdas apart. GCC and Clang
// say "lambda" in these words in a function's signature; a type of another compiler is taken as
// named.
template <class T>
constexpr std::string_view signature_naming() {
  return __PRETTY_FUNCTION__;
}
template <class T>
inline constexpr bool names_a_lambda = signature_naming<T>().find("<lambda(") != std::string_view::npos ||
                                       signature_naming<T>().find("(lambda at ") != std::string_view::npos;

// How a resumed map cuts what the journal lacks into chunks.
struct resume_settings {
  std::optional<std::int64_t> chunksize;
  std::size_t workers = 1;
};

class journal_reader;
struct journal_scan;

class journal_call {
 public:
  // The call named `j.name()` in `j`'s file, of a task of identity `identity`, over an input of
  // `items` items (nullopt: not known yet). Nothing is read or written before start().
  // `wake` is called from the journal thread whenever loaded(), synced() or failure() may have
  // changed; it must not block for long (the master's poke).
  journal_call(const journal& j, call_identity identity, std::optional<std::uint64_t> items,
               std::function<void()> wake = {});
  // Writes what was handed over and not yet written, syncs, closes, and waits for that. A
  // failure that no call could report is printed on stderr.
  ~journal_call();
  journal_call(const journal_call&) = delete;
  journal_call& operator=(const journal_call&) = delete;

  // Starts the journal thread: it opens (or makes) the file, locks it, reads what it holds for
  // this call, checks the identity and the input's size, appends the call's record if it is
  // new, and then runs `on_loaded` (on that thread, before loaded() turns true; an exception
  // from it is the call's failure). Called once.
  void start(std::function<void()> on_loaded = {});
  // The load is over, with or without a failure.
  bool loaded() const { return loaded_.load(std::memory_order_acquire); }
  // Blocks until loaded(); throws the load's failure.
  void wait_loaded();
  // The first failure of the load, a write, a sync or the close (a journal_error), or null.
  std::exception_ptr failure() const;
  // As failure(), and notes that a call reports it (so that the destructor does not).
  std::exception_ptr failure_for_call();

  struct saved {
    std::uint64_t index;
    std::uint32_t argument_crc;
    std::span<const char> value;
  };
  // The journaled result of item `index`, if any. Only once loaded().
  const saved* find(std::uint64_t index) const;
  // Every journaled result, by index. Only once loaded().
  const std::vector<saved>& all_saved() const { return saved_; }
  // Throws journal_error when the arguments of `s`'s item, of checksum `crc`, are not the
  // journaled ones.
  void check_argument(const saved& s, std::uint32_t crc) const;
  // Decodes a journaled value; throws journal_error when it does not decode.
  template <class T>
  T restore(std::uint64_t index, const saved& s) const {
    try {
      return decode_alone<T>(s.value);
    } catch (...) {
      undecodable(index);
    }
  }
  // Counts `n` results taken from the file (journal::restored()).
  void count_restored(std::uint64_t n);
  // What the file held, once every saved value was taken.
  void release_saved();

  // Appends a record of item `index`'s value, which `encode(out)` writes; handed to the journal
  // thread by write_added().
  template <class Encode>
  void add(std::uint64_t index, std::uint32_t args_crc, Encode&& encode) {
    const std::size_t start = begin_value(index, args_crc);
    encode(added_);
    end_record(start);
  }
  // Hands the added records to the journal thread, which appends them to the file (one
  // write(2), under the lock) soon. Throws the journal's failure, if it has one, instead: a
  // journal that failed writes nothing more.
  void write_added();
  // Asks the journal thread to write everything handed over, then sync the file (fdatasync) and
  // record the sync point; with `last`, then to close it too (nothing is written after that).
  void request_sync(bool last);
  // Whether the latest sync asked for is done (or failed: see failure()).
  bool synced() const;
  // Whether the file is closed or closing: nothing more can be written.
  bool closing() const;
  // request_sync(false), then waits for it; throws the journal's failure.
  void sync_now();

 private:
  std::size_t begin_value(std::uint64_t index, std::uint32_t args_crc);
  void end_record(std::size_t start);
  [[noreturn]] void undecodable(std::uint64_t index) const;
  [[noreturn]] void fail(const std::string& what) const;
  [[noreturn]] void fail_errno(const std::string& doing) const;

  // The journal thread.
  void serve(const std::function<void()>& on_loaded);
  void open_or_make();
  void load();
  void lock_file();
  void unlock_file();
  // lock_file(), then checks what others appended since this call last held the lock.
  void lock_for_append();
  // Cuts off the file's end from the first bad record that `scanned` found, with a warning;
  // throws instead when a sync point past that record says it was damaged on disk.
  void cut_bad_end(journal_reader& reader, const journal_scan& scanned, std::uint64_t size);
  void write_locked(std::span<const char> bytes);
  void sync_locked();
  void close_file();
  void record_failure(std::exception_ptr failure);
  void wake();
  void warn(const std::string& what) const;

  const std::string path_;
  const std::string name_;
  const std::uint32_t id_;
  const call_identity identity_;
  const std::optional<std::uint64_t> items_;
  std::shared_ptr<std::atomic<std::uint64_t>> restored_;
  int fd_ = -1;  // the journal thread's; open from start() to the last sync
  bool made_ = false;
  std::uint64_t known_end_ = 0;   // where the file ended, all of it checked, when this call last held the lock
  std::uint64_t synced_end_ = 0;  // the furthest sync point known
  bool wrote_since_sync_ = false;  // this call wrote records after its last sync record

  // Filled by the load, read-only afterwards.
  byte_buffer values_;        // this call's value bytes, one after another; saved_ points into it
  std::vector<saved> saved_;  // by index, one per index
  std::atomic<bool> loaded_{false};

  byte_buffer added_;  // the progress thread's records, not yet handed over

  // Between the progress thread and the journal thread.
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  byte_buffer queued_;  // handed over, not yet written
  std::uint64_t syncs_asked_ = 0;
  std::uint64_t syncs_done_ = 0;
  bool close_asked_ = false;
  bool stopping_ = false;
  std::exception_ptr failure_;
  bool failure_reported_ = false;
  std::atomic<bool> failed_{false};
  std::atomic<bool> synced_{true};

  std::mutex wake_mutex_;
  std::function<void()> wake_;
  std::thread thread_;
};

// The plan of a resumed map over `items` items: chunks of the items `call` lacks, cut as
// plan_chunks would cut that many.
run_plan resume_plan(const journal_call& call, std::size_t items, std::optional<std::int64_t> chunksize,
                     std::size_t workers);

}  // namespace mpipool::detail
