// The failure-point matrix: one case for each place where a task's life can fail, chosen by
// argv[1]. Every case ends in a defined outcome, never a hang:
// - an error on the call, after which the pool runs another call correctly: the program checks
//   both and exits 0 (1 and a line per failed check otherwise);
// - or a prompt abort of the job with a message naming the rank: the test registration holds
//   the expected message, and the program never gets to its checks.
// The mode comes from the environment: MPIPOOL_ISOLATED=1 runs each worker's tasks in a forked
// helper process, so that a crashing task fails its item as mpipool::worker_crashed instead of
// ending the job. Where the two modes differ, the expectation for each is written here, and
// tests/CMakeLists.txt registers the outcome (exit 0 or an abort's message) for each.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <mpi.h>
#include <mpipool/mpipool.hpp>

#include "failing_values.hpp"
#include "generator.hpp"
#include "support.hpp"

namespace failure_points {  // named, so that a thrown type's demangled name is known

using mpipool_test::poisoned;
using mpipool_test::refuses_to_load;
using mpipool_test::refuses_to_save;

bool isolated() {
  const char* value = std::getenv("MPIPOOL_ISOLATED");
  return value != nullptr && std::string(value) == "1";
}

int world_rank = -1;
int world_size = -1;

// Failed checks, on the master; the body returns non-zero when there is any.
int failed_checks = 0;
void check(bool ok, const std::string& what) {
  if (ok) return;
  ++failed_checks;
  std::fprintf(stderr, "failure_points: check failed: %s\n", what.c_str());
}
int verdict() { return failed_checks == 0 ? 0 : 1; }

constexpr int item_count = 8;
constexpr int chunksize = 2;  // the failing item shares its chunk with another one

// How a crashing task or callback ends its process.
enum class crash_kind { segfault, abort, exit };
[[noreturn]] void crash(crash_kind how) {
  if (how == crash_kind::segfault) std::raise(SIGSEGV);
  if (how == crash_kind::exit) std::exit(3);
  std::abort();
}

struct not_a_std_exception {
  int code = 0;
};

int square(int x) { return x * x; }
int throw_std_at_three(int x) {
  if (x == poisoned) throw std::runtime_error("item three refused");
  return x * x;
}
int throw_other_at_three(int x) {
  if (x == poisoned) throw not_a_std_exception{x};
  return x * x;
}
int segfault_at_three(int x) {
  if (x == poisoned) crash(crash_kind::segfault);
  return x * x;
}
int abort_at_three(int x) {
  if (x == poisoned) crash(crash_kind::abort);
  return x * x;
}
int exit_at_three(int x) {
  if (x == poisoned) crash(crash_kind::exit);
  return x * x;
}
int square_of_saved(refuses_to_save x) { return x.value * x.value; }
int square_of_loaded(refuses_to_load x) { return x.value * x.value; }
refuses_to_save make_unsaveable(int x) { return {x, "item " + std::to_string(x)}; }
refuses_to_load make_unloadable(int x) { return {x, "item " + std::to_string(x)}; }
int add(int x, int y) { return x + y; }

// The initializer fails on one worker only: the first (rank 0 with one rank, where the master's
// own process runs the tasks; rank 1 unless groups make it a relay).
bool initializer_fails_here() { return world_rank == mpipool_test::first_worker_rank(); }
void throw_in_initializer() {
  if (initializer_fails_here()) throw std::runtime_error("initializer refused");
}
void segfault_in_initializer() {
  if (initializer_fails_here()) crash(crash_kind::segfault);
}
void fine_initializer() {}

}  // namespace failure_points

using namespace failure_points;

MPIPOOL_REGISTER(square);
MPIPOOL_REGISTER(throw_std_at_three);
MPIPOOL_REGISTER(throw_other_at_three);
MPIPOOL_REGISTER(segfault_at_three);
MPIPOOL_REGISTER(abort_at_three);
MPIPOOL_REGISTER(exit_at_three);
MPIPOOL_REGISTER(square_of_saved);
MPIPOOL_REGISTER(square_of_loaded);
MPIPOOL_REGISTER(make_unsaveable);
MPIPOOL_REGISTER(make_unloadable);
MPIPOOL_REGISTER(add);
MPIPOOL_REGISTER(throw_in_initializer);
MPIPOOL_REGISTER(segfault_in_initializer);
MPIPOOL_REGISTER(fine_initializer);

