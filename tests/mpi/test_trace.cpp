// The timeline trace (pool_options::trace_path, MPIPOOL_TRACE), the load-balance summary and
// the progress lines written when stderr is not a terminal (MPIPOOL_PROGRESS). Rank 0 reads
// back its own stderr and the trace file.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ranges>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <gtest/gtest.h>

#include "support.hpp"

using mpipool_test::with_pool;
using mpipool_test::world_rank;
using mpipool_test::world_size;

int trace_square(int x) { return x * x; }
MPIPOOL_REGISTER(trace_square);

// Holds the last item of every ten until the test opens the gate, and opens the gate at
// `reached_path` as it gets there: a default-chunked call of 40 items per worker has chunks of
// 10, the first two of each worker end at such an item (see gated_items), and none of them can
// complete before the gate opens.
int held_at_chunk_end(int x, std::string gate_path, std::string reached_path) {
  if (x % 10 == 9) {
    mpipool_test::gate::open_at(reached_path);
    mpipool_test::gate::wait(gate_path);
  }
  return x;
}
MPIPOOL_REGISTER(held_at_chunk_end);

namespace {

std::filesystem::path temp_file(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("mpipool-" + name + "-" + std::to_string(::getpid()));
}

// Sends this process's stderr to a file until text() gives back what was written.
class stderr_capture {
 public:
  stderr_capture() : path_(temp_file("stderr")) {
    std::fflush(stderr);
    saved_ = ::dup(STDERR_FILENO);
    const int fd = ::open(path_.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
  }
  ~stderr_capture() { restore(); }
  stderr_capture(const stderr_capture&) = delete;
  stderr_capture& operator=(const stderr_capture&) = delete;

  // What was written so far, while the capture goes on.
  std::string peek() const {
    std::fflush(stderr);
    std::ifstream in(path_);
    std::stringstream all;
    all << in.rdbuf();
    return all.str();
  }

  std::string text() {
    restore();
    std::ifstream in(path_);
    std::stringstream all;
    all << in.rdbuf();
    std::filesystem::remove(path_);
    return all.str();
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    saved_ = -1;
  }
  std::filesystem::path path_;
  int saved_ = -1;
};

std::vector<std::string> lines_matching(const std::string& text, const std::regex& pattern) {
  std::vector<std::string> found;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (std::regex_search(line, pattern)) found.push_back(line);
  return found;
}

std::size_t workers() { return static_cast<std::size_t>(mpipool_test::worker_count()); }

// 40 items per worker: default chunks of 10 items, 2 of them in flight to each worker at first.
std::vector<std::tuple<int, std::string, std::string>> gated_items(const mpipool_test::gate& gate,
                                                                   const mpipool_test::gate& reached) {
  std::vector<std::tuple<int, std::string, std::string>> items;
  for (int x = 0; x < 40 * static_cast<int>(workers()); ++x) items.emplace_back(x, gate.path(), reached.path());
  return items;
}


// The largest count of items done in the progress lines of `text` that match `line` (its first
// group is the count).
std::uint64_t largest_count(const std::string& text, const std::regex& line) {
  std::uint64_t largest = 0;
  for (const std::string& found : lines_matching(text, line)) {
    std::smatch parts;
    if (std::regex_search(found, parts, line)) largest = std::max<std::uint64_t>(largest, std::stoull(parts[1]));
  }
  return largest;
}

// Waits (10 s at most) until the progress lines count more than 0 items done. Every chunk then
// in flight ends at a held item: those items were done within chunks that have not completed.
bool progress_counts_items_in_chunks(const stderr_capture& captured, const std::regex& line) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (largest_count(captured.peek(), line) == 0) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a look at the file, not a wait for time
  }
  return true;
}

// The environment variables a test sets, unset again however it ends.
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~scoped_env() { ::unsetenv(name_); }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  const char* name_;
};

}  // namespace

