// Isolated workers (pool_options::isolated): a task that crashes, aborts, calls exit() or is
// killed fails its own item with mpipool::worker_crashed, the other items give their values,
// and the pool goes on. Every item runs exactly once: each run appends a mark to the item's own
// file, so an item run again after a crash (or never run) is seen. max_tasks_per_child
// replaces the helper process, each new helper runs the initializer, and task_timeout kills an
// item that runs too long. Each test runs at 1, 2, 3 and 5 ranks.
#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <ranges>
#include <set>
#include <string>
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

}  // namespace