namespace {

// What an item's failure must look like; no message means any message.
struct expected_failure {
  std::string type_name;
  std::optional<std::string> message;
};

void check_failure(const mpipool::remote_error& e, const expected_failure& want, const std::string& where) {
  check(e.index() == std::uint64_t(poisoned), where + ": index " + std::to_string(e.index()) + ", not 3");
  check(e.type_name() == want.type_name, where + ": type " + e.type_name() + ", not " + want.type_name);
  if (want.message) check(e.message() == *want.message, where + ": message '" + e.message() + "'");
  check(e.rank() >= 0 && e.rank() < world_size, where + ": rank " + std::to_string(e.rank()));
  check(!e.host().empty(), where + ": no host");
}

std::string shown(int value) { return std::to_string(value); }
std::string shown(const refuses_to_save& value) { return value.label; }
std::string shown(const refuses_to_load& value) { return value.label; }

// Another call after a failure gets every result right.
void check_the_pool_goes_on(mpipool::pool& pool, const std::string& after) {
  std::vector<int> expected;
  for (int i = 0; i < 100; ++i) expected.push_back(i * i);
  check(pool.map(square, std::views::iota(0, 100)) == expected, "the map after " + after);
  check(pool.apply(add, 2, 3) == 5, "the apply after " + after);
}

// Item 3 fails, alone: map raises its error once every item is done; imap raises it at its
// position and the items after it still come; then the pool goes on.
template <class F, class Inputs>
void check_item_fails_alone(mpipool::pool& pool, F task, const Inputs& inputs,
                            const std::function<std::string(int)>& expected_value, const expected_failure& want) {
  try {
    (void)pool.map(task, inputs, chunksize);
    check(false, "map raised nothing");
  } catch (const mpipool::remote_error& e) {
    check_failure(e, want, "map");
  }
  auto stream = pool.imap(task, inputs, chunksize);
  for (int i = 0; i < item_count; ++i) {
    const std::string where = "imap item " + std::to_string(i);
    try {
      auto value = stream.next();
      check(value.has_value(), where + ": the stream ended early");
      if (!value) return;
      check(i != poisoned, where + ": a value where a failure was due");
      check(shown(*value) == expected_value(i), where + ": " + shown(*value));
    } catch (const mpipool::remote_error& e) {
      check(i == poisoned, where + ": raised " + e.type_name());
      check_failure(e, want, where);
    }
  }
  check(!stream.next().has_value(), "imap: more than 8 items");
  check_the_pool_goes_on(pool, want.type_name);
}

std::vector<int> small_inputs() {
  std::vector<int> out;
  for (int i = 0; i < item_count; ++i) out.push_back(i);
  return out;
}

template <class Value>
std::vector<Value> poisoned_inputs() {
  std::vector<Value> out;
  for (int i = 0; i < item_count; ++i) out.push_back({i, "item " + std::to_string(i)});
  return out;
}

std::string square_shown(int i) { return std::to_string(i * i); }
std::string label_shown(int i) { return "item " + std::to_string(i); }

int with_pool(const std::function<void(mpipool::pool&)>& body, const mpipool::pool_options& options = {}) {
  return mpipool::run(
      MPI_COMM_WORLD,
      [&](mpipool::pool& pool) {
        body(pool);
        return verdict();
      },
      options);
}

// stderr of this process, into a file, while it lives.
class captured_stderr {
 public:
  captured_stderr() : file_(std::tmpfile()), saved_(::dup(STDERR_FILENO)) {
    std::fflush(stderr);
    ::dup2(::fileno(file_), STDERR_FILENO);
  }
  ~captured_stderr() {
    restore();
    std::fclose(file_);
  }
  captured_stderr(const captured_stderr&) = delete;
  captured_stderr& operator=(const captured_stderr&) = delete;

