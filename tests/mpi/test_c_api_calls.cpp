// The C API (mpipool.h) driven from C++: options (the initializer), error callbacks with the
// failing item's details, waits with a timeout, and a journaled map resumed from its journal.
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <mpipool.h>

#include "support.hpp"

namespace {

int initialized_with = 0;  // per process: what the initializer was given

int remember(const void* input, size_t size, mpipool_writer*, void*) {
  if (size != sizeof(int)) return 1;
  std::memcpy(&initialized_with, input, sizeof(int));
  return 0;
}

int report_initializer(const void*, void* output, void*) {
  std::memcpy(output, &initialized_with, sizeof(int));
  return 0;
}

int fail_on_three(const void* input, void* output, void*) {
  int x = 0;
  std::memcpy(&x, input, sizeof x);
  if (x == 3) {
    mpipool_task_fail("three");
    return 5;
  }
  std::memcpy(output, &x, sizeof x);
  return 0;
}

int wait_at_gate(const void* input, size_t size, mpipool_writer* output, void*) {
  mpipool_test::gate::wait(std::string(static_cast<const char*>(input), size));
  return mpipool_writer_write(output, "done", 4);
}

int negate(const void* input, void* output, void*) {
  double x = 0;
  std::memcpy(&x, input, sizeof x);
  x = -x;
  std::memcpy(output, &x, sizeof x);
  return 0;
}

int copy_record(const void* input, void* output, void* user) {
  std::memcpy(output, input, reinterpret_cast<std::size_t>(user));
  return 0;
}

// Item 1 leaves a failure message but succeeds; item 2 fails with no message of its own.
int note_then_fail(const void* input, void* output, void*) {
  int x = 0;
  std::memcpy(&x, input, sizeof x);
  if (x == 1) mpipool_task_fail("a note that item 1 left");
  std::memcpy(output, &x, sizeof x);
  return x == 2 ? 7 : 0;
}

int report_rank(const void*, void* output, void*) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::memcpy(output, &rank, sizeof rank);
  return 0;
}

int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

struct registered {
  registered() {

    mpipool_register_bytes("remember", remember, nullptr);
    mpipool_register_records("report_initializer", report_initializer, sizeof(int), sizeof(int), nullptr);
    mpipool_register_records("fail_on_three", fail_on_three, sizeof(int), sizeof(int), nullptr);
    mpipool_register_bytes("wait_at_gate", wait_at_gate, nullptr);
    mpipool_register_records("report_rank", report_rank, sizeof(int), sizeof(int), nullptr);
    mpipool_register_records("negate", negate, sizeof(double), sizeof(double), nullptr);
    mpipool_register_records("note_then_fail", note_then_fail, sizeof(int), sizeof(int), nullptr);
  }
} registered_at_start;  // on every rank, before any pool

template <class Body>
int run_c_pool(const mpipool_options* options, Body body) {
  int exit_code = -1;
  const int status = mpipool_run_comm(
      MPI_COMM_WORLD, options,
      [](mpipool_pool* pool, void* user) { return (*static_cast<Body*>(user))(pool); }, &body, &exit_code);
  EXPECT_EQ(status, MPIPOOL_OK) << mpipool_last_error()->message;
  return exit_code;
}

}  // namespace

TEST(c_api, the_initializer_runs_on_every_worker_with_its_input) {
  mpipool_options options;
  mpipool_options_init(&options);
  const int seed = 42;
  options.initializer = "remember";
  options.initializer_input = &seed;
  options.initializer_input_size = sizeof seed;
  run_c_pool(&options, [](mpipool_pool* pool) {
    std::vector<int> ins(20, 0), outs(20, -1);
    EXPECT_EQ(mpipool_map(pool, "report_initializer", ins.data(), sizeof(int), ins.size(), outs.data(), sizeof(int),
                          outs.size() * sizeof(int), 1),
              MPIPOOL_OK);
    for (int v : outs) EXPECT_EQ(v, 42);
    return 0;
  });
}

// Groups of two from the C options: the first rank of each group relays and runs no task, and
// every item still comes back, in order.
TEST(c_api, ranks_per_group_puts_relays_between_the_master_and_the_workers) {
  mpipool_options options;
  mpipool_options_init(&options);
  EXPECT_EQ(options.ranks_per_group, 0);
  options.ranks_per_group = 2;
  const std::vector<int> workers = mpipool_test::worker_ranks(2);
  run_c_pool(&options, [&](mpipool_pool* pool) {
    std::vector<int> ins(200, 0), ranks(200, -1);
    EXPECT_EQ(mpipool_map(pool, "report_rank", ins.data(), sizeof(int), ins.size(), ranks.data(), sizeof(int),
                          ranks.size() * sizeof(int), 1),
              MPIPOOL_OK);
    for (int rank : ranks)
      EXPECT_NE(std::find(workers.begin(), workers.end(), rank), workers.end()) << "rank " << rank << " ran a task";
    std::vector<double> xs(300), negated(300);
    for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = 0.5 * static_cast<double>(i);
    EXPECT_EQ(mpipool_map(pool, "negate", xs.data(), sizeof(double), xs.size(), negated.data(), sizeof(double),
                          negated.size() * sizeof(double), 7),
              MPIPOOL_OK);
    for (std::size_t i = 0; i < xs.size(); ++i) EXPECT_EQ(negated[i], -xs[i]);
    return 0;
  });
}

