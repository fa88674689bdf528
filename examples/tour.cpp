// A tour of the pool's methods. First the classic demonstration of when results reach the
// caller: three tasks that sleep 1 s, 5 s and 3 s, under map_async (all at the end), imap (in
// input order, each as soon as it and those before it are done) and imap_unordered (each as soon
// as it is done). Then every other method, once.
//
//   mpirun -n 4 ./tour      (three workers, so the three tasks run side by side)
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <mpipool/mpipool.hpp>

namespace {

int nap(int seconds) {
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  return seconds;
}

using clock_type = std::chrono::steady_clock;

double since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

// Prints "method: task(s) at t s, ..." and returns the arrival times, rounded to seconds.
template <class Results>
std::vector<long> show(const char* method, Results&& results, clock_type::time_point start) {
  std::vector<long> arrivals;
  std::printf("%-15s", method);
  for (int seconds : results) {
    const double at = since(start);
    arrivals.push_back(std::lround(at));
    std::printf("  nap(%d) at %.1f s", seconds, at);
    std::fflush(stdout);
  }
  std::printf("\n");
  return arrivals;
}

}  // namespace
MPIPOOL_REGISTER(nap);

int add(int a, int b) { return a + b; }
MPIPOOL_REGISTER(add);

int main(int argc, char** argv) {
  return mpipool::run(argc, argv, [](mpipool::pool& pool) {
    std::printf("%zu workers\n\nWhen each result reaches the caller (tasks sleep 1 s, 5 s, 3 s):\n",
                pool.workers());
    const std::vector<int> naps{1, 5, 3};

    auto start = clock_type::now();
    auto all_at_once = pool.map_async(nap, naps);
    const auto map_async_times = show("map_async", all_at_once.get(), start);

    start = clock_type::now();
    const auto imap_times = show("imap", pool.imap(nap, naps), start);

    start = clock_type::now();
    const auto unordered_times = show("imap_unordered", pool.imap_unordered(nap, naps), start);

    const bool as_expected = map_async_times == std::vector<long>{5, 5, 5} &&
                             imap_times == std::vector<long>{1, 5, 5} &&
                             unordered_times == std::vector<long>{1, 3, 5};
    std::printf("expected with 3 or more workers: 5/5/5, 1/5/5, 1/3/5 s: %s\n\n",
                as_expected ? "yes" : "no");

    std::printf("The other methods:\n");
    std::printf("apply(add, 2, 3)                 = %d\n", pool.apply(add, 2, 3));
    std::printf("apply_async(add, 4, 5).get()     = %d\n", pool.apply_async(add, 4, 5).get());
    const auto squares = pool.map([](int x) { return x * x; }, {1, 2, 3, 4});
    std::printf("map(square, {1, 2, 3, 4})        = %d %d %d %d\n", squares[0], squares[1], squares[2], squares[3]);
    const std::vector<std::tuple<int, int>> pairs{{1, 2}, {3, 4}};
    const auto sums = pool.starmap(add, pairs);
    std::printf("starmap(add, {(1,2), (3,4)})     = %d %d\n", sums[0], sums[1]);
    const auto async_sums = pool.starmap_async(add, pairs).get();
    std::printf("starmap_async(...).get()         = %d %d\n", async_sums[0], async_sums[1]);
    std::printf("istarmap(add, pairs)             =");
    for (int s : pool.istarmap(add, pairs)) std::printf(" %d", s);
    std::printf("\nistarmap_unordered(add, pairs)   = %zu results\n", [&] {
      std::size_t n = 0;
      for (int s : pool.istarmap_unordered(add, pairs)) n += s > 0;
      return n;
    }());
    const auto zipped = pool.map(add, std::vector<int>{1, 2, 3}, std::vector<int>{10, 20});
    std::printf("map(add, {1,2,3}, {10,20})       = %d %d   (stops at the shortest)\n", zipped[0], zipped[1]);
    std::vector<mpipool::async_result<int>> handles;
    for (int x : {3, 1, 2}) handles.push_back(pool.submit(nap, x));
    std::printf("submit(nap, 3|1|2), as_completed =");
    for (const auto& h : mpipool::as_completed(handles, std::chrono::seconds(30))) std::printf(" %d", h.get());
    std::printf("\n");
    auto with_callback = pool.map_async([](int x) { return x + 1; }, std::vector<int>{1, 2}, {},
                                        {.on_result = [](const std::vector<int>& v) {
                                          std::printf("map_async callback got %zu values\n", v.size());
                                        }});
    with_callback.wait();
    try {
      pool.apply([](int x) -> int { throw std::domain_error("no square root of " + std::to_string(x)); }, -1);
    } catch (const mpipool::remote_error& e) {
      std::printf("a failing task raises on the caller:\n  %s\n", e.what());
    }
    return (pool.workers() < 3 || as_expected) ? 0 : 1;
  });
}
