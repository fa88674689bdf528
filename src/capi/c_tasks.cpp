#include "capi/c_tasks.hpp"

#include <charconv>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "mpipool/detail/protocol.hpp"

struct mpipool_writer {
  std::vector<char>* bytes;
};

namespace mpipool::detail {

namespace {

std::mutex registry_mutex;
std::map<std::string, c_task_entry>& registry() {
  static std::map<std::string, c_task_entry> tasks;
  return tasks;
}

thread_local bool running_c_task = false;
thread_local std::string failure_message;

// Marks the thread as inside a C task for as long as it lives.
class in_c_task {
 public:
  in_c_task() {
    running_c_task = true;
    failure_message.clear();
  }
  ~in_c_task() { running_c_task = false; }
  in_c_task(const in_c_task&) = delete;
  in_c_task& operator=(const in_c_task&) = delete;
};

[[noreturn]] void fail(const std::string& task, int status) {
  std::string message = failure_message.empty() ? "the task returned " + std::to_string(status) : failure_message;
  throw described_failure({"mpipool_task_error", "C task '" + task + "': " + message, status});
}

}  // namespace

void register_c_task(const std::string& name, c_task_entry entry) {
  std::lock_guard lock(registry_mutex);
  registry()[name] = entry;
}

std::optional<c_task_entry> find_c_task(const std::string& name) {
  std::lock_guard lock(registry_mutex);
  auto it = registry().find(name);
  if (it == registry().end()) return std::nullopt;
  return it->second;
}

bool inside_c_task() { return running_c_task; }

namespace {
c_task_entry record_entry(const std::string& name) {
  const std::optional<c_task_entry> entry = find_c_task(name);
  if (!entry || entry->shape != c_task_entry::kind::records)
    throw described_failure({"mpipool::registration_error",
                             "C record task '" + name + "' is not registered on this rank; register it on every "
                             "rank before the pool starts",
                             0});
  return *entry;
}
}  // namespace

c_task_entry checked_record_entry(const std::string& name, std::size_t capacity) {
  const c_task_entry entry = record_entry(name);
  if (entry.input_size > capacity || entry.output_size > capacity)
    throw described_failure({"mpipool_task_error", "C task '" + name + "': its records are larger on this rank", 0});
  return entry;
}

void run_c_record_task(const std::string& name, const c_task_entry& entry, const void* input, void* output) {
  in_c_task running;
  if (const int status = entry.records(input, output, entry.user); status != 0) fail(name, status);
}

namespace {
constexpr std::string_view block_failure_prefix = "record ";
constexpr std::string_view block_failure_separator = " of the block: ";
}  // namespace

std::vector<char> c_record_block_task::operator()(const std::vector<char>& records) const {
  const c_task_entry entry = record_entry(name);
  if (entry.input_size != input_size || entry.output_size != output_size)
    throw described_failure({"mpipool::registration_error",
                             "C task '" + name + "' is registered on this rank for records of " +
                                 std::to_string(entry.input_size) + " bytes in and " +
                                 std::to_string(entry.output_size) + " out, on rank 0 for " +
                                 std::to_string(input_size) + " and " + std::to_string(output_size),
                             0});
  const std::size_t count = entry.input_size > 0 ? records.size() / entry.input_size : 0;
  if (entry.input_size == 0 || records.size() % entry.input_size != 0)
    throw described_failure({"mpipool_task_error",
                             "C task '" + name + "': a block of " + std::to_string(records.size()) +
                                 " bytes, not a whole number of its " + std::to_string(entry.input_size) +
                                 "-byte records",
                             0});
  std::vector<char> outputs(count * entry.output_size);
  in_c_task running;
  for (std::size_t i = 0; i < count; ++i) {
    failure_message.clear();  // each record's own mpipool_task_fail, as with one record per item
    const int status = entry.records(records.data() + i * entry.input_size, outputs.data() + i * entry.output_size,
                                     entry.user);
    if (status == 0) continue;
    const std::string message = failure_message.empty() ? "the task returned " + std::to_string(status) : failure_message;
    throw described_failure({"mpipool_task_error",
                             std::string(block_failure_prefix) + std::to_string(i) +
                                 std::string(block_failure_separator) + "C task '" + name + "': " + message,
                             status});
  }
  return outputs;
}

std::optional<block_failure> split_block_failure(const std::string& message) {
  if (!message.starts_with(block_failure_prefix)) return std::nullopt;
  const std::size_t separator = message.find(block_failure_separator);
  if (separator == std::string::npos) return std::nullopt;
  const char* first = message.data() + block_failure_prefix.size();
  const char* last = message.data() + separator;
  std::size_t record = 0;
  const auto [end, error] = std::from_chars(first, last, record);
  if (first == last || error != std::errc() || end != last) return std::nullopt;
  return block_failure{record, message.substr(separator + block_failure_separator.size())};
}

std::vector<char> c_task::operator()(const std::vector<char>& input) const {
  const std::optional<c_task_entry> entry = find_c_task(name);
  if (!entry)
    throw described_failure({"mpipool::registration_error",
                             "C task '" + name + "' is not registered on this rank; register it on every rank "
                             "before the pool starts",
                             0});
  std::vector<char> output;
  in_c_task running;
  if (entry->shape == c_task_entry::kind::records) {
    if (input.size() != entry->input_size)
      throw described_failure({"mpipool_task_error",
                               "C task '" + name + "': an input record of " + std::to_string(input.size()) +
                                   " bytes, where it was registered for " + std::to_string(entry->input_size),
                               0});
    output.resize(entry->output_size);
    if (const int status = entry->records(input.data(), output.data(), entry->user); status != 0) fail(name, status);
  } else {
    mpipool_writer writer{&output};
    if (const int status = entry->bytes(input.data(), input.size(), &writer, entry->user); status != 0)
      fail(name, status);
  }
  return output;
}

}  // namespace mpipool::detail

extern "C" int mpipool_writer_write(mpipool_writer* output, const void* data, size_t size) {
  if (!output || (!data && size > 0)) return MPIPOOL_ERR_ARGUMENT;
  try {
    const char* bytes = static_cast<const char*>(data);
    output->bytes->insert(output->bytes->end(), bytes, bytes + size);
    return MPIPOOL_OK;
  } catch (...) {
    return MPIPOOL_ERR_OTHER;
  }
}

extern "C" void mpipool_task_fail(const char* message) {
  try {
    mpipool::detail::failure_message = message ? message : "";
  } catch (...) {  // no memory for the message: the status alone says it failed
  }
}
