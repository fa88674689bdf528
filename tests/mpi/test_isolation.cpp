// Isolated workers (pool_options::isolated): a task that crashes, aborts, calls exit() or is
// killed fails its own item with mpipool::worker_crashed, the other items give their values,
// and the pool goes on. Every item runs exactly once: each run appends a mark to the item's own
// file, so an item run again after a crash (or never run) is seen. max_tasks_per_child
// replaces the helper process, each new helper runs the initializer, and task_timeout kills an
// item that runs too long. A helper starts from a process made as run() starts, so it holds
// nothing the body opened, locked or buffered since; a stop signal ends each chunk after its
// item, terminate() kills the item running. Each test runs at 1, 2, 3 and 5 ranks.
#include <fcntl.h>
#include <poll.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <ranges>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support.hpp"

using mpipool_test::with_pool;

namespace {

enum how_to_die { segfault = 0, abort_call = 1, exit_three = 2, sigkill = 3 };

// A directory of this test's marks, on the host every rank runs on.
std::string fresh_directory(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("mpipool-isolation-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

// Appends one mark to `file`, unbuffered, so that a crash right after it keeps it.
void mark(const std::string& file) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (fd < 0) std::abort();
  if (::write(fd, "x", 1) != 1) std::abort();
  ::close(fd);
}

std::uintmax_t marks(const std::string& dir, int item) {
  const auto file = std::filesystem::path(dir) / ("item-" + std::to_string(item));
  return std::filesystem::exists(file) ? std::filesystem::file_size(file) : 0;
}

void expect_each_item_ran_once(const std::string& dir, int count) {
  for (int i = 0; i < count; ++i) EXPECT_EQ(marks(dir, i), 1u) << "item " << i;
}

[[noreturn]] void die(int how) {
  switch (how) {
    case segfault: std::raise(SIGSEGV); break;
    case abort_call: std::abort();
    case exit_three: std::exit(3);
    default: std::raise(SIGKILL); break;
  }
  std::_Exit(99);
}

// Marks its item, then dies at the items in `deadly`; gives index * 10 otherwise.
struct crasher {
  std::string dir;
  int how = 0;
  std::set<int> deadly;
  int operator()(int index) const {
    mark(dir + "/item-" + std::to_string(index));
    if (deadly.contains(index)) die(how);
    return index * 10;
  }
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & dir & how & deadly;
  }
};

int expected_signal(int how) {
  return how == segfault ? SIGSEGV : how == abort_call ? SIGABRT : how == sigkill ? SIGKILL : 0;
}

void expect_crash(const mpipool::worker_crashed& e, int how, std::uint64_t index) {
  EXPECT_EQ(e.index(), index);
  EXPECT_EQ(e.signal(), expected_signal(how));
  EXPECT_EQ(e.exit_status(), how == exit_three ? 3 : -1);
  EXPECT_EQ(e.type_name(), "mpipool::worker_crashed");
  EXPECT_NE(e.task().find("crasher"), std::string::npos) << e.task();
  EXPECT_GE(e.rank(), 0);
  EXPECT_FALSE(e.host().empty());
  const std::string expected = how == exit_three ? "exited with status 3"
                                                 : "killed by signal " + std::to_string(expected_signal(how));
  EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
}

int die_at_three(int index, int how, std::string dir) {
  mark(dir + "/item-" + std::to_string(index));
  if (index == 3) die(how);
  return index;
}
MPIPOOL_REGISTER(die_at_three);

const mpipool::pool_options isolated{.isolated = true};

class crash_kinds : public ::testing::TestWithParam<int> {};

// imap at chunksize 4: items 5 and 6 die in the middle of one chunk, 13 at a chunk's end.
TEST_P(crash_kinds, imap_keeps_every_other_value) {
  const int how = GetParam();
  EXPECT_EQ(with_pool([how](mpipool::pool& pool) {
              const std::string dir = fresh_directory("imap" + std::to_string(how));
              const crasher task{dir, how, {5, 6, 15}};
              auto stream = pool.imap(task, std::views::iota(0, 16), 4);
              int index = 0;
              for (auto it = stream.begin(); it != stream.end(); ++it, ++index) {
                if (task.deadly.contains(index)) {
                  try {
                    (void)*it;
                    ADD_FAILURE() << "item " << index << " gave a value";
                  } catch (const mpipool::worker_crashed& e) {
                    expect_crash(e, how, static_cast<std::uint64_t>(index));
                  }
                } else {
                  EXPECT_EQ(*it, index * 10);
                }
              }
              EXPECT_EQ(index, 16);
              expect_each_item_ran_once(dir, 16);
              // The pool goes on.
              EXPECT_EQ(pool.map([](int x) { return x + 1; }, std::views::iota(0, 20), 3).back(), 20);
              std::filesystem::remove_all(dir);
              return 0;
            }, isolated),
            0);
}

TEST_P(crash_kinds, imap_unordered_map_apply_async_and_starmap) {
  const int how = GetParam();
  EXPECT_EQ(with_pool([how](mpipool::pool& pool) {
              const std::string dir = fresh_directory("calls" + std::to_string(how));
              const crasher task{dir, how, {2, 9}};
              std::map<int, int> values;
              std::set<int> failed;
              auto stream = pool.imap_unordered(task, std::views::iota(0, 12), 3);
              for (auto it = stream.begin(); it != stream.end(); ++it) {
                try {
                  const int value = *it;
                  values[value / 10] = value;
                } catch (const mpipool::worker_crashed& e) {
                  expect_crash(e, how, e.index());
                  failed.insert(static_cast<int>(e.index()));
                }
              }
              EXPECT_EQ(failed, (std::set<int>{2, 9}));
              EXPECT_EQ(values.size(), 10u);
              expect_each_item_ran_once(dir, 12);

              // map: the first failing item's error, once every item ran.
              const std::string map_dir = fresh_directory("map" + std::to_string(how));
              try {
                (void)pool.map(crasher{map_dir, how, {4, 7}}, std::views::iota(0, 10), 5);
                ADD_FAILURE() << "map gave values";
              } catch (const mpipool::worker_crashed& e) {
                expect_crash(e, how, 4);
              }
              expect_each_item_ran_once(map_dir, 10);

              // apply_async, with the error callback given the crash itself.
              bool called_back = false;
              auto r = pool.apply_async(mpipool::callbacks<int>{.on_error = [&](const mpipool::error& e) {
                                          called_back = dynamic_cast<const mpipool::worker_crashed*>(&e) != nullptr;
                                        }},
                                        crasher{map_dir, how, {50}}, 50);
              EXPECT_THROW(r.get(), mpipool::worker_crashed);
              EXPECT_TRUE(called_back);
              EXPECT_EQ(pool.apply(crasher{map_dir, how, {}}, 51), 510);

              // starmap, whose tuples share one archive per chunk: item 3 dies mid-chunk.
              const std::string star_dir = fresh_directory("star" + std::to_string(how));
              std::vector<std::tuple<int, int, std::string>> triples;
              for (int i = 0; i < 8; ++i) triples.emplace_back(i, how, star_dir);
              try {
                (void)pool.starmap(die_at_three, triples, 4);
                ADD_FAILURE() << "starmap gave values";
              } catch (const mpipool::worker_crashed& e) {
                EXPECT_EQ(e.index(), 3u);
                EXPECT_EQ(e.signal(), expected_signal(how));
                EXPECT_EQ(e.task(), "die_at_three");
              }
              expect_each_item_ran_once(star_dir, 8);
              std::filesystem::remove_all(star_dir);
              std::filesystem::remove_all(dir);
              std::filesystem::remove_all(map_dir);
              return 0;
            }, isolated),
            0);
}

INSTANTIATE_TEST_SUITE_P(each_way_to_die, crash_kinds, ::testing::Values(segfault, abort_call, exit_three, sigkill));

// A starmap whose chunk dies at its second item: the items after it are decoded from the
// chunk's shared archive in a new helper.
std::string label_or_die(int index, std::string label, std::string dir) {
  mark(dir + "/item-" + std::to_string(index));
  if (index % 4 == 1) std::raise(SIGSEGV);
  return label + "!";
}
MPIPOOL_REGISTER(label_or_die);

TEST(isolation, starmap_decodes_the_items_after_a_crash) {
  EXPECT_EQ(with_pool([](mpipool::pool& pool) {
              const std::string dir = fresh_directory("starmap");
              std::vector<std::tuple<int, std::string, std::string>> items;
              for (int i = 0; i < 12; ++i) items.emplace_back(i, "label " + std::to_string(i), dir);
              auto stream = pool.istarmap(label_or_die, items, 4);
              int index = 0;
              for (auto it = stream.begin(); it != stream.end(); ++it, ++index) {
                if (index % 4 == 1) {
                  try {
                    (void)*it;
                    ADD_FAILURE() << "item " << index << " gave a value";
                  } catch (const mpipool::worker_crashed& e) {
                    EXPECT_EQ(e.index(), static_cast<std::uint64_t>(index));
                    EXPECT_EQ(e.signal(), SIGSEGV);
                    EXPECT_EQ(e.task(), "label_or_die");
                  }
                } else {
                  EXPECT_EQ(*it, "label " + std::to_string(index) + "!");
                }
              }
              expect_each_item_ran_once(dir, 12);
              std::filesystem::remove_all(dir);
              return 0;
            }, isolated),
            0);
}

// Large outcomes: more than the helper's shared area holds between two drains, and one larger
// than the whole area, then a crash in the same chunk.
std::string big_or_die(int index, std::string dir) {
  mark(dir + "/item-" + std::to_string(index));
  if (index == 7) std::raise(SIGSEGV);
  const std::size_t size = index == 4 ? std::size_t{3} << 20 : std::size_t{400} << 10;
  return std::string(size, static_cast<char>('a' + index));
}
MPIPOOL_REGISTER(big_or_die);

TEST(isolation, large_outcomes_and_a_crash_after_them) {
  EXPECT_EQ(with_pool([](mpipool::pool& pool) {
              const std::string dir = fresh_directory("large");
              std::vector<std::tuple<int, std::string>> items;
              for (int i = 0; i < 10; ++i) items.emplace_back(i, dir);
              auto stream = pool.istarmap(big_or_die, items, 10);
              int index = 0;
              for (auto it = stream.begin(); it != stream.end(); ++it, ++index) {
                if (index == 7) {
                  EXPECT_THROW(*it, mpipool::worker_crashed);
                  continue;
                }
                const std::string& value = *it;
                EXPECT_EQ(value.size(), index == 4 ? std::size_t{3} << 20 : std::size_t{400} << 10) << "item " << index;
                EXPECT_EQ(value.find_first_not_of(static_cast<char>('a' + index)), std::string::npos) << "item " << index;
              }
              EXPECT_EQ(index, 10);
              expect_each_item_ran_once(dir, 10);
              std::filesystem::remove_all(dir);
              return 0;
            }, isolated),
            0);
}

int helper_pid(int) { return static_cast<int>(::getpid()); }
MPIPOOL_REGISTER(helper_pid);

void note_initializer(std::string dir) { mark(dir + "/init-" + std::to_string(::getpid())); }
MPIPOOL_REGISTER(note_initializer);

TEST(isolation, max_tasks_per_child_replaces_the_helper_and_each_runs_the_initializer) {
  const std::string dir = fresh_directory("init");  // the master's is the one its initializer names
  const mpipool::pool_options options{.initializer = mpipool::call(note_initializer, dir), .max_tasks_per_child = 2};
  EXPECT_EQ(with_pool([&dir](mpipool::pool& pool) {
              const std::vector<int> pids = pool.map(helper_pid, std::views::iota(0, 24), 1);
              std::map<int, int> chunks_by_pid;
              for (int pid : pids) ++chunks_by_pid[pid];
              for (auto [pid, chunks] : chunks_by_pid) {
                EXPECT_NE(pid, static_cast<int>(::getpid())) << "a task ran in the master's own process";
                EXPECT_LE(chunks, 2) << "helper " << pid << " ran more than 2 tasks";
                EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(dir) / ("init-" + std::to_string(pid))))
                    << "the initializer did not run in helper " << pid;
              }
              EXPECT_GE(chunks_by_pid.size(), 12u);
              // A chunk of 3 items is one task, as in Python.
              const std::vector<int> in_threes = pool.map(helper_pid, std::views::iota(0, 6), 3);
              EXPECT_EQ(in_threes[0], in_threes[1]);
              EXPECT_EQ(in_threes[1], in_threes[2]);
              return 0;
            }, options),
            0);
  std::filesystem::remove_all(dir);
}

