// A soak: many cheap tasks through a mix of methods at once, every result accounted for.
//
//   mpirun -n 64 soak [TASKS]     (default 1000000)
//
// The input 0..TASKS-1 is cut into blocks of 1000, each sent through one method (map, starmap,
// imap, imap_unordered, apply_async per item, map_async with callbacks), several blocks in
// flight at once. Every index must come back exactly once, with its value. With
// MPIPOOL_ISOLATED=1 (each worker's tasks in a forked helper), 1 task in 10^4 crashes its
// process (deterministically, by index): those indices must come back as
// mpipool::worker_crashed, and only those. map raises the first error and drops the other
// results, so blocks holding a crashing index go through methods that give each item its own
// outcome; one extra map over a crashing index checks the error map raises.
// Prints the counts and exits non-zero on any mismatch.
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <ranges>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <mpipool/mpipool.hpp>

namespace soak {

bool isolated() {
  const char* value = std::getenv("MPIPOOL_ISOLATED");
  return value != nullptr && std::string(value) == "1";
}

constexpr std::uint64_t crash_period = 10'000;
constexpr std::uint64_t crash_offset = 4'321;
bool crashes_at(std::uint64_t index) { return index % crash_period == crash_offset; }

// A few microseconds of arithmetic, the same on every rank.
std::uint64_t work(std::uint64_t index, std::uint64_t rounds) {
  std::uint64_t x = index * 0x9E3779B97F4A7C15ull + 1;
  for (std::uint64_t i = 0; i < rounds; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  return x;
}
constexpr std::uint64_t rounds = 2000;

using outcome = std::pair<std::uint64_t, std::uint64_t>;  // the index, its value

// Crashes at the crashing indices only when isolated: without isolation a crash ends the job.
outcome soak_task(std::uint64_t index) {
  if (crashes_at(index) && isolated()) std::raise(SIGSEGV);
  return {index, work(index, rounds)};
}

outcome soak_pair(std::uint64_t index, std::uint64_t how_many_rounds) {
  if (crashes_at(index) && isolated()) std::raise(SIGSEGV);
  return {index, work(index, how_many_rounds)};
}

}  // namespace soak

MPIPOOL_REGISTER(soak::soak_task);
MPIPOOL_REGISTER(soak::soak_pair);

namespace {

using soak::outcome;

constexpr std::uint64_t block_size = 1'000;
constexpr std::size_t blocks_in_flight = 12;

enum class method { map, starmap, imap, imap_unordered, apply_async, map_async };
const char* method_name(method m) {
  switch (m) {
    case method::map: return "map";
    case method::starmap: return "starmap";
    case method::imap: return "imap";
    case method::imap_unordered: return "imap_unordered";
    case method::apply_async: return "apply_async";
    case method::map_async: return "map_async";
  }
  return "?";
}

// Blocks that hold a crashing index (in either mode, so that both modes share one layout) go
// through methods with an outcome per item.
method method_of(std::uint64_t block, std::uint64_t first, std::uint64_t last) {
  bool holds_crash = false;
  for (std::uint64_t i = first; i < last && !holds_crash; ++i) holds_crash = soak::crashes_at(i);
  if (holds_crash) {
    constexpr method per_item[] = {method::imap, method::imap_unordered, method::apply_async};
    return per_item[block % 3];
  }
  constexpr method all[] = {method::map, method::starmap, method::imap,
                            method::imap_unordered, method::apply_async, method::map_async};
  return all[block % 6];
}

class ledger {
 public:
  explicit ledger(std::uint64_t tasks) : values_(tasks, 0), crashes_(tasks, 0) {}

  void value(std::uint64_t expected_index, const outcome& got) {
    if (got.first != expected_index && expected_index != any_index)
      mismatch("the value of index " + std::to_string(got.first) + " where " + std::to_string(expected_index) +
               "'s was due");
    if (got.first >= values_.size()) {
      mismatch("an index out of range: " + std::to_string(got.first));
      return;
    }
    if (got.second != soak::work(got.first, soak::rounds))
      mismatch("a wrong value at index " + std::to_string(got.first));
    ++values_[got.first];
  }

  void error(std::uint64_t index, const mpipool::remote_error& e, const char* how) {
    if (soak::isolated() && soak::crashes_at(index) && e.type_name() == "mpipool::worker_crashed") {
      ++crashes_[index];
      return;
    }
    mismatch(std::string(how) + ": item " + std::to_string(index) + " failed: " + e.type_name() + ": " + e.message());
  }