TEST(trace, one_event_per_chunk_and_a_summary) {
  const std::filesystem::path trace_path = temp_file("trace.json");
  std::filesystem::remove(trace_path);
  constexpr int map_items = 1000;
  constexpr int map_chunk = 7;
  constexpr int stream_items = 300;
  constexpr int stream_chunk = 10;
  const std::size_t chunks_sent = (map_items + map_chunk - 1) / map_chunk + stream_items / stream_chunk;
  stderr_capture captured;
  const int code = with_pool(
      [&](mpipool::pool& pool) {
        const std::vector<int> squares = pool.map(trace_square, std::views::iota(0, map_items), map_chunk);
        EXPECT_EQ(squares.at(999), 998001);
        long long sum = 0;
        for (int value : pool.imap_unordered(trace_square, std::views::iota(0, stream_items), stream_chunk)) sum += value;
        EXPECT_EQ(sum, 8955050);  // the sum of the squares below 300
        pool.close();
        pool.join();
        return 0;
      },
      {.trace_path = trace_path.string()});
  const std::string err = captured.text();
  EXPECT_EQ(code, 0);
  if (world_rank() != 0) return;

  boost::property_tree::ptree trace;
  ASSERT_NO_THROW(boost::property_tree::read_json(trace_path.string(), trace)) << "not valid JSON";
  std::filesystem::remove(trace_path);
  std::size_t chunk_events = 0;
  std::uint64_t items = 0;
  std::set<int> named_tracks;
  std::set<int> chunk_tracks;
  bool master_named = false;
  for (const auto& [key, event] : trace.get_child("traceEvents")) {
    const std::string phase = event.get<std::string>("ph");
    const int track = event.get<int>("tid", -1);
    if (phase == "M" && event.get<std::string>("name") == "thread_name") {
      const std::string name = event.get<std::string>("args.name");
      if (track == 0) {
        master_named = name.starts_with("master: rank 0 (");
      } else {
        named_tracks.insert(track);
        EXPECT_TRUE(std::regex_match(name, std::regex("rank [0-9]+ \\(.+\\)"))) << name;
      }
    }
    if (phase != "X") continue;
    EXPECT_GE(event.get<double>("dur"), 0.0);
    if (event.get<std::string>("cat") != "chunk") continue;
    ++chunk_events;
    items += event.get<std::uint64_t>("args.items");
    EXPECT_EQ(event.get<std::string>("args.task"), "trace_square");
    EXPECT_GT(event.get<std::uint64_t>("args.bytes_out"), 0u);
    EXPECT_GT(event.get<std::uint64_t>("args.bytes_in"), 0u);
    chunk_tracks.insert(track);
  }
  EXPECT_EQ(chunk_events, chunks_sent);
  EXPECT_EQ(items, static_cast<std::uint64_t>(map_items + stream_items));
  EXPECT_TRUE(master_named);
  EXPECT_EQ(named_tracks.size(), workers());
  for (int track : chunk_tracks) EXPECT_TRUE(named_tracks.contains(track)) << "chunk on unnamed track " << track;

  EXPECT_EQ(lines_matching(err, std::regex("^mpipool: load balance over [0-9.]+ s, [0-9]+ workers?:$")).size(), 1u) << err;
  EXPECT_EQ(lines_matching(err, std::regex("^mpipool:   rank [0-9]+ \\(.+\\): busy [0-9.]+%, [0-9]+ items, [0-9]+ chunks$")).size(),
            workers())
      << err;
  EXPECT_EQ(lines_matching(err, std::regex("^mpipool:   slowest chunk: task 'trace_square' from item [0-9]+, [0-9.]+ s on rank [0-9]+ \\(.+\\)$")).size(), 1u) << err;
  EXPECT_EQ(lines_matching(err, std::regex("^mpipool:   master: busy [0-9.]+%$")).size(), 1u) << err;
  EXPECT_EQ(lines_matching(err, std::regex("^mpipool: trace of " + std::to_string(chunks_sent) + " chunks written to ")).size(), 1u) << err;
}

TEST(progress, plain_lines_count_up_to_the_total) {
  const scoped_env interval("MPIPOOL_PROGRESS_INTERVAL", "0");  // a line at every change
  stderr_capture captured;
  const int code = with_pool(
      [](mpipool::pool& pool) {
        EXPECT_EQ(pool.map(trace_square, std::views::iota(0, 500), 10).at(499), 249001);
        return 0;
      },
      {.progress = true});
  const std::string err = captured.text();
  EXPECT_EQ(code, 0);
  if (world_rank() != 0) return;
  const std::regex line("^mpipool: rank 0: map 'trace_square': ([0-9]+)/500 items \\([0-9.]+%\\), [0-9.]+[kMG]? items/s");
  const std::vector<std::string> lines = lines_matching(err, line);
  ASSERT_FALSE(lines.empty()) << err;
  std::uint64_t previous = 0;
  for (const std::string& text : lines) {
    std::smatch parts;
    ASSERT_TRUE(std::regex_search(text, parts, line));
    const std::uint64_t done = std::stoull(parts[1]);
    EXPECT_GE(done, previous) << text;  // items done within chunks count too, not whole chunks alone
    previous = done;
  }
  EXPECT_TRUE(lines.back().find("500/500 items (100.0%)") != std::string::npos) << lines.back();
  EXPECT_TRUE(lines.back().find(", all done in ") != std::string::npos) << lines.back();
  EXPECT_EQ(lines_matching(err, std::regex(", all done in ")).size(), 1u) << err;
  EXPECT_EQ(lines_matching(err, std::regex("^mpipool: load balance over ")).size(), 1u) << err;
}