  std::string text() {
    restore();
    std::string out;
    std::rewind(file_);
    for (int c; (c = std::fgetc(file_)) != EOF;) out.push_back(static_cast<char>(c));
    std::fputs(out.c_str(), stderr);  // still in the test's log
    return out;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    saved_ = -1;
  }
  std::FILE* file_;
  int saved_;
};

// 1. The task throws.
int task_throws_std() {
  return with_pool([](mpipool::pool& pool) {
    check_item_fails_alone(pool, throw_std_at_three, small_inputs(), square_shown,
                           {"std::runtime_error", "item three refused"});
  });
}

int task_throws_non_std() {
  return with_pool([](mpipool::pool& pool) {
    check_item_fails_alone(pool, throw_other_at_three, small_inputs(), square_shown,
                           {"failure_points::not_a_std_exception", ""});
  });
}

// 2. The task crashes. By default the job ends at once, naming the rank, the item and the task
// (the checks below are never reached); isolated, the item fails as worker_crashed and the
// pool goes on.
template <class F>
int task_crashes(F task) {
  return with_pool([&](mpipool::pool& pool) {
    check_item_fails_alone(pool, task, small_inputs(), square_shown, {"mpipool::worker_crashed", std::nullopt});
    check(isolated(), "the job outlived a crashing task without isolation");
  });
}

// 3. An argument fails to serialize on the master, before its chunk is sent. map fails as a
// whole, with an mpipool::error saying so (its items were never sent, so none is a
// remote_error); a stream raises the exception itself at the item's position, after the items
// before it, and ends there, as a failing input does. Either way the pool goes on.
int argument_fails_to_serialize() {
  return with_pool([](mpipool::pool& pool) {
    const auto inputs = poisoned_inputs<refuses_to_save>();
    try {
      (void)pool.map(square_of_saved, inputs, chunksize);
      check(false, "map raised nothing");
    } catch (const mpipool::remote_error& e) {
      check(false, "map raised a remote_error: " + e.type_name());
    } catch (const mpipool::error& e) {
      check(std::string(e.what()) ==
                "mpipool: task 'square_of_saved' failed on the master: std::length_error: cannot save 3",
            std::string("map raised: ") + e.what());
    }
    auto stream = pool.imap(square_of_saved, inputs, chunksize);
    for (int i = 0; i < poisoned; ++i) check(stream.next() == i * i, "imap item " + std::to_string(i));
    try {
      (void)stream.next();
      check(false, "imap raised nothing at item 3");
    } catch (const std::length_error& e) {
      check(std::string(e.what()) == "cannot save 3", std::string("imap raised: ") + e.what());
    }
    check(!stream.next().has_value(), "imap went on after its argument failed");
    check_the_pool_goes_on(pool, "an argument that failed to serialize");
  });
}

// 4. An argument fails to deserialize on the worker; 5. a result fails to serialize on the
// worker; 6. a result fails to deserialize on the master. Each fails its own item only.
int argument_fails_to_deserialize() {
  return with_pool([](mpipool::pool& pool) {
    check_item_fails_alone(pool, square_of_loaded, poisoned_inputs<refuses_to_load>(), square_shown,
                           {"std::domain_error", "cannot load 3"});
  });
}

int result_fails_to_serialize() {
  return with_pool([](mpipool::pool& pool) {
    check_item_fails_alone(pool, make_unsaveable, small_inputs(), label_shown, {"std::length_error", "cannot save 3"});
  });
}

int result_fails_to_deserialize() {
  return with_pool([](mpipool::pool& pool) {
    check_item_fails_alone(pool, make_unloadable, small_inputs(), label_shown, {"std::domain_error", "cannot load 3"});
  });
}

// 7. The initializer fails on one worker: the pool does not start, run raises
// initializer_error on the master naming that rank, and returns 1 on the workers. A pool
// started after it runs.
int initializer_fails(const mpipool::bound_call& initializer, const expected_failure& want) {
  bool body_ran = false;
  int code = 0;
  try {
    code = mpipool::run(MPI_COMM_WORLD, [&](mpipool::pool&) { body_ran = true; }, {.initializer = initializer});
    if (world_rank == 0) check(false, "run raised nothing");
    else check(code == 1, "run returned " + std::to_string(code) + " on a worker, not 1");
  } catch (const mpipool::initializer_error& e) {
    check(world_rank == 0, "initializer_error on a worker");
    const int culprit = mpipool_test::first_worker_rank();
    check(e.rank() == culprit, "initializer_error names rank " + std::to_string(e.rank()));
    check(e.type_name() == want.type_name, "initializer_error's type " + e.type_name());
    if (want.message) check(e.message() == *want.message, "initializer_error's message " + e.message());
    check(std::string(e.what()).find("initializer failed") != std::string::npos, e.what());
  }
  check(!body_ran, "the body ran");
  const int next = with_pool([](mpipool::pool& pool) { check_the_pool_goes_on(pool, "a failed initializer"); },
                             {.initializer = mpipool::call(fine_initializer)});
  check(next == 0, "the pool after a failed initializer returned " + std::to_string(next));
  return verdict();
}

int initializer_throws() {
  return initializer_fails(mpipool::call(throw_in_initializer), {"std::runtime_error", "initializer refused"});
}

// By default the job ends, naming the rank; isolated, the helper's crash is the initializer's
// failure.
int initializer_crashes() {
  const int code = initializer_fails(mpipool::call(segfault_in_initializer), {"mpipool::worker_crashed", std::nullopt});
  check(isolated(), "the job outlived a crashing initializer without isolation");
  return code == 0 ? verdict() : code;
}

// 8. A callback throws: reported on stderr, ignored; the call still completes.
int result_callback_throws() {
  return with_pool([](mpipool::pool& pool) {
    captured_stderr err;
    auto result = pool.map_async(square, std::views::iota(0, item_count), chunksize,
                                 {.on_result = [](const std::vector<int>&) { throw std::runtime_error("callback bug"); }});
    check(result.get() == std::vector<int>{0, 1, 4, 9, 16, 25, 36, 49}, "the values after a throwing callback");
    const std::string said = err.text();
    check(said.find("rank 0 on host ") != std::string::npos &&
              said.find("result callback threw std::runtime_error: callback bug (ignored)") != std::string::npos,
          "stderr: " + said);
    check_the_pool_goes_on(pool, "a throwing result callback");
  });
}

int error_callback_throws() {
  return with_pool([](mpipool::pool& pool) {
    captured_stderr err;
    auto result = pool.map_async(throw_std_at_three, std::views::iota(0, item_count), chunksize,
                                 {.on_error = [](const mpipool::error&) { throw not_a_std_exception{7}; }});
    try {
      (void)result.get();
      check(false, "get raised nothing");
    } catch (const mpipool::remote_error& e) {  // the task's error, not the callback's
      check_failure(e, {"std::runtime_error", "item three refused"}, "map_async");
    }
    const std::string said = err.text();
    check(said.find("error callback threw failure_points::not_a_std_exception:  (ignored)") != std::string::npos,
          "stderr: " + said);
    check_the_pool_goes_on(pool, "a throwing error callback");
  });
}

// A callback that crashes takes the master with it, in either mode: the job ends, naming rank 0.
int result_callback_crashes() {
  return with_pool([](mpipool::pool& pool) {
    auto result = pool.map_async(square, std::views::iota(0, item_count), chunksize,
                                 {.on_result = [](const std::vector<int>&) { crash(crash_kind::segfault); }});
    (void)result.get();
    check(false, "the job outlived a crashing result callback");
  });
}

int error_callback_crashes() {
  return with_pool([](mpipool::pool& pool) {
    auto result = pool.map_async(throw_std_at_three, std::views::iota(0, item_count), chunksize,
                                 {.on_error = [](const mpipool::error&) { crash(crash_kind::abort); }});
    result.wait();
    check(false, "the job outlived a crashing error callback");
  });
}

// 9. A stream's input throws: the stream raises it after the items before it, and ends; the
// pool goes on.
struct input_refused : std::runtime_error {
  using std::runtime_error::runtime_error;
};
constexpr int input_fails_at = 5;

mpipool_test::generator<int> failing_input() {
  for (int i = 0;; ++i) {
    if (i == input_fails_at) throw input_refused("input refused at 5");
    co_yield i;
  }
}

mpipool_test::generator<std::tuple<int, int>> failing_pairs() {
  for (int i = 0;; ++i) {
    if (i == input_fails_at) throw input_refused("input refused at 5");
    co_yield std::tuple<int, int>{i, 100};
  }
}

template <class Stream>
void check_stream_raises_its_input(Stream stream, const std::multiset<int>& expected, bool ordered, const std::string& method) {
  std::multiset<int> seen;
  std::vector<int> order;
  for (int i = 0; i < input_fails_at; ++i) {
    auto value = stream.next();
    check(value.has_value(), method + ": ended before the input's failure");
    if (!value) return;
    seen.insert(*value);
    order.push_back(*value);
  }
  check(seen == expected, method + ": the values before the input's failure");
  if (ordered) check(std::ranges::is_sorted(order), method + ": out of order");
  try {
    (void)stream.next();
    check(false, method + ": raised nothing");
  } catch (const input_refused& e) {
    check(std::string(e.what()) == "input refused at 5", method + ": " + e.what());
  }
  check(!stream.next().has_value(), method + ": went on after its input failed");
}

int input_throws() {
  return with_pool([](mpipool::pool& pool) {
    check_stream_raises_its_input(pool.imap(square, failing_input(), chunksize), {0, 1, 4, 9, 16}, true, "imap");
    check_stream_raises_its_input(pool.imap_unordered(square, failing_input(), chunksize), {0, 1, 4, 9, 16}, false,
                                  "imap_unordered");
    check_stream_raises_its_input(pool.istarmap(add, failing_pairs(), chunksize), {100, 101, 102, 103, 104}, true,
                                  "istarmap");
    check_the_pool_goes_on(pool, "a failing input");
  });
}

const std::map<std::string, std::function<int()>>& cases() {
  static const std::map<std::string, std::function<int()>> all{
      {"task_throws_std", task_throws_std},
      {"task_throws_non_std", task_throws_non_std},
      {"task_segfault", [] { return task_crashes(segfault_at_three); }},
      {"task_abort", [] { return task_crashes(abort_at_three); }},
      {"task_exit", [] { return task_crashes(exit_at_three); }},
      {"argument_fails_to_serialize", argument_fails_to_serialize},
      {"argument_fails_to_deserialize", argument_fails_to_deserialize},
      {"result_fails_to_serialize", result_fails_to_serialize},
      {"result_fails_to_deserialize", result_fails_to_deserialize},
      {"initializer_throws", initializer_throws},
      {"initializer_crashes", initializer_crashes},
      {"result_callback_throws", result_callback_throws},
      {"error_callback_throws", error_callback_throws},
      {"result_callback_crashes", result_callback_crashes},
      {"error_callback_crashes", error_callback_crashes},
      {"input_throws", input_throws},
  };
  return all;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string name = argc > 1 ? argv[1] : "";
  const auto found = cases().find(name);
  if (found == cases().end()) {
    std::fprintf(stderr, "usage: failure_points CASE, one of:");
    for (const auto& [known, run] : cases()) std::fprintf(stderr, " %s", known.c_str());
    std::fprintf(stderr, "\n");
    return 2;
  }
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  mpipool_test::note_world();
  const int code = found->second();
  if (world_rank == 0)
    std::printf("failure_points %s (%s mode, %d ranks): %s\n", name.c_str(), isolated() ? "isolated" : "default",
                world_size, code == 0 ? "as expected" : "FAILED");
  MPI_Finalize();
  return code;
}