void wait_at(int index, int blocked, std::string gate_path) {
  if (index == blocked) mpipool_test::gate::wait(gate_path);  // never opened: runs until killed
}
MPIPOOL_REGISTER(wait_at);

TEST(isolation, task_timeout_fails_the_item_and_the_next_ones_run) {
  const mpipool::pool_options options{.task_timeout = std::chrono::milliseconds(300)};
  EXPECT_EQ(with_pool([](mpipool::pool& pool) {
              const mpipool_test::gate never("isolation-timeout");
              std::vector<std::tuple<int, int, std::string>> items;
              for (int i = 0; i < 8; ++i) items.emplace_back(i, 5, never.path());
              auto stream = pool.istarmap(wait_at, items, 4);
              int index = 0;
              for (auto it = stream.begin(); it != stream.end(); ++it, ++index) {
                if (index != 5) {
                  EXPECT_NO_THROW(*it) << "item " << index;
                  continue;
                }
                try {
                  *it;
                  ADD_FAILURE() << "the blocked item succeeded";
                } catch (const mpipool::task_timeout& e) {
                  EXPECT_EQ(e.index(), 5u);
                  EXPECT_EQ(e.limit(), std::chrono::milliseconds(300));
                  EXPECT_EQ(e.task(), "wait_at");
                  const std::string what = e.what();
                  EXPECT_NE(what.find("item 5"), std::string::npos) << what;
                  EXPECT_NE(what.find("300 ms"), std::string::npos) << what;
                }
              }
              EXPECT_EQ(index, 8);
              EXPECT_EQ(pool.map([](int x) { return 2 * x; }, std::views::iota(0, 10)).back(), 18);
              return 0;
            }, options),
            0);
}

