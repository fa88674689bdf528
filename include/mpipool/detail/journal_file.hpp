#pragma once
// One call's view of a results journal (mpipool/journal.hpp): what the file holds for it, and
// the records it appends. Used by the jobs on the master only.
//
// The file: the line "mpipool journal 1\n", then records, each
//   kind (u32) | body size (u64) | CRC32 of those 12 bytes (u32) | body | CRC32 of the body (u32)
// with two kinds of body:
//   call:  call id (u32) | input size (u64, or ~0 when unknown) | name size (u32) | name |
//          task size (u32) | task name
//   value: call id (u32) | item index (u64) | CRC32 of the item's arguments (u32) | value bytes
// A call's id is the CRC32 of its name; the call record says which name it stands for. Values
// are encoded alone (raw bytes for a bitwise type, else an archive of their own), so each
// record reads without the others. A record that runs past the end of the file was cut short
// by a kill: it is dropped, and the file is cut back to the record before it.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mpipool/detail/archive.hpp"
#include "mpipool/detail/bitwise.hpp"
#include "mpipool/detail/outcomes.hpp"
#include "mpipool/detail/scheduler.hpp"
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

class journal_call {
 public:
  // Opens (or makes) `j`'s file, reads what it holds for the call named `j.name()`, and checks
  // it was journaled for `task` over an input of `items` items (nullopt: not known yet).
  // Throws journal_error.
  journal_call(const journal& j, const std::string& task, std::optional<std::uint64_t> items);
  ~journal_call();
  journal_call(const journal_call&) = delete;
  journal_call& operator=(const journal_call&) = delete;

  struct saved {
    std::uint64_t index;
    std::uint32_t argument_crc;
    std::span<const char> value;
  };
  // The journaled result of item `index`, if any.
  const saved* find(std::uint64_t index) const;
  // Every journaled result, by index.
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

  // Appends a record of item `index`'s value, which `encode(out)` writes; written out by
  // write_added().
  template <class Encode>
  void add(std::uint64_t index, std::uint32_t args_crc, Encode&& encode) {
    const std::size_t start = begin_value(index, args_crc);
    encode(added_);
    end_record(start);
  }
  // Hands the added records to the OS, in one write(2).
  void write_added();
  // Flushes the file to its disk (fdatasync).
  void sync();

 private:
  std::size_t begin_value(std::uint64_t index, std::uint32_t args_crc);
  void end_record(std::size_t start);
  [[noreturn]] void undecodable(std::uint64_t index) const;
  [[noreturn]] void fail(const std::string& what) const;
  void load(const std::string& task, std::optional<std::uint64_t> items);

  std::string path_;
  std::string name_;
  std::uint32_t id_;
  std::shared_ptr<std::atomic<std::uint64_t>> restored_;
  int fd_ = -1;
  byte_buffer file_bytes_;  // what the file held when opened; saved_ points into it
  std::vector<saved> saved_;  // by index, one per index
  byte_buffer added_;
  bool dirty_ = false;
};

// The plan of a resumed map over `items` items: chunks of the items `call` lacks, cut as
// plan_chunks would cut that many.
run_plan resume_plan(const journal_call& call, std::size_t items, std::optional<std::int64_t> chunksize,
                     std::size_t workers);

}  // namespace mpipool::detail
