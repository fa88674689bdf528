// The C API (include/mpipool.h) over the C++ pool: every function catches everything, turns it
// into a status and the thread's last error, and never lets an exception cross into C.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iterator>
#include <memory>
#include <new>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "capi/c_tasks.hpp"
#include "mpipool.h"
#include "mpipool/mpipool.hpp"

using mpipool::detail::c_task;
using mpipool::detail::c_task_entry;
using bytes = std::vector<char>;

struct mpipool_pool {
  mpipool::pool* pool;
};

struct mpipool_result {
  // A map's records, or an apply's bytes.
  std::variant<mpipool::async_result<std::vector<bytes>>, mpipool::async_result<bytes>> call;
  void* outputs = nullptr;  // a map's: where its records go
  size_t output_size = 0;
  size_t outputs_capacity = 0;
};

namespace {

thread_local mpipool_error_info last_error{};

template <std::size_t N>
void copy_text(char (&to)[N], const std::string& from) {
  const std::size_t n = std::min(from.size(), N - 1);
  std::memcpy(to, from.data(), n);
  to[n] = '\0';
}

void clear_error() {
  last_error = mpipool_error_info{};
  last_error.rank = -1;
  last_error.index = -1;
}

int set_error(int status, const std::string& type_name, const std::string& message) {
  clear_error();
  last_error.status = status;
  copy_text(last_error.type_name, type_name);
  copy_text(last_error.message, message);
  return status;
}

// Describes the exception being handled: its status and the last error.
int from_current_exception() {
  try {
    throw;
  } catch (const mpipool::remote_error& e) {
    set_error(MPIPOOL_ERR_TASK, e.type_name(), e.what());
    last_error.rank = e.rank();
    copy_text(last_error.host, e.host());
    last_error.index = static_cast<int64_t>(e.index());
    return MPIPOOL_ERR_TASK;
  } catch (const mpipool::pool_terminated& e) {
    return set_error(MPIPOOL_ERR_INTERRUPTED, "mpipool::pool_terminated", e.what());
  } catch (const mpipool::registration_error& e) {
    return set_error(MPIPOOL_ERR_NOT_FOUND, "mpipool::registration_error", e.what());
  } catch (const mpipool::timeout_error& e) {
    return set_error(MPIPOOL_ERR_TIMEOUT, "mpipool::timeout_error", e.what());
  } catch (const mpipool::error& e) {
    return set_error(MPIPOOL_ERR_OTHER, "mpipool::error", e.what());
  } catch (const std::invalid_argument& e) {
    return set_error(MPIPOOL_ERR_ARGUMENT, "std::invalid_argument", e.what());
  } catch (const std::logic_error& e) {  // a call on a closed or stopped pool
    return set_error(MPIPOOL_ERR_STATE, "std::logic_error", e.what());
  } catch (const std::bad_alloc&) {
    return set_error(MPIPOOL_ERR_OTHER, "std::bad_alloc", "out of memory");
  } catch (const std::exception& e) {
    return set_error(MPIPOOL_ERR_OTHER, "std::exception", e.what());
  } catch (...) {
    return set_error(MPIPOOL_ERR_OTHER, "unknown", "an unknown exception");
  }
}

// Runs `call`, returning MPIPOOL_OK or the status of what it threw.
template <class Call>
int guarded(Call&& call) {
  try {
    clear_error();
    const int status = call();
    if (status != MPIPOOL_OK && last_error.status == 0) last_error.status = status;
    return status;
  } catch (...) {
    return from_current_exception();
  }
}

int argument_error(const std::string& message) { return set_error(MPIPOOL_ERR_ARGUMENT, "invalid argument", message); }

// Checks a pool call's pool, and that it is not made from inside a task.
int check_pool(const mpipool_pool* pool) {
  if (mpipool::detail::inside_c_task())
    return set_error(MPIPOOL_ERR_STATE, "mpipool::error",
                     "mpipool: a pool call from inside a task: tasks run on workers, where there is no pool");
  if (!pool || !pool->pool) return argument_error("mpipool: the pool is NULL");
  return MPIPOOL_OK;
}

// Checks a record task's name and sizes against its registration.
int check_record_task(const char* task, size_t input_size, size_t output_size) {
  if (!task) return argument_error("mpipool: the task name is NULL");
  const std::optional<c_task_entry> entry = mpipool::detail::find_c_task(task);
  if (!entry)
    return set_error(MPIPOOL_ERR_NOT_FOUND, "mpipool::registration_error",
                     std::string("mpipool: no task named '") + task + "' is registered");
  if (entry->shape != c_task_entry::kind::records)
    return set_error(MPIPOOL_ERR_NOT_FOUND, "mpipool::registration_error",
                     std::string("mpipool: task '") + task + "' is a byte task, not a record task");
  if (entry->input_size != input_size || entry->output_size != output_size)
    return argument_error(std::string("mpipool: task '") + task + "' was registered for records of " +
                          std::to_string(entry->input_size) + " bytes in and " + std::to_string(entry->output_size) +
                          " out, not " + std::to_string(input_size) + " and " + std::to_string(output_size));
  return MPIPOOL_OK;
}

int check_outputs(void* outputs, size_t output_size, size_t count, size_t capacity) {
  if (count > 0 && output_size > 0 && !outputs) return argument_error("mpipool: the output buffer is NULL");
  if (output_size != 0 && count > capacity / output_size) {
    set_error(MPIPOOL_ERR_BUFFER, "buffer too small",
              "mpipool: the output buffer holds " + std::to_string(capacity) + " bytes; " + std::to_string(count) +
                  " records of " + std::to_string(output_size) + " need " + std::to_string(count * output_size));
    last_error.needed = count * output_size;
    return MPIPOOL_ERR_BUFFER;
  }
  return MPIPOOL_OK;
}

std::vector<bytes> records_of(const void* inputs, size_t input_size, size_t count) {
  const char* at = static_cast<const char*>(inputs);
  std::vector<bytes> records;
  records.reserve(count);
  for (size_t i = 0; i < count; ++i, at += input_size) records.emplace_back(at, at + input_size);
  return records;
}

int write_records(const std::vector<bytes>& records, void* outputs, size_t output_size) {
  char* at = static_cast<char*>(outputs);
  for (const bytes& record : records) {
    if (record.size() != output_size)
      return set_error(MPIPOOL_ERR_OTHER, "mpipool::error", "mpipool: a task's output record has the wrong size");
    if (output_size > 0) std::memcpy(at, record.data(), output_size);
    at += output_size;
  }
  return MPIPOOL_OK;
}

// A map of records that fit in N bytes, each sent as N raw bytes: no allocation per item.
template <std::size_t N>
int map_fixed(mpipool::pool& pool, const char* task, const char* inputs, size_t input_size, size_t count,
              char* outputs, size_t output_size, std::optional<std::int64_t> chunksize, const mpipool::journal* log) {
  using mpipool::detail::c_record;
  // Read straight from the caller's array as the pool reads its input: one copy.
  auto items = std::views::iota(size_t{0}, count) | std::views::transform([inputs, input_size](size_t i) {
                 c_record<N> record{};
                 std::memcpy(record.data(), inputs + i * input_size, input_size);
                 return record;
               });
  mpipool::detail::c_record_task<N> runner{task, std::nullopt};
  const std::vector<c_record<N>> results = log ? pool.map(runner, items, chunksize, *log) : pool.map(runner, items, chunksize);
  for (size_t i = 0; i < count; ++i) std::memcpy(outputs + i * output_size, results[i].data(), output_size);
  return MPIPOOL_OK;
}

std::optional<std::int64_t> chunksize_of(long chunksize) {
  if (chunksize == 0) return std::nullopt;
  return chunksize;
}

// Whether the pool watches items one by one (isolated helpers report the item they died on, a
// progress display counts items): then records travel one by one.
bool records_in_blocks(const mpipool::pool& pool) { return !pool.isolated() && !pool.shows_progress(); }

// The task's failure in a block, as the failure of the record that failed: its index in the
// whole input, and its own message.
mpipool::remote_error record_failure(const mpipool::remote_error& block, size_t records_per_block) {
  std::optional<mpipool::detail::block_failure> failed = mpipool::detail::split_block_failure(block.message());
  if (failed && failed->record >= records_per_block) failed.reset();  // not the block task's own marker
  const std::uint64_t first = block.index() * records_per_block;
  return mpipool::remote_error(block.task(), failed ? first + failed->record : first,
                               mpipool::remote_failure{block.type_name(), failed ? failed->message : block.message(),
                                                       block.rank(), block.host()});
}

// A map with a chunksize, each chunk of records sent as one item (c_record_block_task): one copy
// each way per chunk, nothing per record. Nothing when the call cannot go that way.
std::optional<int> map_in_blocks(const mpipool_pool& handle, const char* task, const char* inputs, size_t input_size,
                                 size_t count, char* outputs, size_t output_size, long chunksize,
                                 const mpipool::journal* log) {
  if (log || !records_in_blocks(*handle.pool) || chunksize <= 1 || count == 0 || input_size == 0) return std::nullopt;
  const size_t per_block = static_cast<size_t>(chunksize);
  const size_t blocks = (count - 1) / per_block + 1;
  auto records_in = [count, per_block](size_t block) { return std::min(per_block, count - block * per_block); };
  auto items = std::views::iota(size_t{0}, blocks) | std::views::transform([=](size_t block) {
                 const char* first = inputs + block * per_block * input_size;
                 return bytes(first, first + records_in(block) * input_size);
               });
  std::vector<bytes> results;
  try {
    results = handle.pool->map(mpipool::detail::c_record_block_task{task, input_size, output_size}, items, 1);
  } catch (const mpipool::remote_error& e) {
    throw record_failure(e, per_block);
  }
  for (size_t block = 0; block < blocks; ++block) {
    if (results[block].size() != records_in(block) * output_size)
      return set_error(MPIPOOL_ERR_OTHER, "mpipool::error", "mpipool: a task's output records have the wrong size");
    if (!results[block].empty())
      std::memcpy(outputs + block * per_block * output_size, results[block].data(), results[block].size());
  }
  return MPIPOOL_OK;
}

// The fast paths of a map of records: map_in_blocks where it may go, else map_fixed for the
// smallest size class that holds both records; nothing if neither can take the call.
std::optional<int> map_records_fast(const mpipool_pool& handle, const char* task, const void* inputs,
                                    size_t input_size, size_t count, void* outputs, size_t output_size,
                                    long chunksize_argument, const mpipool::journal* log) {
  const char* in = static_cast<const char*>(inputs);
  char* out = static_cast<char*>(outputs);
  if (std::optional<int> status =
          map_in_blocks(handle, task, in, input_size, count, out, output_size, chunksize_argument, log))
    return status;
  mpipool::pool& pool = *handle.pool;
  const std::optional<std::int64_t> chunksize = chunksize_of(chunksize_argument);
  const size_t record = std::max(input_size, output_size);
  if (record <= 8) return map_fixed<8>(pool, task, in, input_size, count, out, output_size, chunksize, log);
  if (record <= 16) return map_fixed<16>(pool, task, in, input_size, count, out, output_size, chunksize, log);
  if (record <= 32) return map_fixed<32>(pool, task, in, input_size, count, out, output_size, chunksize, log);
  if (record <= 64) return map_fixed<64>(pool, task, in, input_size, count, out, output_size, chunksize, log);
  if (record <= 128) return map_fixed<128>(pool, task, in, input_size, count, out, output_size, chunksize, log);
  if (record <= mpipool::detail::largest_c_record)
    return map_fixed<mpipool::detail::largest_c_record>(pool, task, in, input_size, count, out, output_size,
                                                         chunksize, log);
  return std::nullopt;
}

static_assert(MPIPOOL_GROUP_PER_NODE == mpipool::pool_options::group_per_node);

mpipool::pool_options options_of(const mpipool_options* c) {
  mpipool::pool_options options;
  if (!c) return options;
  if (c->initializer) {
    const char* data = static_cast<const char*>(c->initializer_input);
    options.initializer = mpipool::call(c_task{c->initializer}, bytes(data, data + (data ? c->initializer_input_size : 0)));
  }
  options.isolated = c->isolated != 0;
  options.task_timeout = std::chrono::milliseconds(static_cast<long long>(c->task_timeout * 1000.0));
  options.max_tasks_per_child = c->max_tasks_per_child > 0 ? static_cast<std::size_t>(c->max_tasks_per_child) : 0;
  options.progress = c->progress != 0;
  options.ranks_per_group = c->ranks_per_group;
  return options;
}

// The C++ callbacks for a background call's C callbacks: bytes to on_result, the error to on_error.
template <class Value>
mpipool::callbacks<Value> callbacks_of(const mpipool_callbacks* c, size_t output_size) {
  mpipool::callbacks<Value> cb;
  if (!c) return cb;
  const mpipool_callbacks copy = *c;
  if (copy.on_result) {
    cb.on_result = [copy, output_size](const Value& value) {
      if constexpr (std::is_same_v<Value, bytes>) {
        (void)output_size;  // a map's record size: an apply's bytes are passed as they are
        copy.on_result(value.data(), value.size(), copy.user);
      } else {
        bytes joined;
        joined.reserve(value.size() * output_size);
        for (const bytes& record : value) joined.insert(joined.end(), record.begin(), record.end());
        copy.on_result(joined.data(), joined.size(), copy.user);
      }
    };
  }
  if (copy.on_error) {
    cb.on_error = [copy](const mpipool::error& e) {
      try {
        throw e;
      } catch (...) {
        from_current_exception();
      }
      // The C++ error was copied as its base: recover a remote error's details.
      if (const auto* remote = dynamic_cast<const mpipool::remote_error*>(&e)) {
        last_error.status = MPIPOOL_ERR_TASK;
        copy_text(last_error.type_name, remote->type_name());
        last_error.rank = remote->rank();
        copy_text(last_error.host, remote->host());
        last_error.index = static_cast<int64_t>(remote->index());
      }
      copy.on_error(&last_error, copy.user);
    };
  }
  return cb;
}

// An input range over a C producer: read lazily, one record per step.
class produced_records {
 public:
  produced_records(mpipool_producer producer, void* user, size_t size)
      : state_(std::make_shared<state>(state{producer, user, size, {}, false, false})) {}

