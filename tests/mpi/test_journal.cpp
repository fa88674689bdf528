// Results journals (mpipool/journal.hpp): a call given a journal keeps its results in a file,
// and a rerun computes only what is missing there, returning exactly what an uninterrupted run
// returns. Tasks count their calls in a file of their own (one byte per call, from whichever
// rank ran it), so that "computed only what was missing" is checked by count. Each test runs at
// 1, 2, 3 and 5 ranks.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

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

// A file the tasks count their calls in, and the journal, both removed at the end.
struct scratch {
  explicit scratch(const std::string& test)
      : calls(scratch_file(test + "-calls")), journal_file(scratch_file(test)) {
    std::filesystem::remove(calls);
    std::filesystem::remove(journal_file);
  }
  ~scratch() {
    std::filesystem::remove(calls);
    std::filesystem::remove(journal_file);
  }
  // Calls counted since the last take.
  std::uintmax_t take_calls() {
    const std::uintmax_t n = std::filesystem::exists(calls) ? std::filesystem::file_size(calls) : 0;
    std::filesystem::remove(calls);
    return n;
  }
  std::filesystem::path calls;
  std::filesystem::path journal_file;
};

// x * x, counting its calls; items from `fail_from` on throw (a first run cut short).
struct counted_square {
  std::string log;
  int fail_from = INT_MAX;
  int operator()(int x) const {
    count_call(log);
    if (x >= fail_from) throw std::runtime_error("not this time");
    return x * x;
  }
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & log & fail_from;
  }
};

// An archived result: a string.
struct counted_label {
  std::string log;
  int fail_from = INT_MAX;
  std::string operator()(int x) const {
    count_call(log);
    if (x >= fail_from) throw std::runtime_error("not this time");
    return "item " + std::to_string(x);
  }
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & log & fail_from;
  }
};

struct counted_product {
  std::string log;
  int fail_from = INT_MAX;
  long operator()(int a, int b) const {
    count_call(log);
    if (a >= fail_from) throw std::runtime_error("not this time");
    return static_cast<long>(a) * b;
  }
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & log & fail_from;
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
              EXPECT_THROW(pool.map(counted_square{s.calls.string(), cut_at}, xs, 7, j), mpipool::remote_error);
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
              EXPECT_THROW(pool.map(counted_label{s.calls.string(), cut_at}, xs, std::nullopt, j), mpipool::remote_error);
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
              EXPECT_THROW(pool.starmap(counted_product{s.calls.string(), cut_at}, pairs, {}, products),
                           mpipool::remote_error);
              s.take_calls();
              EXPECT_EQ(pool.starmap(counted_product{s.calls.string()}, pairs, {}, products), expected);
              EXPECT_EQ(s.take_calls(), std::uintmax_t{items - cut_at});

              const std::vector<int> xs = iota_ints(items);
              mpipool::journal squares{s.journal_file, "squares"};
              auto first = pool.map_async(counted_square{s.calls.string(), cut_at}, xs, 5, squares);
              EXPECT_THROW(first.get(), mpipool::remote_error);
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
              read_all(pool.imap(counted_square{s.calls.string(), cut_at}, xs, 4, ordered), &failures);
              EXPECT_EQ(failures, items - cut_at);
              s.take_calls();
              EXPECT_EQ(read_all(pool.imap(counted_square{s.calls.string()}, xs, 4, ordered)), squares_of(xs));
              EXPECT_EQ(s.take_calls(), std::uintmax_t{items - cut_at});
              EXPECT_EQ(ordered.restored(), std::uint64_t{cut_at});

              mpipool::journal unordered{s.journal_file, "imap_unordered"};
              read_all(pool.imap_unordered(counted_square{s.calls.string(), cut_at}, xs, 1, unordered));
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
              read_all(pool.istarmap_unordered(counted_product{s.calls.string(), cut_at}, pairs, 3, products));
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
              // A kill in the middle of the last record's write.
              std::filesystem::resize_file(s.journal_file, std::filesystem::file_size(s.journal_file) - 3);
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
              EXPECT_THROW(pool.map(counted_square{s.calls.string(), cut_at}, xs, {}, first), mpipool::remote_error);
              EXPECT_THROW(pool.map(counted_square{s.calls.string(), 1100}, ys, {}, second), mpipool::remote_error);
              s.take_calls();
              EXPECT_EQ(pool.map(counted_square{s.calls.string()}, xs, {}, first), squares_of(xs));
              EXPECT_EQ(pool.map(counted_square{s.calls.string()}, ys, {}, second), squares_of(ys));
              EXPECT_EQ(s.take_calls(), std::uintmax_t{(items - cut_at) + (items / 2 - 100)});
              return 0;
            }),
            0);
}