// Run with MPIPOOL_ISOLATED=1 in the environment, the default options are isolated.
TEST(isolation, the_environment_turns_it_on) {
  const char* env = std::getenv("MPIPOOL_ISOLATED");
  if (env == nullptr || std::string(env) != "1") GTEST_SKIP() << "MPIPOOL_ISOLATED=1 is not set";
  EXPECT_EQ(with_pool([](mpipool::pool& pool) {
              const std::string dir = fresh_directory("env");
              auto r = pool.apply_async(crasher{dir, segfault, {1}}, 1);
              EXPECT_THROW(r.get(), mpipool::worker_crashed);
              EXPECT_EQ(pool.apply(crasher{dir, segfault, {1}}, 2), 20);
              std::filesystem::remove_all(dir);
              return 0;
            }),
            0);
}

// --- What a helper inherits: nothing the body opened, locked or buffered ---------------------

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

int times_ten(int x) { return x * 10; }
MPIPOOL_REGISTER(times_ten);

std::vector<int> tens(int count) {
  std::vector<int> values;
  for (int i = 0; i < count; ++i) values.push_back(i * 10);
  return values;
}

// A pipe the body holds across an isolated map (as popen's would be): once the body closes its
// write end, the read end sees end-of-file, because no helper holds a copy of the write end.
TEST(isolation, a_pipe_the_body_holds_is_not_held_by_a_helper) {
  EXPECT_EQ(with_pool([](mpipool::pool& pool) {
              int ends[2];
              if (::pipe(ends) != 0) return 1;
              EXPECT_EQ(pool.map(times_ten, std::views::iota(0, 8), 2), tens(8));
              ::close(ends[1]);
              pollfd reading{ends[0], POLLIN, 0};
              const int ready = ::poll(&reading, 1, 5000);
              EXPECT_EQ(ready, 1) << "the write end is still open somewhere 5 s after the body closed it";
              char byte = 0;
              if (ready == 1) {
                EXPECT_EQ(::read(ends[0], &byte, 1), 0);
              }
              ::close(ends[0]);
              return 0;
            }, isolated),
            0);
}

