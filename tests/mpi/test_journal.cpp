// Results journals (mpipool/journal.hpp): a call given a journal keeps its results in a file,
// and a rerun computes only what is missing there, returning exactly what an uninterrupted run
// returns. Tasks count their calls in a file of their own (one byte per call, from whichever
// rank ran it), so that "computed only what was missing" is checked by count. A first run is
// cut short by items that fail: from the index in a file beside it (not a parameter of the task,
// which is part of the journaled call's identity). Each test runs at 1, 2, 3 and 5 ranks.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <mpi.h>

#include <gtest/gtest.h>

#include "faults/fault_injection.hpp"
#include "support.hpp"

using mpipool_test::with_pool;

namespace {

std::filesystem::path scratch_file(const std::string& what) {
  return std::filesystem::temp_directory_path() /
         ("mpipool-journal-" + what + "-" + std::to_string(::getpid()));
}

// Appends one byte to `log`: one call of a task.
void count_call(const std::string& log) {
  const int fd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open " + log);
  const char one = '.';
  const bool wrote = ::write(fd, &one, 1) == 1;
  ::close(fd);
  if (!wrote) throw std::runtime_error("cannot write " + log);
}

// The index from which items fail, written beside the calls' log by the test; none: INT_MAX.
std::string failing_file(const std::string& log) { return log + "-failing-from"; }
int failing_from(const std::string& log) {
  std::ifstream in(failing_file(log));
  int from = INT_MAX;
  in >> from;
  return from;
}

// A file the tasks count their calls in, and the journal, both removed at the end.
struct scratch {
  explicit scratch(const std::string& test)
      : calls(scratch_file(test + "-calls")), journal_file(scratch_file(test)) {
    remove_all();
  }
  ~scratch() { remove_all(); }
  void remove_all() const {
    std::filesystem::remove(calls);
    std::filesystem::remove(journal_file);
    std::filesystem::remove(failing_file(calls.string()));
  }
  // Calls counted since the last take.
  std::uintmax_t take_calls() {
    const std::uintmax_t n = std::filesystem::exists(calls) ? std::filesystem::file_size(calls) : 0;
    std::filesystem::remove(calls);
    return n;
  }
  // From now on, items from `from` on fail (until heal()).
  void fail_from(int from) const { std::ofstream(failing_file(calls.string())) << from; }
  void heal() const { std::filesystem::remove(failing_file(calls.string())); }
  std::filesystem::path calls;
  std::filesystem::path journal_file;
};

// x * x, counting its calls; items from failing_from() on throw (a first run cut short).
struct counted_square {
  std::string log;
  int operator()(int x) const {
    count_call(log);
    if (x >= failing_from(log)) throw std::runtime_error("not this time");
    return x * x;
  }
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & log;
  }
};

// An archived result: a string.
struct counted_label {
  std::string log;
  std::string operator()(int x) const {
    count_call(log);
    if (x >= failing_from(log)) throw std::runtime_error("not this time");
    return "item " + std::to_string(x);
  }
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & log;
  }
};

struct counted_product {
  std::string log;
  long operator()(int a, int b) const {
    count_call(log);
    if (a >= failing_from(log)) throw std::runtime_error("not this time");
    return static_cast<long>(a) * b;
  }
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & log;
  }
};

struct another_task {
  std::string log;
  int operator()(int x) const { return x + 1; }
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & log;
  }
};

std::vector<int> iota_ints(int n, int from = 0) {
  std::vector<int> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), from);
  return v;
}

std::vector<int> squares_of(const std::vector<int>& xs) {
  std::vector<int> out;
  for (int x : xs) out.push_back(x * x);
  return out;
}

// Reads a whole stream, skipping failed items; the values in the order read.
template <class R>
std::vector<R> read_all(mpipool::result_stream<R> stream, int* failures = nullptr) {
  std::vector<R> out;
  for (;;) {
    try {
      std::optional<R> v = stream.next();
      if (!v) return out;
      out.push_back(std::move(*v));
    } catch (const mpipool::remote_error&) {
      if (failures) ++*failures;
    }
  }
}

constexpr int items = 300;
constexpr int cut_at = 170;  // the first run's items from here on fail
constexpr std::uintmax_t sync_record_size = 28;

// x * x, without counting.
struct plain_square {
  int operator()(int x) const { return x * x; }
};