TEST(c_api, an_error_callback_gets_the_failing_item) {
  run_c_pool(nullptr, [](mpipool_pool* pool) {
    struct seen {
      int errors = 0;
      int64_t index = -1;
      std::string message;
      int rank = -2;
    } record;
    const mpipool_callbacks callbacks{nullptr,
                                      [](const mpipool_error_info* e, void* user) {
                                        auto& r = *static_cast<seen*>(user);
                                        ++r.errors;
                                        r.index = e->index;
                                        r.message = e->message;
                                        r.rank = e->rank;
                                      },
                                      &record};
    std::vector<int> ins{0, 1, 2, 3, 4}, outs(5);
    mpipool_result* handle = nullptr;
    EXPECT_EQ(mpipool_map_async(pool, "fail_on_three", ins.data(), sizeof(int), ins.size(), outs.data(), sizeof(int),
                                outs.size() * sizeof(int), 1, &callbacks, &handle),
              MPIPOOL_OK);
    if (!handle) return 1;
    EXPECT_EQ(mpipool_result_get(handle, nullptr, 0, nullptr), MPIPOOL_ERR_TASK);
    EXPECT_EQ(mpipool_last_error()->index, 3);
    mpipool_result_free(handle);
    EXPECT_EQ(record.errors, 1);
    EXPECT_EQ(record.index, 3);
    EXPECT_NE(record.message.find("three"), std::string::npos) << record.message;
    EXPECT_GE(record.rank, 0);
    return 0;
  });
}

TEST(c_api, a_wait_with_a_timeout_says_not_ready_then_gets_the_result) {
  run_c_pool(nullptr, [](mpipool_pool* pool) {
    mpipool_test::gate gate("c-api-wait");
    const std::string path = gate.path();
    mpipool_result* handle = nullptr;
    EXPECT_EQ(mpipool_apply_async(pool, "wait_at_gate", path.data(), path.size(), nullptr, &handle), MPIPOOL_OK);
    EXPECT_EQ(mpipool_result_wait(handle, 0.05), MPIPOOL_ERR_TIMEOUT);
    int ready = 1;
    EXPECT_EQ(mpipool_result_ready(handle, &ready), MPIPOOL_OK);
    EXPECT_EQ(ready, 0);
    gate.open();
    EXPECT_EQ(mpipool_result_wait(handle, -1), MPIPOOL_OK);
    char text[8] = {};
    size_t size = 0;
    EXPECT_EQ(mpipool_result_get(handle, text, sizeof text, &size), MPIPOOL_OK);
    EXPECT_EQ(std::string(text, size), "done");
    EXPECT_EQ(mpipool_result_free(handle), MPIPOOL_OK);
    return 0;
  });
}

TEST(c_api, a_journaled_map_takes_its_results_from_the_journal_on_a_rerun) {
  const auto file = std::filesystem::temp_directory_path() /
                    ("mpipool-c-journal-" + std::to_string(mpipool_test::world_size()) + ".journal");
  if (mpipool_test::world_rank() == 0) std::filesystem::remove(file);
  for (int run = 0; run < 2; ++run) {
    run_c_pool(nullptr, [&](mpipool_pool* pool) {
      std::vector<double> xs{1, 2, 3, 4}, ys(4);
      EXPECT_EQ(mpipool_map_journaled(pool, "negate", xs.data(), sizeof(double), xs.size(), ys.data(), sizeof(double),
                                      ys.size() * sizeof(double), 0, file.c_str(), "negations"),
                MPIPOOL_OK)
          << mpipool_last_error()->message;
      EXPECT_EQ(ys, (std::vector<double>{-1, -2, -3, -4}));
      return 0;
    });
  }
  if (mpipool_test::world_rank() == 0) {
    EXPECT_GT(std::filesystem::file_size(file), 0u);
    std::filesystem::remove(file);
  }
}

TEST(c_api, a_worker_whose_registration_differs_fails_the_map_with_a_registration_error) {
  // Registered for 8-byte records on rank 0 and 4-byte ones elsewhere: a program that does not
  // register the same task on every rank.
  const std::size_t record = world_rank() == 0 ? 8 : 4;
  mpipool_register_records("copy_mismatched", copy_record, record, record, reinterpret_cast<void*>(record));
  run_c_pool(nullptr, [](mpipool_pool* pool) {
    std::vector<double> ins(12, 1.5), outs(12, 0.0);
    const int status = mpipool_map(pool, "copy_mismatched", ins.data(), sizeof(double), ins.size(), outs.data(),
                                   sizeof(double), outs.size() * sizeof(double), 4);
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size == 1) {  // rank 0 runs the tasks itself, with its own registration
      EXPECT_EQ(status, MPIPOOL_OK);
      EXPECT_EQ(outs[11], 1.5);
    } else {
      EXPECT_EQ(status, MPIPOOL_ERR_TASK);
      EXPECT_STREQ(mpipool_last_error()->type_name, "mpipool::registration_error");
      EXPECT_NE(std::string(mpipool_last_error()->message).find("4 bytes in"), std::string::npos)
          << mpipool_last_error()->message;
    }
    return 0;
  });
}

TEST(c_api, a_record_in_a_block_fails_with_its_own_message_not_an_earlier_records) {
  run_c_pool(nullptr, [](mpipool_pool* pool) {
    std::vector<int> ins{0, 1, 2, 3}, outs(4);
    EXPECT_EQ(mpipool_map(pool, "note_then_fail", ins.data(), sizeof(int), ins.size(), outs.data(), sizeof(int),
                          outs.size() * sizeof(int), 4),
              MPIPOOL_ERR_TASK);
    const std::string message = mpipool_last_error()->message;
    EXPECT_EQ(mpipool_last_error()->index, 2);
    EXPECT_NE(message.find("the task returned 7"), std::string::npos) << message;
    EXPECT_EQ(message.find("a note"), std::string::npos) << message;
    return 0;
  });
}