  void mismatch(const std::string& what) {
    if (++mismatches_ <= 10) std::fprintf(stderr, "soak: %s\n", what.c_str());
  }

  // Prints the counts; true when every index came back once, as it should.
  bool report(double seconds, std::size_t workers) const {
    std::uint64_t values = 0, crashes = 0, lost = 0, duplicated = 0, misplaced_crashes = 0;
    for (std::uint64_t i = 0; i < values_.size(); ++i) {
      values += values_[i];
      crashes += crashes_[i];
      const unsigned times = values_[i] + crashes_[i];
      if (times == 0) ++lost;
      if (times > 1) ++duplicated;
      if (crashes_[i] > 0 && !soak::crashes_at(i)) ++misplaced_crashes;
    }
    std::uint64_t expected_crashes = 0;
    if (soak::isolated())
      for (std::uint64_t i = 0; i < values_.size(); ++i) expected_crashes += soak::crashes_at(i) ? 1 : 0;
    std::printf("soak (%s mode, %zu workers): tasks %llu, values %llu, crashes %llu (expected %llu), lost %llu, "
                "duplicated %llu, other mismatches %llu, seconds %.2f\n",
                soak::isolated() ? "isolated" : "default", workers, static_cast<unsigned long long>(values_.size()),
                static_cast<unsigned long long>(values), static_cast<unsigned long long>(crashes),
                static_cast<unsigned long long>(expected_crashes), static_cast<unsigned long long>(lost),
                static_cast<unsigned long long>(duplicated), static_cast<unsigned long long>(mismatches_), seconds);
    return lost == 0 && duplicated == 0 && mismatches_ == 0 && misplaced_crashes == 0 &&
           crashes == expected_crashes && values + crashes == values_.size();
  }

  static constexpr std::uint64_t any_index = ~std::uint64_t{0};