  struct state {
    mpipool_producer producer;
    void* user;
    size_t size;
    bytes current;
    bool started;
    bool ended;
    void advance() {
      current.assign(size, 0);
      ended = producer(user, current.data()) == 0;
    }
  };

  class iterator {
   public:
    using value_type = bytes;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(state* s) : s_(s) {}
    const bytes& operator*() const { return s_->current; }
    iterator& operator++() {
      s_->advance();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.s_->ended; }

   private:
    state* s_ = nullptr;
  };

  iterator begin() {
    if (!state_->started) {
      state_->started = true;
      state_->advance();
    }
    return iterator(state_.get());
  }
  std::default_sentinel_t end() const { return {}; }

 private:
  std::shared_ptr<state> state_;
};

}  // namespace

extern "C" {

const mpipool_error_info* mpipool_last_error(void) { return &last_error; }

int mpipool_register_records(const char* name, mpipool_record_task task, size_t input_size, size_t output_size,
                             void* user) {
  return guarded([&] {
    if (!name || !task) return argument_error("mpipool: register: the name or the task is NULL");
    c_task_entry entry;
    entry.records = task;
    entry.input_size = input_size;
    entry.output_size = output_size;
    entry.user = user;
    mpipool::detail::register_c_task(name, entry);
    return static_cast<int>(MPIPOOL_OK);
  });
}

int mpipool_register_bytes(const char* name, mpipool_bytes_task task, void* user) {
  return guarded([&] {
    if (!name || !task) return argument_error("mpipool: register: the name or the task is NULL");
    c_task_entry entry;
    entry.shape = c_task_entry::kind::bytes;
    entry.bytes = task;
    entry.user = user;
    mpipool::detail::register_c_task(name, entry);
    return static_cast<int>(MPIPOOL_OK);
  });
}

namespace {
int run_double(const void* input, void* output, void* user) {
  double x = 0;
  std::memcpy(&x, input, sizeof x);
  const double y = reinterpret_cast<double (*)(double)>(user)(x);
  std::memcpy(output, &y, sizeof y);
  return 0;
}
int run_int(const void* input, void* output, void* user) {
  int x = 0;
  std::memcpy(&x, input, sizeof x);
  const int y = reinterpret_cast<int (*)(int)>(user)(x);
  std::memcpy(output, &y, sizeof y);
  return 0;
}
}  // namespace

int mpipool_register_double(const char* name, double (*task)(double)) {
  if (!task) return argument_error("mpipool: register: the task is NULL");
  return mpipool_register_records(name, run_double, sizeof(double), sizeof(double), reinterpret_cast<void*>(task));
}

int mpipool_register_int(const char* name, int (*task)(int)) {
  if (!task) return argument_error("mpipool: register: the task is NULL");
  return mpipool_register_records(name, run_int, sizeof(int), sizeof(int), reinterpret_cast<void*>(task));
}

void mpipool_options_init(mpipool_options* options) {
  if (options) *options = mpipool_options{nullptr, nullptr, 0, 0, 0.0, 0, 0, 0};
}

int mpipool_run(int* argc, char*** argv, const mpipool_options* options, mpipool_body body, void* user,
                int* exit_code) {
  return guarded([&] {
    if (!body || !exit_code) return argument_error("mpipool_run: the body or the exit code is NULL");
    if ((argc == nullptr) != (argv == nullptr)) return argument_error("mpipool_run: give argc and argv, or neither");
    int no_argc = 0;
    char** no_argv = nullptr;
    *exit_code = mpipool::run(
        argc ? *argc : no_argc, argv ? *argv : no_argv,
        [&](mpipool::pool& pool) {
          mpipool_pool handle{&pool};
          return body(&handle, user);
        },
        options_of(options));
    return static_cast<int>(MPIPOOL_OK);
  });
}

int mpipool_run_comm(MPI_Comm comm, const mpipool_options* options, mpipool_body body, void* user, int* exit_code) {
  return guarded([&] {
    if (!body || !exit_code) return argument_error("mpipool_run_comm: a NULL argument");
    *exit_code = mpipool::run(
        comm,
        [&](mpipool::pool& pool) {
          mpipool_pool handle{&pool};
          return body(&handle, user);
        },
        options_of(options));
    return static_cast<int>(MPIPOOL_OK);
  });
}

int mpipool_map(mpipool_pool* pool, const char* task, const void* inputs, size_t input_size, size_t count,
                void* outputs, size_t output_size, size_t outputs_capacity, long chunksize) {
  return mpipool_map_journaled(pool, task, inputs, input_size, count, outputs, output_size, outputs_capacity,
                               chunksize, nullptr, nullptr);
}

int mpipool_map_journaled(mpipool_pool* pool, const char* task, const void* inputs, size_t input_size,
                          size_t count, void* outputs, size_t output_size, size_t outputs_capacity, long chunksize,
                          const char* journal_file, const char* journal_name) {
  return guarded([&] {
    if (int status = check_pool(pool)) return status;
    if (int status = check_record_task(task, input_size, output_size)) return status;
    if (count > 0 && !inputs) return argument_error("mpipool_map: the input is NULL");
    if (int status = check_outputs(outputs, output_size, count, outputs_capacity)) return status;
    if ((journal_file == nullptr) != (journal_name == nullptr))
      return argument_error("mpipool_map_journaled: give both the journal's file and the call's name");
    std::optional<mpipool::journal> log;
    if (journal_file) log.emplace(journal_file, journal_name);
    const mpipool::journal* journal = log ? &*log : nullptr;
    if (std::optional<int> status =
            map_records_fast(*pool, task, inputs, input_size, count, outputs, output_size, chunksize, journal))
      return *status;
    const std::vector<bytes> items = records_of(inputs, input_size, count);
    const std::vector<bytes> results = journal ? pool->pool->map(c_task{task}, items, chunksize_of(chunksize), *journal)
                                               : pool->pool->map(c_task{task}, items, chunksize_of(chunksize));
    return write_records(results, outputs, output_size);
  });
}

int mpipool_starmap(mpipool_pool* pool, const char* task, size_t arity, const void* const* inputs,
                    const size_t* input_sizes, size_t count, void* outputs, size_t output_size,
                    size_t outputs_capacity, long chunksize) {
  return guarded([&] {
    if (int status = check_pool(pool)) return status;
    if (arity == 0 || !inputs || !input_sizes) return argument_error("mpipool_starmap: no argument arrays");
    size_t record = 0;
    for (size_t a = 0; a < arity; ++a) {
      if (count > 0 && !inputs[a]) return argument_error("mpipool_starmap: argument array " + std::to_string(a) + " is NULL");
      record += input_sizes[a];
    }
    if (int status = check_record_task(task, record, output_size)) return status;
    if (int status = check_outputs(outputs, output_size, count, outputs_capacity)) return status;
    std::vector<bytes> items(count, bytes(record));
    for (size_t i = 0; i < count; ++i) {
      size_t at = 0;
      for (size_t a = 0; a < arity; ++a) {
        std::memcpy(items[i].data() + at, static_cast<const char*>(inputs[a]) + i * input_sizes[a], input_sizes[a]);
        at += input_sizes[a];
      }
    }
    std::vector<char> packed(count * record);
    for (size_t i = 0; i < count; ++i) std::memcpy(packed.data() + i * record, items[i].data(), record);
    if (std::optional<int> status =
            map_records_fast(*pool, task, packed.data(), record, count, outputs, output_size, chunksize, nullptr))
      return *status;
    return write_records(pool->pool->map(c_task{task}, items, chunksize_of(chunksize)), outputs, output_size);
  });
}

int mpipool_map_async(mpipool_pool* pool, const char* task, const void* inputs, size_t input_size, size_t count,
                      void* outputs, size_t output_size, size_t outputs_capacity, long chunksize,
                      const mpipool_callbacks* callbacks, mpipool_result** result) {
  return guarded([&] {
    if (int status = check_pool(pool)) return status;
    if (!result) return argument_error("mpipool_map_async: the result handle pointer is NULL");
    *result = nullptr;
    if (int status = check_record_task(task, input_size, output_size)) return status;
    if (count > 0 && !inputs) return argument_error("mpipool_map_async: the input is NULL");
    if (int status = check_outputs(outputs, output_size, count, outputs_capacity)) return status;
    auto call = pool->pool->map_async(c_task{task}, records_of(inputs, input_size, count), chunksize_of(chunksize),
                                      callbacks_of<std::vector<bytes>>(callbacks, output_size));
    *result = new mpipool_result{std::move(call), outputs, output_size, outputs_capacity};
    return static_cast<int>(MPIPOOL_OK);
  });
}

int mpipool_apply_async(mpipool_pool* pool, const char* task, const void* input, size_t size,
                        const mpipool_callbacks* callbacks, mpipool_result** result) {
  return guarded([&] {
    if (int status = check_pool(pool)) return status;
    if (!result) return argument_error("mpipool_apply_async: the result handle pointer is NULL");
    *result = nullptr;
    if (!task) return argument_error("mpipool_apply_async: the task name is NULL");
    if (size > 0 && !input) return argument_error("mpipool_apply_async: the input is NULL");
    const std::optional<c_task_entry> entry = mpipool::detail::find_c_task(task);
    if (!entry)
      return set_error(MPIPOOL_ERR_NOT_FOUND, "mpipool::registration_error",
                       std::string("mpipool: no task named '") + task + "' is registered");
    if (entry->shape == c_task_entry::kind::records && entry->input_size != size)
      return argument_error(std::string("mpipool: task '") + task + "' takes records of " +
                            std::to_string(entry->input_size) + " bytes, not " + std::to_string(size));
    const char* data = static_cast<const char*>(input);
    auto call = pool->pool->apply_async(callbacks_of<bytes>(callbacks, 0), c_task{task}, bytes(data, data + size));
    *result = new mpipool_result{std::move(call)};
    return static_cast<int>(MPIPOOL_OK);
  });
}

int mpipool_result_wait(mpipool_result* result, double timeout_s) {
  return guarded([&] {
    if (!result) return argument_error("mpipool_result_wait: the handle is NULL");
    if (mpipool::detail::inside_c_task()) return check_pool(nullptr);
    const bool done = std::visit(
        [&](const auto& call) {
          if (timeout_s < 0) {
            call.wait();
            return true;
          }
          return call.wait(std::chrono::duration<double>(timeout_s));
        },
        result->call);
    if (!done) return set_error(MPIPOOL_ERR_TIMEOUT, "mpipool::timeout_error", "mpipool: the result is not ready yet");
    return static_cast<int>(MPIPOOL_OK);
  });
}

int mpipool_result_ready(const mpipool_result* result, int* ready) {
  return guarded([&] {
    if (!result || !ready) return argument_error("mpipool_result_ready: a NULL argument");
    *ready = std::visit([](const auto& call) { return call.ready() ? 1 : 0; }, result->call);
    return static_cast<int>(MPIPOOL_OK);
  });
}

int mpipool_result_get(mpipool_result* result, void* output, size_t capacity, size_t* size) {
  return guarded([&] {
    if (!result) return argument_error("mpipool_result_get: the handle is NULL");
    if (auto* map = std::get_if<mpipool::async_result<std::vector<bytes>>>(&result->call)) {
      const std::vector<bytes>& records = map->get();
      if (size) *size = records.size() * result->output_size;
      return write_records(records, result->outputs, result->output_size);
    }
    const bytes& value = std::get<mpipool::async_result<bytes>>(result->call).get();
    if (size) *size = value.size();
    if (value.size() > capacity || (!output && !value.empty())) {
      set_error(MPIPOOL_ERR_BUFFER, "buffer too small",
                "mpipool: the result has " + std::to_string(value.size()) + " bytes; the buffer holds " +
                    std::to_string(output ? capacity : 0));
      last_error.needed = value.size();
      return static_cast<int>(MPIPOOL_ERR_BUFFER);
    }
    if (!value.empty()) std::memcpy(output, value.data(), value.size());
    return static_cast<int>(MPIPOOL_OK);
  });
}

int mpipool_result_free(mpipool_result* result) {
  return guarded([&] {
    delete result;
    return static_cast<int>(MPIPOOL_OK);
  });
}

int mpipool_imap(mpipool_pool* pool, const char* task, size_t input_size, mpipool_producer producer,
                 void* producer_user, size_t output_size, mpipool_consumer consumer, void* consumer_user,
                 long chunksize, int ordered) {
  return guarded([&] {
    if (int status = check_pool(pool)) return status;
    if (!producer || !consumer) return argument_error("mpipool_imap: the producer or the consumer is NULL");
    if (chunksize < 0) return argument_error("mpipool_imap: a negative chunksize");
    if (int status = check_record_task(task, input_size, output_size)) return status;
    const std::int64_t size = chunksize == 0 ? 1 : chunksize;
    produced_records input(producer, producer_user, input_size);
    std::uint64_t index = 0;
    auto consume = [&](auto&& stream) {
      for (const bytes& record : stream) {
        if (record.size() != output_size)
          return set_error(MPIPOOL_ERR_OTHER, "mpipool::error", "mpipool: a task's output record has the wrong size");
        if (consumer(consumer_user, index++, record.data()) != 0) return static_cast<int>(MPIPOOL_OK);  // stopped
      }
      return static_cast<int>(MPIPOOL_OK);
    };
    if (ordered) return consume(pool->pool->imap(c_task{task}, input, size));
    return consume(pool->pool->imap_unordered(c_task{task}, input, size));
  });
}

int mpipool_close(mpipool_pool* pool) {
  return guarded([&] {
    if (int status = check_pool(pool)) return status;
    pool->pool->close();
    return static_cast<int>(MPIPOOL_OK);
  });
}

int mpipool_terminate(mpipool_pool* pool) {
  return guarded([&] {
    if (int status = check_pool(pool)) return status;
    pool->pool->terminate();
    return static_cast<int>(MPIPOOL_OK);
  });
}

int mpipool_join(mpipool_pool* pool) {
  return guarded([&] {
    if (int status = check_pool(pool)) return status;
    pool->pool->join();
    return static_cast<int>(MPIPOOL_OK);
  });
}

int mpipool_workers(const mpipool_pool* pool, int* workers) {
  return guarded([&] {
    if (int status = check_pool(pool)) return status;
    if (!workers) return argument_error("mpipool_workers: a NULL argument");
    *workers = static_cast<int>(pool->pool->workers());
    return static_cast<int>(MPIPOOL_OK);
  });
}

}  // extern "C"
