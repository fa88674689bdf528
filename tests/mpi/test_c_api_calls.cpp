// The C API (mpipool.h) driven from C++: options (the initializer), error callbacks with the
// failing item's details, waits with a timeout, and a journaled map resumed from its journal.
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

struct registered {
  registered() {
    mpipool_register_bytes("remember", remember, nullptr);
    mpipool_register_records("report_initializer", report_initializer, sizeof(int), sizeof(int), nullptr);
    mpipool_register_records("fail_on_three", fail_on_three, sizeof(int), sizeof(int), nullptr);
    mpipool_register_bytes("wait_at_gate", wait_at_gate, nullptr);
    mpipool_register_records("negate", negate, sizeof(double), sizeof(double), nullptr);
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