// A lock that the body shares with tasks.
std::mutex shared_with_tasks;
int times_ten_under_the_lock(int x) {
  const std::lock_guard lock(shared_with_tasks);
  return x * 10;
}
MPIPOOL_REGISTER(times_ten_under_the_lock);

// Another thread holds the lock, inside a pool call of its own, while a new helper is started
// for every chunk (max_tasks_per_child = 1): each helper still finds the lock free. (The
// task_timeout turns a helper that waits for the lock for ever into a failed item.)
TEST(isolation, a_lock_another_thread_holds_is_free_in_every_helper) {
  const mpipool::pool_options options{.max_tasks_per_child = 1, .task_timeout = std::chrono::seconds(3)};
  EXPECT_EQ(with_pool([](mpipool::pool& pool) {
              std::promise<void> locked;
              std::promise<void> mapped;
              std::vector<int> holders_values;
              std::thread holder([&] {
                const std::lock_guard lock(shared_with_tasks);
                locked.set_value();
                holders_values = pool.map(times_ten, std::views::iota(0, 6), 1);
                mapped.get_future().wait();  // holds the lock until the other map is done
              });
              locked.get_future().wait();
              try {
                EXPECT_EQ(pool.map(times_ten_under_the_lock, std::views::iota(0, 4), 1), tens(4));
              } catch (const mpipool::error& e) {
                ADD_FAILURE() << e.what();
              }
              mapped.set_value();
              holder.join();
              EXPECT_EQ(holders_values, tens(6));
              return 0;
            }, options),
            0);
}