TEST(progress, an_unbounded_stream_counts_without_a_total) {
  const scoped_env progress("MPIPOOL_PROGRESS", "1");
  const scoped_env interval("MPIPOOL_PROGRESS_INTERVAL", "0");
  stderr_capture captured;
  const int code = with_pool([](mpipool::pool& pool) {
    int read = 0;
    for (int value : pool.imap(trace_square, std::views::iota(0), 10)) {
      EXPECT_EQ(value, read * read);
      if (++read == 200) break;
    }
    return 0;
  });
  const std::string err = captured.text();
  EXPECT_EQ(code, 0);
  if (world_rank() != 0) return;
  const std::vector<std::string> lines =
      lines_matching(err, std::regex("^mpipool: rank 0: imap 'trace_square': [0-9]+ items done so far, [0-9.]+[kMG]? items/s$"));
  EXPECT_FALSE(lines.empty()) << err;
  EXPECT_TRUE(lines_matching(err, std::regex("imap 'trace_square': [0-9]+/")).empty()) << err;
}

TEST(progress, counts_items_done_before_their_chunk_completes) {
  // Under scripts/test-tcp.sh (no shared page), the workers send their counts as messages.
  const scoped_env progress("MPIPOOL_PROGRESS", "lines");
  const scoped_env interval("MPIPOOL_PROGRESS_INTERVAL", "0.01");
  const mpipool_test::gate gate("progress-in-chunk");
  const mpipool_test::gate reached("progress-in-chunk-reached");
  const std::vector<std::tuple<int, std::string, std::string>> items = gated_items(gate, reached);
  const std::regex line("^mpipool: rank 0: starmap 'held_at_chunk_end': ([0-9]+)/" + std::to_string(items.size()) +
                        " items \\([0-9.]+%\\), [0-9.]+[kMG]? items/s");
  stderr_capture captured;
  bool counted_in_chunks = false;
  const int code = with_pool([&](mpipool::pool& pool) {
    auto values = pool.starmap_async(held_at_chunk_end, items);
    counted_in_chunks = progress_counts_items_in_chunks(captured, line);
    gate.open();
    const std::vector<int> got = values.get();
    EXPECT_EQ(got.size(), items.size());
    EXPECT_EQ(got.back(), static_cast<int>(items.size()) - 1);
    return 0;
  });
  const std::string err = captured.text();
  EXPECT_EQ(code, 0);
  if (world_rank() != 0) return;
  EXPECT_TRUE(counted_in_chunks) << "no progress line counted an item before a chunk completed:\n" << err;
  EXPECT_EQ(largest_count(err, line), items.size()) << err;
}

// Last in this file: the pool is stopped by SIGTERM, as Slurm's time limit would.
TEST(progress, a_stopped_calls_count_agrees_with_the_load_balance_summary) {
  const scoped_env progress("MPIPOOL_PROGRESS", "lines");
  const scoped_env interval("MPIPOOL_PROGRESS_INTERVAL", "0.01");
  const mpipool_test::gate gate("progress-stopped");
  const mpipool_test::gate reached("progress-stopped-reached");
  const std::vector<std::tuple<int, std::string, std::string>> items = gated_items(gate, reached);
  stderr_capture captured;
  bool interrupted = false;
  const int code = with_pool([&](mpipool::pool& pool) {
    auto values = pool.starmap_async(held_at_chunk_end, items);
    // A worker holds the last item of its chunk: it did the others, and no chunk has completed.
    mpipool_test::gate::wait(reached.path());
    raise(SIGTERM);
    gate.open();  // the held items end, and their chunks with them; those queued behind are cut short
    try {
      values.get();
    } catch (const mpipool::pool_interrupted& e) {
      interrupted = e.signal() == SIGTERM;
    }
    return 0;
  });
  const std::string err = captured.text();
  EXPECT_EQ(code, 128 + SIGTERM);
  if (world_rank() != 0) return;
  EXPECT_TRUE(interrupted);
  std::smatch stop;
  const std::string stop_line = "mpipool: SIGTERM during starmap of 'held_at_chunk_end': ([0-9]+) of " +
                                std::to_string(items.size()) + " items done";
  ASSERT_TRUE(std::regex_search(err, stop, std::regex(stop_line))) << err;
  const std::uint64_t stopped_at = std::stoull(stop[1]);
  std::uint64_t summed = 0;
  const std::regex worker_line("^mpipool:   rank [0-9]+ \\(.+\\): busy [0-9.]+%, ([0-9]+) items, [0-9]+ chunks$");
  const std::vector<std::string> worker_lines = lines_matching(err, worker_line);
  EXPECT_EQ(worker_lines.size(), workers()) << err;
  for (const std::string& text : worker_lines) {
    std::smatch parts;
    ASSERT_TRUE(std::regex_search(text, parts, worker_line));
    summed += std::stoull(parts[1]);
  }
  EXPECT_GT(stopped_at, 0u) << err;
  EXPECT_EQ(stopped_at, summed) << "the stop line and the load-balance summary disagree:\n" << err;
}
