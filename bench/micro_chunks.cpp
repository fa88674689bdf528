// Micro-benchmarks of chunk encoding and decoding (Google Benchmark), for N = 1, 100 and 10000
// ints: a chunk's arguments through detail::argument_writer / argument_reader, and a results
// message's outcomes through detail::outcome_writer / decode_outcomes.
//
//   build-bench/bench/bench_micro_chunks
#include <cstdint>
#include <tuple>

#include <benchmark/benchmark.h>

#include <mpipool/detail/outcomes.hpp>
#include <mpipool/serialization.hpp>  // std::tuple

namespace {

using mpipool::detail::byte_buffer;
using args_type = std::tuple<int>;

byte_buffer encoded_arguments(int n) {
  byte_buffer out;
  mpipool::detail::argument_writer writer(out);
  for (int i = 0; i < n; ++i) writer.add(args_type(i));
  return out;
}

byte_buffer encoded_outcomes(int n) {
  byte_buffer out;
  mpipool::detail::outcome_writer writer(out);
  for (int i = 0; i < n; ++i) writer.success(i);
  return out;
}

void encode_arguments(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  byte_buffer out;
  for (auto _ : state) {
    out.clear();  // keeps the capacity, as the master's spare buffers do
    mpipool::detail::argument_writer writer(out);
    for (int i = 0; i < n; ++i) writer.add(args_type(i));
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["bytes_per_item"] = static_cast<double>(out.size()) / n;
}

void decode_arguments(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const byte_buffer in = encoded_arguments(n);
  for (auto _ : state) {
    mpipool::detail::argument_reader reader(in);
    long sum = 0;
    for (int i = 0; i < n; ++i) {
      args_type args;
      if (reader.next(args)) state.SkipWithError("an argument failed to decode");
      sum += std::get<0>(args);
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void encode_outcomes(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  byte_buffer out;
  for (auto _ : state) {
    out.clear();
    mpipool::detail::outcome_writer writer(out);
    for (int i = 0; i < n; ++i) writer.success(i);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["bytes_per_item"] = static_cast<double>(out.size()) / n;
}

void decode_outcomes(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const byte_buffer in = encoded_outcomes(n);
  for (auto _ : state) {
    long sum = 0;
    mpipool::detail::decode_outcomes<int>(
        in, static_cast<std::uint32_t>(n), [&](std::uint32_t, int v) { sum += v; },
        [&](std::uint32_t, const mpipool::detail::item_error&) { state.SkipWithError("an outcome failed"); });
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * n);
}

BENCHMARK(encode_arguments)->Arg(1)->Arg(100)->Arg(10000);
BENCHMARK(decode_arguments)->Arg(1)->Arg(100)->Arg(10000);
BENCHMARK(encode_outcomes)->Arg(1)->Arg(100)->Arg(10000);
BENCHMARK(decode_outcomes)->Arg(1)->Arg(100)->Arg(10000);

}  // namespace

BENCHMARK_MAIN();