// A thread of the body writes numbered lines through stdio while a new helper is started for
// every chunk: the file holds each line once, in order, whole.
TEST(isolation, the_bodys_buffered_output_is_written_once) {
  const mpipool::pool_options options{.max_tasks_per_child = 1};
  EXPECT_EQ(with_pool([](mpipool::pool& pool) {
              const std::string dir = fresh_directory("stdio");
              const std::string path = dir + "/lines";
              std::FILE* out = std::fopen(path.c_str(), "w");
              if (out == nullptr) return 1;
              std::atomic<bool> mapping{true};
              long written = 0;
              std::thread writer([&] {
                constexpr long most = 2'000'000;  // about 30 MB
                while (mapping.load() && written < most) std::fprintf(out, "line %ld\n", written++);
              });
              EXPECT_EQ(pool.map(times_ten, std::views::iota(0, 40), 1), tens(40));
              mapping.store(false);
              writer.join();
              std::fclose(out);
              std::ifstream in(path);
              std::string line;
              long read = 0;
              long wrong = 0;
              std::string first_wrong;
              while (std::getline(in, line)) {
                if (line != "line " + std::to_string(read) && wrong++ == 0)
                  first_wrong = "line " + std::to_string(read) + " reads '" + line + "'";
                ++read;
              }
              EXPECT_EQ(read, written) << "lines in the file, of those written";
              EXPECT_EQ(wrong, 0) << "lines out of place; the first: " << first_wrong;
              std::filesystem::remove_all(dir);
              return 0;
            }, options),
            0);
}

