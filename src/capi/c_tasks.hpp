#pragma once
// The C API's tasks: C functions registered by name on every rank, and the one C++ task type
// that runs any of them on a worker. It travels as its name; its argument and its result are
// byte vectors (copied as raw bytes, with no archive), so a C call costs what a C++ call on
// the same bytes costs.

#include <cstddef>
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

}  // namespace mpipool::detail