// x * factor: a function object with a parameter.
struct scale {
  int factor = 1;
  int operator()(int x) const { return x * factor; }
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & factor;
  }
};

// Halves its argument, as an int or as a float: one task name, two result types of one size.
struct halve {
  int operator()(int x) const { return x / 2; }
  float operator()(float x) const { return x / 2; }
};

// x * x after a nap, counting its calls as it starts them.
struct sleepy_square {
  std::string log;
  int operator()(int x) const {
    count_call(log);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return x * x;
  }
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & log;
  }
};

// x * x after a nap of 2 ms.
struct nap_square {
  int operator()(int x) const {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return x * x;
  }
};

// A label of 2 KiB: a chunk's results take several pages of the journal.
struct long_label {
  std::string operator()(int x) const {
    std::string label(2048, static_cast<char>('a' + x % 26));
    return std::to_string(x) + label;
  }
};

std::vector<std::string> long_labels_of(const std::vector<int>& xs) {
  std::vector<std::string> out;
  for (int x : xs) out.push_back(long_label{}(x));
  return out;
}

// Waits until the tasks have counted `n` calls; returns how many they had by then.
std::uintmax_t wait_for_calls(const scratch& s, std::uintmax_t n) {
  for (;;) {
    const std::uintmax_t got = std::filesystem::exists(s.calls) ? std::filesystem::file_size(s.calls) : 0;
    if (got >= n) return got;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace

TEST(Journal, RerunOfAFinishedMapSendsNothing) {
  scratch s("finished");
  EXPECT_EQ(with_pool([&](mpipool::pool& pool) {
              const std::vector<int> xs = iota_ints(items);
              mpipool::journal j{s.journal_file, "squares"};
              EXPECT_EQ(pool.map(counted_square{s.calls.string()}, xs, std::nullopt, j), squares_of(xs));
              EXPECT_EQ(s.take_calls(), std::uintmax_t{items});
              EXPECT_EQ(j.restored(), 0u);
              EXPECT_EQ(pool.map(counted_square{s.calls.string()}, xs, std::nullopt, j), squares_of(xs));
              EXPECT_EQ(s.take_calls(), 0u);
              EXPECT_EQ(j.restored(), std::uint64_t{items});
              return 0;
            }),
            0);
}

TEST(Journal, InterruptedMapComputesOnlyWhatIsMissing) {
  scratch s("map");
  EXPECT_EQ(with_pool([&](mpipool::pool& pool) {
              const std::vector<int> xs = iota_ints(items);
              mpipool::journal j{s.journal_file, "squares"};
              s.fail_from(cut_at);
              EXPECT_THROW(pool.map(counted_square{s.calls.string()}, xs, 7, j), mpipool::remote_error);
              s.heal();
              EXPECT_EQ(s.take_calls(), std::uintmax_t{items});
              EXPECT_EQ(pool.map(counted_square{s.calls.string()}, xs, 7, j), squares_of(xs));
              EXPECT_EQ(s.take_calls(), std::uintmax_t{items - cut_at});
              EXPECT_EQ(j.restored(), std::uint64_t{cut_at});
              return 0;
            }),
            0);
}

TEST(Journal, InterruptedMapOfArchivedValues) {
  scratch s("labels");
  EXPECT_EQ(with_pool([&](mpipool::pool& pool) {
              const std::vector<int> xs = iota_ints(items);
              std::vector<std::string> expected;
              for (int x : xs) expected.push_back("item " + std::to_string(x));
              mpipool::journal j{s.journal_file, "labels"};
              s.fail_from(cut_at);
              EXPECT_THROW(pool.map(counted_label{s.calls.string()}, xs, std::nullopt, j), mpipool::remote_error);
              s.heal();
              s.take_calls();
              EXPECT_EQ(pool.map(counted_label{s.calls.string()}, xs, std::nullopt, j), expected);
              EXPECT_EQ(s.take_calls(), std::uintmax_t{items - cut_at});
              return 0;
            }),
            0);
}

TEST(Journal, InterruptedStarmapAndMapAsync) {
  scratch s("starmap");
  EXPECT_EQ(with_pool([&](mpipool::pool& pool) {
              std::vector<std::tuple<int, int>> pairs;
              std::vector<long> expected;
              for (int i = 0; i < items; ++i) {
                pairs.emplace_back(i, 3 * i + 1);
                expected.push_back(static_cast<long>(i) * (3 * i + 1));
              }
              mpipool::journal products{s.journal_file, "products"};
              s.fail_from(cut_at);
              EXPECT_THROW(pool.starmap(counted_product{s.calls.string()}, pairs, {}, products),
                           mpipool::remote_error);
              s.heal();
              s.take_calls();
              EXPECT_EQ(pool.starmap(counted_product{s.calls.string()}, pairs, {}, products), expected);
              EXPECT_EQ(s.take_calls(), std::uintmax_t{items - cut_at});

              const std::vector<int> xs = iota_ints(items);
              mpipool::journal squares{s.journal_file, "squares"};
              s.fail_from(cut_at);
              auto first = pool.map_async(counted_square{s.calls.string()}, xs, 5, squares);
              EXPECT_THROW(first.get(), mpipool::remote_error);
              s.heal();
              s.take_calls();
              std::vector<int> from_callback;
              auto second = pool.map_async(counted_square{s.calls.string()}, xs, 5, squares,
                                           {.on_result = [&](const std::vector<int>& v) { from_callback = v; }});
              EXPECT_EQ(second.get(), squares_of(xs));
              EXPECT_EQ(from_callback, squares_of(xs));
              EXPECT_EQ(s.take_calls(), std::uintmax_t{items - cut_at});
              return 0;
            }),
            0);
}

TEST(Journal, InterruptedStreams) {
  scratch s("streams");
  EXPECT_EQ(with_pool([&](mpipool::pool& pool) {
              const std::vector<int> xs = iota_ints(items);
              int failures = 0;
              mpipool::journal ordered{s.journal_file, "imap"};
              s.fail_from(cut_at);
              read_all(pool.imap(counted_square{s.calls.string()}, xs, 4, ordered), &failures);
              EXPECT_EQ(failures, items - cut_at);
              s.heal();
              s.take_calls();
              EXPECT_EQ(read_all(pool.imap(counted_square{s.calls.string()}, xs, 4, ordered)), squares_of(xs));
              EXPECT_EQ(s.take_calls(), std::uintmax_t{items - cut_at});
              EXPECT_EQ(ordered.restored(), std::uint64_t{cut_at});

              mpipool::journal unordered{s.journal_file, "imap_unordered"};
              s.fail_from(cut_at);
              read_all(pool.imap_unordered(counted_square{s.calls.string()}, xs, 1, unordered));
              s.heal();
              s.take_calls();
              std::vector<int> got = read_all(pool.imap_unordered(counted_square{s.calls.string()}, xs, 1, unordered));
              std::sort(got.begin(), got.end());
              EXPECT_EQ(got, squares_of(xs));
              EXPECT_EQ(s.take_calls(), std::uintmax_t{items - cut_at});

              // A lazy input of unknown length, unpacked.
              auto pairs = std::views::iota(0, items) |
                           std::views::transform([](int i) { return std::tuple<int, int>(i, 2); }) |
                           std::views::filter([](const std::tuple<int, int>&) { return true; });
              mpipool::journal products{s.journal_file, "istarmap"};
              s.fail_from(cut_at);
              read_all(pool.istarmap_unordered(counted_product{s.calls.string()}, pairs, 3, products));
              s.heal();
              s.take_calls();
              std::vector<long> sums = read_all(pool.istarmap(counted_product{s.calls.string()}, pairs, 3, products));
              std::vector<long> expected;
              for (int i = 0; i < items; ++i) expected.push_back(2L * i);
              EXPECT_EQ(sums, expected);
              EXPECT_EQ(s.take_calls(), std::uintmax_t{items - cut_at});
              return 0;
            }),
            0);
}

TEST(Journal, CutLastRecordIsRecomputed) {
  scratch s("cut");
  EXPECT_EQ(with_pool([&](mpipool::pool& pool) {
              const std::vector<int> xs = iota_ints(items);
              mpipool::journal j{s.journal_file, "squares"};
              pool.map(counted_square{s.calls.string()}, xs, 10, j);
              s.take_calls();
              // A kill in the middle of the last record's write, before the sync record that the
              // end of the call writes after it.
              std::filesystem::resize_file(s.journal_file,
                                           std::filesystem::file_size(s.journal_file) - sync_record_size - 3);
              EXPECT_EQ(pool.map(counted_square{s.calls.string()}, xs, 10, j), squares_of(xs));
              EXPECT_EQ(s.take_calls(), 1u);
              // The cut record was dropped from the file too: a third run finds every result.
              EXPECT_EQ(pool.map(counted_square{s.calls.string()}, xs, 10, j), squares_of(xs));
              EXPECT_EQ(s.take_calls(), 0u);
              return 0;
            }),
            0);
}

TEST(Journal, CorruptRecordIsAnError) {
  scratch s("corrupt");
  EXPECT_EQ(with_pool([&](mpipool::pool& pool) {
              const std::vector<int> xs = iota_ints(items);
              mpipool::journal j{s.journal_file, "squares"};
              pool.map(counted_square{s.calls.string()}, xs, {}, j);
              const auto size = std::filesystem::file_size(s.journal_file);
              for (std::uintmax_t at : {size / 2, size - 30}) {
                std::fstream file(s.journal_file, std::ios::in | std::ios::out | std::ios::binary);
                file.seekg(static_cast<std::streamoff>(at));
                char byte = 0;
                file.read(&byte, 1);
                byte = static_cast<char>(byte ^ 0x10);
                file.seekp(static_cast<std::streamoff>(at));
                file.write(&byte, 1);
                file.close();
                try {
                  pool.map(counted_square{s.calls.string()}, xs, {}, j);
                  ADD_FAILURE() << "a corrupt journal was read";
                } catch (const mpipool::journal_error& e) {
                  EXPECT_EQ(e.path(), s.journal_file.string());
                  EXPECT_NE(std::string(e.what()).find(s.journal_file.string()), std::string::npos) << e.what();
                  EXPECT_NE(std::string(e.what()).find("corrupt"), std::string::npos) << e.what();
                }
                byte = static_cast<char>(byte ^ 0x10);  // mended for the next one
                std::fstream mend(s.journal_file, std::ios::in | std::ios::out | std::ios::binary);
                mend.seekp(static_cast<std::streamoff>(at));
                mend.write(&byte, 1);
              }
              return 0;
            }),
            0);
}

TEST(Journal, AnotherTaskOrInputIsAnError) {
  scratch s("mismatch");
  EXPECT_EQ(with_pool([&](mpipool::pool& pool) {
              const std::vector<int> xs = iota_ints(items);
              mpipool::journal j{s.journal_file, "squares"};
              pool.map(counted_square{s.calls.string()}, xs, {}, j);
              auto expect_journal_error = [&](auto&& call, const char* why) {
                try {
                  call();
                  ADD_FAILURE() << "no journal_error: " << why;
                } catch (const mpipool::journal_error& e) {
                  EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
                  EXPECT_EQ(e.path(), s.journal_file.string());
                }
              };
              expect_journal_error([&] { pool.map(another_task{}, xs, {}, j); }, "another task");
              expect_journal_error([&] { pool.map(counted_square{s.calls.string()}, iota_ints(items, 1), {}, j); },
                                   "another input");
              expect_journal_error([&] { pool.map(counted_square{s.calls.string()}, iota_ints(items + 1), {}, j); },
                                   "another input");
              // A lazy stream finds out when it reaches an item that differs: it raises there.
              auto shifted = iota_ints(items);
              shifted[5] = -1;
              auto stream = pool.imap(counted_square{s.calls.string()}, shifted | std::views::filter([](int) { return true; }), 1, j);
              expect_journal_error([&] { read_all(std::move(stream)); }, "another input");
              // Nothing of the mismatches was written: the journal is still whole.
              s.take_calls();
              EXPECT_EQ(pool.map(counted_square{s.calls.string()}, xs, {}, j), squares_of(xs));
              EXPECT_EQ(s.take_calls(), 0u);
              return 0;
            }),
            0);
}

TEST(Journal, SeveralCallsInOneFileEachResume) {
  scratch s("several");
  EXPECT_EQ(with_pool([&](mpipool::pool& pool) {
              const std::vector<int> xs = iota_ints(items);
              const std::vector<int> ys = iota_ints(items / 2, 1000);
              mpipool::journal first{s.journal_file, "first"};
              mpipool::journal second{s.journal_file, "second"};
              s.fail_from(cut_at);
              EXPECT_THROW(pool.map(counted_square{s.calls.string()}, xs, {}, first), mpipool::remote_error);
              s.fail_from(1100);
              EXPECT_THROW(pool.map(counted_square{s.calls.string()}, ys, {}, second), mpipool::remote_error);
              s.heal();
              s.take_calls();
              EXPECT_EQ(pool.map(counted_square{s.calls.string()}, xs, {}, first), squares_of(xs));
              EXPECT_EQ(pool.map(counted_square{s.calls.string()}, ys, {}, second), squares_of(ys));
              EXPECT_EQ(s.take_calls(), std::uintmax_t{(items - cut_at) + (items / 2 - 100)});
              return 0;
            }),
            0);
}

// A function object's state is part of the call: a rerun with other parameters is another
// computation, refused rather than answered with the old results.
TEST(Journal, FunctionObjectWhoseStateChangedIsAnotherTask) {
  scratch s("state");
  EXPECT_EQ(with_pool([&](mpipool::pool& pool) {
              const std::vector<int> xs = iota_ints(10);
              mpipool::journal j{s.journal_file, "scaled"};
              EXPECT_EQ(pool.map(scale{2}, xs, {}, j)[9], 18);
              try {
                const std::vector<int> wrong = pool.map(scale{3}, xs, {}, j);
                ADD_FAILURE() << "scale{3} took scale{2}'s results: item 9 is " << wrong[9];
              } catch (const mpipool::journal_error& e) {
                EXPECT_NE(std::string(e.what()).find("with other parameters"), std::string::npos) << e.what();
              }
              EXPECT_EQ(pool.map(scale{2}, xs, {}, j)[9], 18);
              EXPECT_EQ(j.restored(), 10u);
              // A result type of the same size under the same task name: not decoded as the other.
              mpipool::journal halves{s.journal_file, "halves"};
              pool.map(halve{}, xs, {}, halves);
              std::vector<float> floats(xs.begin(), xs.end());
              try {
                const std::vector<float> wrong = pool.map(halve{}, floats, {}, halves);
                ADD_FAILURE() << "float results decoded from int ones: item 9 is " << wrong[9];
              } catch (const mpipool::journal_error& e) {
                EXPECT_NE(std::string(e.what()).find("results of type 'int', not 'float'"), std::string::npos)
                    << e.what();
              }
              return 0;
            }),
            0);
}

// The disk fills in the middle of a journaled call (here a file size limit, RLIMIT_FSIZE, on the
// master's process: the journal's write fails with EFBIG at the byte the test chooses, as it would
// with ENOSPC): the call fails with journal_error, catchable as such, and the journal keeps only
// whole records written before it, which a rerun takes.
TEST(Journal, FullDiskInTheMiddleOfACallIsAJournalError) {
  scratch s("full");
  EXPECT_EQ(with_pool([&](mpipool::pool& pool) {
              const std::vector<int> xs = iota_ints(items);
              mpipool::journal j{s.journal_file, "squares"};
              const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of the signal
              rlimit old_limit{};
              ::getrlimit(RLIMIT_FSIZE, &old_limit);
              const rlimit limit{4096, old_limit.rlim_max};
              EXPECT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);
              try {
                pool.map(plain_square{}, xs, 5, j);
                ADD_FAILURE() << "a journal past the file size limit was written";
              } catch (const mpipool::journal_error& e) {
                EXPECT_EQ(e.path(), s.journal_file.string());
                EXPECT_NE(std::string(e.what()).find("cannot write"), std::string::npos) << e.what();
              } catch (const std::exception& e) {
                ADD_FAILURE() << "not a journal_error: " << e.what();
              }
              ::setrlimit(RLIMIT_FSIZE, &old_limit);
              ::signal(SIGXFSZ, old_handler);
              EXPECT_LE(std::filesystem::file_size(s.journal_file), 4096u);
              testing::internal::CaptureStderr();
              EXPECT_EQ(pool.map(plain_square{}, xs, 5, j), squares_of(xs));
              // The journal's thread writes what has come back in batches, whose size depends on
              // timing: the first batch may already pass the limit and leave no record. Whatever
              // it left is whole, and is taken (the rest is computed again).
              EXPECT_LT(j.restored(), std::uint64_t{items});
              EXPECT_EQ(testing::internal::GetCapturedStderr(), "") << "the failed write left no record cut short";
              return 0;
            }),
            0);
}

// Records written after the last sync point that a crash damaged (zeros where records were, or
// after the end) are cut off with a warning and computed again; the rest of the file serves.
TEST(Journal, TailDamagedAfterTheLastSyncIsCutOff) {
  scratch s("tail");
  EXPECT_EQ(with_pool([&](mpipool::pool& pool) {
              const std::vector<int> xs = iota_ints(items);
              mpipool::journal first{s.journal_file, "first"};
              mpipool::journal second{s.journal_file, "second"};
              pool.map(counted_square{s.calls.string()}, xs, 10, first);
              const auto synced = std::filesystem::file_size(s.journal_file);
              pool.map(counted_square{s.calls.string()}, xs, 10, second);
              s.take_calls();
              // A crash before the second call's sync: its sync record never reached the disk,
              // and some of its records came back as zeros.
              std::filesystem::resize_file(s.journal_file, std::filesystem::file_size(s.journal_file) - sync_record_size);
              {
                std::fstream file(s.journal_file, std::ios::in | std::ios::out | std::ios::binary);
                file.seekp(static_cast<std::streamoff>(synced + 2000));
                const std::string zeros(500, '\0');
                file.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
              }
              testing::internal::CaptureStderr();
              EXPECT_EQ(pool.map(counted_square{s.calls.string()}, xs, 10, second), squares_of(xs));
              const std::string warning = testing::internal::GetCapturedStderr();
              EXPECT_NE(warning.find("damaged records from byte"), std::string::npos) << warning;
              const std::uintmax_t recomputed = s.take_calls();
              EXPECT_GT(recomputed, 0u);
              EXPECT_LT(recomputed, std::uintmax_t{items});
              EXPECT_EQ(pool.map(counted_square{s.calls.string()}, xs, 10, first), squares_of(xs));
              EXPECT_EQ(pool.map(counted_square{s.calls.string()}, xs, 10, second), squares_of(xs));
              EXPECT_EQ(s.take_calls(), 0u);

              // Zeros after the end, as a file extended but not written leaves them.
              std::ofstream(s.journal_file, std::ios::app | std::ios::binary) << std::string(4096, '\0');
              testing::internal::CaptureStderr();
              EXPECT_EQ(pool.map(counted_square{s.calls.string()}, xs, 10, first), squares_of(xs));
              EXPECT_NE(testing::internal::GetCapturedStderr().find("damaged records"), std::string::npos);
              EXPECT_EQ(s.take_calls(), 0u);
              return 0;
            }),
            0);
}

// terminate() in the middle of a default-chunked map: every chunk in flight is cut short, and the
// results of the items they ran come back and go to the journal, though the call has failed. A
// rerun takes them.
TEST(Journal, TerminateKeepsTheResultsOfChunksCutShort) {
  scratch s("terminated");
  const std::vector<int> xs = iota_ints(400);
  std::uintmax_t ran = 0;
  EXPECT_EQ(with_pool([&](mpipool::pool& pool) {
              mpipool::journal j{s.journal_file, "squares"};
              auto result = pool.map_async(sleepy_square{s.calls.string()}, xs, std::nullopt, j);
              ran = wait_for_calls(s, 10);  // well inside each worker's first chunk (25 items or more)
              pool.terminate();
              EXPECT_THROW(result.get(), mpipool::pool_terminated);
              return 0;
            }),
            0);
  EXPECT_EQ(with_pool([&](mpipool::pool& pool) {
              mpipool::journal j{s.journal_file, "squares"};
              EXPECT_EQ(pool.map(sleepy_square{s.calls.string()}, xs, std::nullopt, j), squares_of(xs));
              EXPECT_GE(j.restored(), ran) << "items that ran before terminate() are missing from the journal";
              return 0;
            }),
            0);
}

// A journaled stream dropped while chunks of it are in flight: what they bring back is journaled.
TEST(Journal, DroppedStreamKeepsWhatComesBack) {
  scratch s("dropped");
  const std::vector<int> xs = iota_ints(400);
  std::uintmax_t ran = 0;
  EXPECT_EQ(with_pool([&](mpipool::pool& pool) {
              mpipool::journal j{s.journal_file, "squares"};
              {
                auto stream = pool.imap(sleepy_square{s.calls.string()}, xs, 40, j);
                ran = wait_for_calls(s, 10);
              }  // dropped: its chunks are cut short
              return 0;
            }),
            0);
  EXPECT_EQ(with_pool([&](mpipool::pool& pool) {
              mpipool::journal j{s.journal_file, "squares"};
              EXPECT_EQ(read_all(pool.imap(sleepy_square{s.calls.string()}, xs, 40, j)), squares_of(xs));
              EXPECT_GE(j.restored(), ran) << "items that ran before the drop are missing from the journal";
              return 0;
            }),
            0);
}

// Several processes' calls in one file, at once: every rank runs a pool of its own (over
// MPI_COMM_SELF) whose journaled maps share one file, which they all make at the same moment.
// Each map's results messages take several pages, which a reader that does not wait for the
// writer can see half written; every rank then reruns its calls, and all their results come
// from the file.
TEST(Journal, CallsOfSeveralProcessesShareOneFile) {
  int pid = ::getpid();
  MPI_Bcast(&pid, 1, MPI_INT, 0, MPI_COMM_WORLD);
  // tmpfs shows a write to a reader a page at a time: a reader that does not wait for the writer's
  // lock would see half a message there (ext4 shows writes below a few megabytes whole).
  const std::filesystem::path shm = "/dev/shm";
  const std::filesystem::path file =
      (std::filesystem::is_directory(shm) && ::access(shm.c_str(), W_OK) == 0 ? shm
                                                                               : std::filesystem::temp_directory_path()) /
      ("mpipool-journal-shared-" + std::to_string(pid));
  const int rank = mpipool_test::world_rank();
  if (rank == 0) std::filesystem::remove(file);
  MPI_Barrier(MPI_COMM_WORLD);
  constexpr int rounds = 12;
  const std::vector<int> xs = iota_ints(200);
  const std::vector<std::string> expected = long_labels_of(xs);
  auto name = [&](int round) { return "rank " + std::to_string(rank) + " round " + std::to_string(round); };
  EXPECT_EQ(mpipool::run(MPI_COMM_SELF,
                         [&](mpipool::pool& pool) {
                           for (int round = 0; round < rounds; ++round) {
                             try {
                               EXPECT_EQ(pool.map(long_label{}, xs, 10, mpipool::journal{file, name(round)}), expected);
                             } catch (const std::exception& e) {
                               ADD_FAILURE() << name(round) << ": " << e.what();
                             }
                           }
                           return 0;
                         }),
            0);
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT_EQ(mpipool::run(MPI_COMM_SELF,
                         [&](mpipool::pool& pool) {
                           for (int round = 0; round < rounds; ++round) {
                             mpipool::journal j{file, name(round)};
                             try {
                               EXPECT_EQ(pool.map(long_label{}, xs, 10, j), expected);
                               EXPECT_EQ(j.restored(), xs.size()) << name(round) << " lost results";
                             } catch (const std::exception& e) {
                               ADD_FAILURE() << name(round) << ", rerun: " << e.what();
                             }
                           }
                           return 0;
                         }),
            0);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) std::filesystem::remove(file);
}