// --- A stop signal, terminate(), and what ends a helper ---------------------------------------

void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::vector<std::filesystem::path> files_starting(const std::string& dir, const std::string& prefix) {
  std::vector<std::filesystem::path> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().filename().string().starts_with(prefix)) found.push_back(entry.path());
  return found;
}

// Waits (polling the directory) until `count` files starting with `prefix` are there.
void wait_for_files(const std::string& dir, const std::string& prefix, std::size_t count) {
  while (files_starting(dir, prefix).size() < count) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

constexpr auto long_item_time = std::chrono::seconds(1);

// Notes its start (with its process's pid), runs a second, then notes its end.
struct long_item {
  std::string dir;
  int operator()(int index) const {
    write_file(dir + "/start-" + std::to_string(index), std::to_string(::getpid()));
    std::this_thread::sleep_for(long_item_time);
    mark(dir + "/end-" + std::to_string(index));
    return index;
  }
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & dir;
  }
};

void slow_initializer(std::string dir) {
  mark(dir + "/init-" + std::to_string(::getpid()));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
}
MPIPOOL_REGISTER(slow_initializer);

// SIGTERM reaches every process of the job, as Slurm's time limit sends it: the ranks and the
// helpers. Each helper finishes the item it runs, and the pool stops within a second of that;
// no helper is replaced, so the (slow) initializer ran once per worker.
TEST(isolation, a_stop_signal_ends_each_chunk_after_its_item) {
  const int rank = mpipool_test::world_rank();
  const int size = mpipool_test::world_size();
  int pid = static_cast<int>(::getpid());
  std::vector<int> rank_pids(static_cast<std::size_t>(size));
  MPI_Allgather(&pid, 1, MPI_INT, rank_pids.data(), 1, MPI_INT, MPI_COMM_WORLD);
  const std::string dir = fresh_directory("stop");  // the master's is the one its calls name
  const int workers = mpipool_test::worker_count();
  clock_type::time_point signalled{};
  const mpipool::pool_options options{.initializer = mpipool::call(slow_initializer, dir), .isolated = true};
  const int code = with_pool([&](mpipool::pool& pool) {
    auto values = pool.map_async(long_item{dir}, std::views::iota(0, 4 * workers), 4);
    wait_for_files(dir, "start-", static_cast<std::size_t>(workers));
    signalled = clock_type::now();
    for (const auto& started : files_starting(dir, "start-")) {
      std::ifstream in(started);
      int helper = 0;
      if (in >> helper) ::kill(helper, SIGTERM);
    }
    for (int worker = 1; worker < size; ++worker) ::kill(rank_pids[static_cast<std::size_t>(worker)], SIGTERM);
    std::raise(SIGTERM);
    EXPECT_THROW(values.get(), mpipool::pool_interrupted);
    return 0;
  }, options);
  EXPECT_EQ(code, 128 + SIGTERM);
  if (rank != 0) return;
  const double took = seconds_since(signalled);
  EXPECT_LT(took, 1.0 + std::chrono::duration<double>(long_item_time).count())
      << "from the signal until run returned";
  const auto starts = files_starting(dir, "start-");
  EXPECT_GE(starts.size(), static_cast<std::size_t>(workers));
  for (const auto& started : starts) {
    const std::string index = started.filename().string().substr(6);
    EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(dir) / ("end-" + index)))
        << "item " << index << " was killed in the middle";
  }
  EXPECT_EQ(files_starting(dir, "init-").size(), static_cast<std::size_t>(workers))
      << "initializer runs: a helper was replaced after the signal";
  std::printf("[ stop     ] run returned %.2f s after the signal; %zu items had started\n", took, starts.size());
  std::filesystem::remove_all(dir);
}

// Notes that it started, then runs for `seconds`.
void run_for(int seconds, std::string started) {
  mark(started);
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
}
MPIPOOL_REGISTER(run_for);