 private:
  std::vector<std::uint8_t> values_;
  std::vector<std::uint8_t> crashes_;
  std::uint64_t mismatches_ = 0;
};

// One block in flight: whichever handles its method needs.
struct block_call {
  block_call(method how_, std::uint64_t first_, std::uint64_t last_) : how(how_), first(first_), last(last_) {}
  method how;
  std::uint64_t first;
  std::uint64_t last;
  std::optional<mpipool::async_result<std::vector<outcome>>> whole;
  std::vector<mpipool::async_result<outcome>> items;
  std::optional<mpipool::result_stream<outcome>> stream;
  // What map_async's callbacks saw, on the master's progress thread; read after get().
  std::vector<outcome> called_back;
  int result_callbacks = 0;
  int error_callbacks = 0;
};

auto indices(std::uint64_t first, std::uint64_t last) { return std::views::iota(first, last); }

void start(mpipool::pool& pool, block_call& call) {
  switch (call.how) {
    case method::imap:
      call.stream.emplace(pool.imap(soak::soak_task, indices(call.first, call.last), 8));
      break;
    case method::imap_unordered:
      call.stream.emplace(pool.imap_unordered(soak::soak_task, indices(call.first, call.last), 1));
      break;
    case method::apply_async:
      for (std::uint64_t i = call.first; i < call.last; ++i)
        call.items.push_back(pool.apply_async(soak::soak_task, i));
      break;
    case method::map_async:
      call.whole.emplace(pool.map_async(soak::soak_task, indices(call.first, call.last), {},
                                        {.on_result =
                                             [&call](const std::vector<outcome>& values) {
                                               ++call.result_callbacks;
                                               call.called_back = values;
                                             },
                                         .on_error = [&call](const mpipool::error&) { ++call.error_callbacks; }}));
      break;
    case method::map:
    case method::starmap:
      break;  // blocking: run once the others are under way
  }
}

void run_blocking(mpipool::pool& pool, block_call& call, ledger& book) {
  try {
    std::vector<outcome> values;
    if (call.how == method::map) {
      values = pool.map(soak::soak_task, indices(call.first, call.last));
    } else {
      std::vector<std::tuple<std::uint64_t, std::uint64_t>> pairs;
      for (std::uint64_t i = call.first; i < call.last; ++i) pairs.emplace_back(i, soak::rounds);
      values = pool.starmap(soak::soak_pair, pairs, 50);
    }
    if (values.size() != call.last - call.first) book.mismatch(std::string(method_name(call.how)) + ": wrong length");
    for (std::uint64_t i = 0; i < values.size(); ++i) book.value(call.first + i, values[i]);
  } catch (const mpipool::remote_error& e) {
    book.mismatch(std::string(method_name(call.how)) + " raised " + e.type_name() + ": " + e.message());
  }
}

void finish(block_call& call, ledger& book) {
  const char* how = method_name(call.how);
  switch (call.how) {
    case method::imap:
    case method::imap_unordered: {
      const bool ordered = call.how == method::imap;
      std::uint64_t position = 0;
      for (;;) {
        try {
          auto value = call.stream->next();
          if (!value) break;
          book.value(ordered ? call.first + position : ledger::any_index, *value);
        } catch (const mpipool::remote_error& e) {  // an item's failure: reading goes on
          if (ordered && e.index() != position) book.mismatch(std::string(how) + ": an error out of order");
          book.error(call.first + e.index(), e, how);
        }
        ++position;
      }
      if (position != call.last - call.first)
        book.mismatch(std::string(how) + ": " + std::to_string(position) + " outcomes");
      break;
    }
    case method::apply_async:
      for (std::uint64_t i = 0; i < call.items.size(); ++i) {
        try {
          book.value(call.first + i, call.items[i].get());
        } catch (const mpipool::remote_error& e) {
          book.error(call.first + i, e, how);  // apply's error has index 0: the item is this handle's
        }
      }
      break;
    case method::map_async: {
      try {
        const std::vector<outcome>& values = call.whole->get();
        if (call.result_callbacks != 1 || call.error_callbacks != 0 || call.called_back != values)
          book.mismatch("map_async: callbacks ran " + std::to_string(call.result_callbacks) + " and " +
                        std::to_string(call.error_callbacks) + " times, or saw other values");
        for (std::uint64_t i = 0; i < call.called_back.size(); ++i) book.value(call.first + i, call.called_back[i]);
      } catch (const mpipool::remote_error& e) {
        book.mismatch(std::string("map_async raised ") + e.type_name() + ": " + e.message());
      }
      break;
    }
    case method::map:
    case method::starmap:
      break;
  }
}

// Isolated: map over a crashing index raises worker_crashed for that item, and the pool goes on.
bool map_over_a_crash_raises_it(mpipool::pool& pool, std::uint64_t tasks) {
  if (!soak::isolated() || tasks <= soak::crash_offset) return true;
  const std::uint64_t first = soak::crash_offset - 10;
  try {
    (void)pool.map(soak::soak_task, indices(first, first + 20), 3);
  } catch (const mpipool::remote_error& e) {
    const bool ok = e.index() == 10 && e.type_name() == "mpipool::worker_crashed";
    std::printf("soak: map over the crashing index %llu raised %s at item %llu: %s\n",
                static_cast<unsigned long long>(soak::crash_offset), e.type_name().c_str(),
                static_cast<unsigned long long>(e.index()), ok ? "as expected" : "WRONG");
    return ok;
  }
  std::printf("soak: map over a crashing index raised nothing: WRONG\n");
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t tasks = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  return mpipool::run(argc, argv, [tasks](mpipool::pool& pool) {
    ledger book(tasks);
    const auto started = std::chrono::steady_clock::now();
    const std::uint64_t blocks = (tasks + block_size - 1) / block_size;
    for (std::uint64_t wave = 0; wave < blocks; wave += blocks_in_flight) {
      std::vector<block_call> calls;
      calls.reserve(blocks_in_flight);  // callbacks hold references to the calls: never moved
      for (std::uint64_t b = wave; b < std::min(blocks, wave + blocks_in_flight); ++b) {
        const std::uint64_t first = b * block_size;
        const std::uint64_t last = std::min(tasks, first + block_size);
        calls.emplace_back(method_of(b, first, last), first, last);
      }
      for (block_call& call : calls) start(pool, call);
      for (block_call& call : calls)
        if (call.how == method::map || call.how == method::starmap) run_blocking(pool, call, book);
      for (block_call& call : calls) finish(call, book);
    }
    const bool map_ok = map_over_a_crash_raises_it(pool, tasks);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const bool ok = book.report(seconds, pool.workers()) && map_ok;
    std::printf("soak: %s\n", ok ? "every result exactly once" : "MISMATCH");
    return ok ? 0 : 1;
  });
}