// A slow file system (here every write and sync of the journal takes 20 ms longer) must not hold
// up the pool: the journal's own thread writes, and the progress thread goes on handing out
// chunks meanwhile. 200 results messages written on the progress thread would add 4 s to the
// map; the journal's thread takes what arrived while it wrote in one write, and the map ends
// about one write and one sync after its last result.
TEST(Journal, ASlowFileSystemDoesNotStallDispatch) {
  scratch s("slow");
  EXPECT_EQ(with_pool([&](mpipool::pool& pool) {
              const std::vector<int> xs = iota_ints(200);
              auto seconds = [](auto&& call) {
                const auto start = std::chrono::steady_clock::now();
                call();
                return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
              };
              const double plain = seconds([&] { EXPECT_EQ(pool.map(nap_square{}, xs, 1), squares_of(xs)); });
              mpipool::detail::slow_journal_io(std::chrono::milliseconds(20));
              const double journaled = seconds(
                  [&] { EXPECT_EQ(pool.map(nap_square{}, xs, 1, mpipool::journal{s.journal_file, "naps"}), squares_of(xs)); });
              mpipool::detail::slow_journal_io(std::chrono::milliseconds(0));
              std::printf("map of 200 items of 2 ms in chunks of 1 on %zu workers: %.3f s, journaled on a file "
                          "system 20 ms slow: %.3f s\n",
                          pool.workers(), plain, journaled);
              EXPECT_LT(journaled, plain + 1.0) << "the journal's writes held up the map";
              return 0;
            }),
            0);
}