// terminate() kills the helper of an item that would run for a long time: join() returns at once.
TEST(isolation, terminate_kills_the_item_running) {
  EXPECT_EQ(with_pool([](mpipool::pool& pool) {
              const std::string dir = fresh_directory("terminate");
              auto hung = pool.apply_async(run_for, 8, dir + "/started");
              wait_for_files(dir, "started", 1);
              const auto asked = clock_type::now();
              pool.terminate();
              pool.join();
              const double took = seconds_since(asked);
              EXPECT_LT(took, 1.0) << "terminate() and join() waited for the item";
              EXPECT_THROW(hung.get(), mpipool::pool_terminated);
              std::printf("[ terminate] terminate() and join() took %.2f s\n", took);
              std::filesystem::remove_all(dir);
              return 0;
            }, isolated),
            0);
}

// Slow only once `dir`/slow exists, and says when it starts being slow.
void slow_once_asked(std::string dir) {
  if (!std::filesystem::exists(dir + "/slow")) return;
  mark(dir + "/slow-started");
  std::this_thread::sleep_for(std::chrono::seconds(8));
}
MPIPOOL_REGISTER(slow_once_asked);

// terminate() kills a replacement helper's initializer too: it runs for the call terminated.
TEST(isolation, terminate_kills_a_replacement_helpers_initializer) {
  const std::string dir = fresh_directory("terminate-init");  // the master's is the one its calls name
  const mpipool::pool_options options{.initializer = mpipool::call(slow_once_asked, dir), .max_tasks_per_child = 1};
  EXPECT_EQ(with_pool([&dir](mpipool::pool& pool) {
              EXPECT_EQ(pool.apply(times_ten, 1), 10);  // its helper is replaced after it
              mark(dir + "/slow");
              // Every helper is replaced after one chunk: some chunk waits for a slow initializer.
              const int chunks = 4 * mpipool_test::worker_count();
              auto waiting = pool.map_async(times_ten, std::views::iota(0, chunks), 1);
              wait_for_files(dir, "slow-started", 1);
              const auto asked = clock_type::now();
              pool.terminate();
              pool.join();
              const double took = seconds_since(asked);
              EXPECT_LT(took, 1.0) << "terminate() and join() waited for the initializer";
              EXPECT_THROW(waiting.get(), mpipool::pool_terminated);
              return 0;
            }, options),
            0);
  std::filesystem::remove_all(dir);
}

void sleepy_initializer(int milliseconds) { std::this_thread::sleep_for(std::chrono::milliseconds(milliseconds)); }
MPIPOOL_REGISTER(sleepy_initializer);

// The task_timeout is for items: an initializer that runs longer than it does not stop the pool.
TEST(isolation, the_task_timeout_does_not_limit_the_initializer) {
  const mpipool::pool_options options{.initializer = mpipool::call(sleepy_initializer, 600),
                                      .task_timeout = std::chrono::milliseconds(200)};
  try {
    EXPECT_EQ(with_pool([](mpipool::pool& pool) {
                EXPECT_EQ(pool.map(times_ten, std::views::iota(0, 10)), tens(10));
                return 0;
              }, options),
              0);
  } catch (const mpipool::initializer_error& e) {
    ADD_FAILURE() << e.what();
  }
}

