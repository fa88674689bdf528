// Micro-benchmarks of chunk encoding and decoding (Google Benchmark), for N = 1, 16, 1024 and
// 10000 items per chunk: a chunk's arguments through detail::argument_writer / argument_reader,
// a results message's outcomes through detail::outcome_writer / decode_outcomes, and a whole
// chunk on the worker's side (decode, call, encode) through task_model::run.
//
// Each comes in the value kinds that take different paths: `int` and `vec16` (a vector of 16
// doubles) travel as raw bytes; `archived_int` (an int with its own serialize(), as every int
// was before the bitwise path) and `string` go through a Boost archive.
//
//   build-bench/bench/bench_micro_chunks
#include <cstdint>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include <benchmark/benchmark.h>

#include <mpipool/detail/outcomes.hpp>
#include <mpipool/detail/task_model.hpp>
#include <mpipool/serialization.hpp>

namespace {

using mpipool::detail::byte_buffer;

struct archived_int {
  int value = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & value;
  }
};
static_assert(!mpipool::detail::is_bitwise_v<archived_int>);
static_assert(mpipool::detail::is_bitwise_v<std::tuple<int>> && mpipool::detail::is_bitwise_v<std::vector<double>>);

template <class T>
T make(int i) {
  if constexpr (std::is_same_v<T, int>) return i;
  else if constexpr (std::is_same_v<T, archived_int>) return {i};
  else if constexpr (std::is_same_v<T, std::string>) return "item " + std::to_string(i);
  else return std::vector<double>(16, i * 0.5);
}

template <class T>
long weight(const T& v) {
  if constexpr (std::is_same_v<T, int>) return v;
  else if constexpr (std::is_same_v<T, archived_int>) return v.value;
  else return static_cast<long>(v.size());
}

template <class T>
byte_buffer encoded_arguments(int n) {
  byte_buffer out;
  mpipool::detail::argument_writer writer(out);
  for (int i = 0; i < n; ++i) writer.add(std::tuple<T>(make<T>(i)));
  return out;
}

template <class T>
byte_buffer encoded_outcomes(int n) {
  byte_buffer out;
  mpipool::detail::outcome_writer writer(out);
  for (int i = 0; i < n; ++i) writer.success(make<T>(i));
  return out;
}

template <class T>
void encode_arguments(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::vector<std::tuple<T>> items;
  for (int i = 0; i < n; ++i) items.emplace_back(make<T>(i));
  byte_buffer out;
  for (auto _ : state) {
    out.clear();  // keeps the capacity, as the master's spare buffers do
    mpipool::detail::argument_writer writer(out);
    for (const auto& item : items) writer.add(item);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["bytes_per_item"] = static_cast<double>(out.size()) / n;
}

template <class T>
void decode_arguments(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const byte_buffer in = encoded_arguments<T>(n);
  for (auto _ : state) {
    mpipool::detail::argument_reader reader(in);
    long sum = 0;
    for (int i = 0; i < n; ++i) {
      std::tuple<T> args;
      if (reader.next(args)) state.SkipWithError("an argument failed to decode");
      sum += weight(std::get<0>(args));
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * n);
}

template <class T>
void encode_outcomes(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::vector<T> values;
  for (int i = 0; i < n; ++i) values.push_back(make<T>(i));
  byte_buffer out;
  for (auto _ : state) {
    out.clear();
    mpipool::detail::outcome_writer writer(out);
    for (const auto& v : values) writer.success(v);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["bytes_per_item"] = static_cast<double>(out.size()) / n;
}

template <class T>
void decode_outcomes(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const byte_buffer in = encoded_outcomes<T>(n);
  for (auto _ : state) {
    long sum = 0;
    mpipool::detail::decode_outcomes<T>(
        in, static_cast<std::uint32_t>(n), [&](std::uint32_t, T&& v) { sum += weight(v); },
        [&](std::uint32_t, const mpipool::detail::item_error&) { state.SkipWithError("an outcome failed"); });
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * n);
}

// The task of W1: the value itself, through the same type both ways.
struct identity_task {
  template <class T>
  T operator()(T v) const {
    return v;
  }
};

// A whole chunk on the worker: read each argument, call the task, write its outcome, and poll
// for a stop between items.
template <class T>
void run_chunk(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const byte_buffer items = encoded_arguments<T>(n);
  using model = mpipool::detail::task_model<identity_task, std::tuple<T>>;
  identity_task task;
  const std::function<bool(std::uint64_t)> never = [](std::uint64_t) { return false; };
  byte_buffer outcomes;
  for (auto _ : state) {
    outcomes.clear();
    mpipool::detail::stop_poll stop(never, 1);
    const std::uint32_t done = model::run(&task, {0, static_cast<std::uint32_t>(n), items, outcomes, stop});
    if (done != static_cast<std::uint32_t>(n)) state.SkipWithError("the chunk stopped early");
    benchmark::DoNotOptimize(outcomes.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void item_counts(benchmark::internal::Benchmark* b) { b->Arg(1)->Arg(16)->Arg(1024)->Arg(10000); }

}  // namespace

BENCHMARK(encode_arguments<int>)->Apply(item_counts);
BENCHMARK(encode_arguments<archived_int>)->Apply(item_counts);
BENCHMARK(encode_arguments<std::vector<double>>)->Arg(1)->Arg(16)->Arg(1024);
BENCHMARK(encode_arguments<std::string>)->Arg(1)->Arg(16)->Arg(1024);
BENCHMARK(decode_arguments<int>)->Apply(item_counts);
BENCHMARK(decode_arguments<archived_int>)->Apply(item_counts);
BENCHMARK(decode_arguments<std::vector<double>>)->Arg(1)->Arg(16)->Arg(1024);
BENCHMARK(decode_arguments<std::string>)->Arg(1)->Arg(16)->Arg(1024);
BENCHMARK(encode_outcomes<int>)->Apply(item_counts);
BENCHMARK(encode_outcomes<archived_int>)->Apply(item_counts);
BENCHMARK(encode_outcomes<std::vector<double>>)->Arg(1)->Arg(16)->Arg(1024);
BENCHMARK(encode_outcomes<std::string>)->Arg(1)->Arg(16)->Arg(1024);
BENCHMARK(decode_outcomes<int>)->Apply(item_counts);
BENCHMARK(decode_outcomes<archived_int>)->Apply(item_counts);
BENCHMARK(decode_outcomes<std::vector<double>>)->Arg(1)->Arg(16)->Arg(1024);
BENCHMARK(decode_outcomes<std::string>)->Arg(1)->Arg(16)->Arg(1024);
BENCHMARK(run_chunk<int>)->Apply(item_counts);
BENCHMARK(run_chunk<archived_int>)->Apply(item_counts);
BENCHMARK(run_chunk<std::vector<double>>)->Arg(1)->Arg(16)->Arg(1024);
BENCHMARK(run_chunk<std::string>)->Arg(1)->Arg(16)->Arg(1024);

BENCHMARK_MAIN();
