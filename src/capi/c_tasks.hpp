#pragma once
// The C API's tasks: C functions registered by name on every rank, and the one C++ task type
// that runs any of them on a worker. It travels as its name; its argument and its result are
// byte vectors (copied as raw bytes, with no archive), so a C call costs what a C++ call on
// the same bytes costs.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <boost/serialization/string.hpp>

#include "mpipool.h"

namespace mpipool::detail {

struct c_task_entry {
  enum class kind { records, bytes } shape = kind::records;
  mpipool_record_task records = nullptr;
  mpipool_bytes_task bytes = nullptr;
  std::size_t input_size = 0;   // records only
  std::size_t output_size = 0;  // records only
  void* user = nullptr;
};

// The registered C tasks of this process. Registration normally happens before the pool starts;
// it is safe from any thread all the same.
void register_c_task(const std::string& name, c_task_entry entry);
std::optional<c_task_entry> find_c_task(const std::string& name);

// Whether the calling thread runs a C task now: a pool call from there is refused.
bool inside_c_task();

// The task that runs the C function registered under `name` on one item's bytes.
struct c_task {
  std::string name;

  std::vector<char> operator()(const std::vector<char>& input) const;
  std::string task_display_name() const { return name; }  // errors name the C task

  template <class Archive>
  void serialize(Archive& archive, unsigned) {
    archive & name;
  }
};

// The record task `name`, checked to fit records of `capacity` bytes (throws the item's failure).
c_task_entry checked_record_entry(const std::string& name, std::size_t capacity);
// Runs it on one record, marked as inside a C task (throws the item's failure).
void run_c_record_task(const std::string& name, const c_task_entry& entry, const void* input, void* output);

// Records of at most N bytes, the fast path of map and starmap: each travels as N raw bytes, with
// no allocation per item on either side. The registration's sizes say how many are used.
template <std::size_t N>
using c_record = std::array<char, N>;
inline constexpr std::size_t largest_c_record = 256;

// Runs a C record task on records that fit in N bytes.
template <std::size_t N>
struct c_record_task {
  std::string name;
  std::optional<c_task_entry> entry;  // looked up on the first item of each call, per worker

  c_record<N> operator()(const c_record<N>& input) {
    if (!entry) entry = checked_record_entry(name, N);
    c_record<N> output{};
    run_c_record_task(name, *entry, input.data(), output.data());
    return output;
  }
  std::string task_display_name() const { return name; }

  template <class Archive>
  void serialize(Archive& archive, unsigned) {
    archive & name;
  }
};

// A chunk of records as one item, the path of a map with a chunksize: the C function runs on
// every record of the block in a row, under one guard, and the block travels as one copy each
// way. Nothing per record is framed, decoded or encoded, so a C map of small records runs as
// fast as the C++ one. A record that fails fails its block, and the failure names the record's
// place in the block (split_block_failure reads it back).
struct c_record_block_task {
  std::string name;
  // The record sizes of rank 0's registration: a worker whose registration differs fails the
  // block, where records cut at the wrong size would give wrong results.
  std::uint64_t input_size = 0;
  std::uint64_t output_size = 0;

  std::vector<char> operator()(const std::vector<char>& records) const;
  std::string task_display_name() const { return name; }

  template <class Archive>
  void serialize(Archive& archive, unsigned) {
    archive & name & input_size & output_size;
  }
};

// A block's failure message: which of its records failed, and the record's own message.
struct block_failure {
  std::size_t record = 0;
  std::string message;
};
std::optional<block_failure> split_block_failure(const std::string& message);

}  // namespace mpipool::detail