// initializer_timeout limits the initializer: one that would run for a minute stops the pool
// from starting, at once, with an error that names the limit.
TEST(isolation, initializer_timeout_limits_the_initializer) {
  const mpipool::pool_options options{.initializer = mpipool::call(sleepy_initializer, 60'000),
                                      .initializer_timeout = std::chrono::milliseconds(300)};
  const auto start = clock_type::now();
  bool body_ran = false;
  try {
    const int code = with_pool([&](mpipool::pool&) {
      body_ran = true;
      return 0;
    }, options);
    EXPECT_NE(mpipool_test::world_rank(), 0) << "run raised nothing";
    EXPECT_EQ(code, 1) << "on a worker";
  } catch (const mpipool::initializer_error& e) {
    EXPECT_EQ(mpipool_test::world_rank(), 0);
    EXPECT_EQ(e.type_name(), "mpipool::task_timeout");
    EXPECT_NE(e.message().find("initializer_timeout of 300 ms"), std::string::npos) << e.message();
  }
  EXPECT_FALSE(body_ran);
  EXPECT_LT(seconds_since(start), 30.0) << "the initializer was not stopped";
}

// Item 0 forks a child that lingers, holding whatever the helper had open; item 1 crashes. The
// crash is reported as soon as the helper dies, not when the child leaves.
int fork_then_crash(int index, std::string dir) {
  if (index == 1) std::raise(SIGSEGV);
  const pid_t child = ::fork();
  if (child == 0) {
    std::this_thread::sleep_for(std::chrono::seconds(30));
    std::_Exit(0);
  }
  write_file(dir + "/child", std::to_string(child));
  return index;
}
MPIPOOL_REGISTER(fork_then_crash);

TEST(isolation, a_crash_is_noticed_while_a_child_of_the_task_lingers) {
  EXPECT_EQ(with_pool([](mpipool::pool& pool) {
              const std::string dir = fresh_directory("linger");
              const auto start = clock_type::now();
              try {
                (void)pool.starmap(fork_then_crash, std::vector{std::tuple(0, dir), std::tuple(1, dir)}, 2);
                ADD_FAILURE() << "starmap gave values";
              } catch (const mpipool::worker_crashed& e) {
                EXPECT_EQ(e.index(), 1u);
                EXPECT_EQ(e.signal(), SIGSEGV);
              }
              const double took = seconds_since(start);
              EXPECT_LT(took, 10.0) << "the crash was reported only as the child left (it lingers 30 s)";
              std::printf("[ linger   ] the crash was reported after %.2f s\n", took);
              std::ifstream in(dir + "/child");
              int child = 0;
              if (in >> child && child > 0) ::kill(child, SIGKILL);
              std::filesystem::remove_all(dir);
              return 0;
            }, isolated),
            0);
}

// An argument whose loading kills the process (here, value 3 aborts).
struct poisoned {
  int value = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & value;
    if constexpr (Archive::is_loading::value)
      if (value == 3) std::abort();
  }
};

int open_poisoned(poisoned argument, std::string dir) {
  mark(dir + "/item-" + std::to_string(argument.value));
  return argument.value * 10;
}
MPIPOOL_REGISTER(open_poisoned);

// In a chunk of 8, item 3's argument kills its helper as it loads: only item 3 fails; the items
// after it run in a new helper, once each.
TEST(isolation, an_argument_that_kills_its_helper_as_it_loads_fails_alone) {
  EXPECT_EQ(with_pool([](mpipool::pool& pool) {
              const std::string dir = fresh_directory("poison");
              std::vector<std::tuple<poisoned, std::string>> items;
              for (int i = 0; i < 8; ++i) items.emplace_back(poisoned{i}, dir);
              auto stream = pool.istarmap(open_poisoned, items, 8);
              int index = 0;
              std::vector<std::string> failed;
              for (auto it = stream.begin(); it != stream.end(); ++it, ++index) {
                try {
                  EXPECT_EQ(*it, index * 10);
                  if (index == 3) ADD_FAILURE() << "the poisoned item gave a value";
                } catch (const mpipool::remote_error& e) {
                  failed.push_back(std::to_string(index) + ": " + e.what());
                  if (index == 3) {
                    EXPECT_EQ(e.type_name(), "mpipool::worker_crashed");
                    EXPECT_EQ(e.index(), 3u);
                  }
                }
              }
              EXPECT_EQ(index, 8);
              EXPECT_EQ(failed.size(), 1u) << "failed items: " << ::testing::PrintToString(failed);
              for (int i = 0; i < 8; ++i) EXPECT_EQ(marks(dir, i), i == 3 ? 0u : 1u) << "item " << i;
              std::filesystem::remove_all(dir);
              return 0;
            }, isolated),
            0);
}

}  // namespace
