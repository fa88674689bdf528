// The backoff's schedule, without MPI: the clock is passed in. The doorbell and the waits on
// it, in one process.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "wire/doorbell.hpp"
#include "wire/wait.hpp"

using mpipool::detail::backoff;
using namespace std::chrono_literals;

namespace {

// The pauses `waiting` asks for at `at`, skipping the zero-length look after each sleep.
std::chrono::microseconds next_sleep(backoff& waiting, backoff::clock::time_point at) {
  auto pause = waiting.next(at);
  if (pause == 0us) pause = waiting.next(at);
  return pause;
}

}  // namespace

TEST(backoff, spins_without_sleeping_at_first) {
  mpipool::detail::allow_hot_spin(true);  // a core of its own
  backoff waiting;
  const auto start = backoff::clock::now();
  EXPECT_EQ(waiting.next(start), 0us);
  EXPECT_TRUE(waiting.spinning(start + backoff::spin_for / 2));
  EXPECT_EQ(waiting.next(start + backoff::spin_for / 2), 0us);
  EXPECT_FALSE(waiting.spinning(start + backoff::spin_for));
  mpipool::detail::allow_hot_spin(false);
}

TEST(backoff, spins_a_shorter_while_where_cores_are_shared) {
  static_assert(backoff::shared_spin_for < backoff::spin_for);
  mpipool::detail::allow_hot_spin(false);
  backoff waiting;
  const auto start = backoff::clock::now();
  EXPECT_EQ(waiting.next(start), 0us);
  EXPECT_TRUE(waiting.spinning(start + backoff::shared_spin_for / 2));
  EXPECT_FALSE(waiting.spinning(start + backoff::shared_spin_for));
  EXPECT_EQ(waiting.next(start + backoff::shared_spin_for), backoff::first_sleep);
}

TEST(backoff, spins_hot_only_where_allowed_and_only_at_first) {
  mpipool::detail::allow_hot_spin(false);
  backoff shared;
  const auto start = backoff::clock::now();
  EXPECT_FALSE(shared.hot(start));  // cores shared: every look yields
  mpipool::detail::allow_hot_spin(true);
  backoff own;
  EXPECT_TRUE(own.hot(start));
  EXPECT_TRUE(own.hot(start + backoff::hot_spin / 2));
  EXPECT_FALSE(own.hot(start + backoff::hot_spin));
  EXPECT_TRUE(own.spinning(start + backoff::hot_spin));  // the yielding spin goes on
  own.reset();
  EXPECT_TRUE(own.hot(start + backoff::hot_spin));  // a new wait starts hot again
  mpipool::detail::allow_hot_spin(false);
}

TEST(backoff, looks_once_more_after_every_sleep) {
  backoff waiting;
  const auto start = backoff::clock::now();
  waiting.next(start);
  const auto later = start + backoff::spin_for;
  EXPECT_EQ(waiting.next(later), backoff::first_sleep);
  EXPECT_EQ(waiting.next(later), 0us);
  EXPECT_EQ(waiting.next(later), 2 * backoff::first_sleep);
}

TEST(backoff, keeps_sleeps_short_while_the_silence_is_young) {
  backoff waiting;
  const auto start = backoff::clock::now();
  waiting.next(start);
  std::chrono::microseconds longest = 0us;
  for (int i = 0; i < 20; ++i) longest = std::max(longest, next_sleep(waiting, start + 2ms));
  EXPECT_EQ(longest, backoff::short_sleep);
}

TEST(backoff, sleeps_longer_as_the_silence_grows_up_to_its_cap) {
  backoff waiting(10ms);  // a cap of its own
  const auto start = backoff::clock::now();
  waiting.next(start);
  for (int i = 0; i < 20; ++i) next_sleep(waiting, start + 2ms);
  // The cap is now a share of the silence, 40 ms / 8: the sleeps double toward it.
  EXPECT_EQ(next_sleep(waiting, start + 40ms), 1ms);
  EXPECT_EQ(next_sleep(waiting, start + 40ms), 2ms);
  EXPECT_EQ(next_sleep(waiting, start + 40ms), 4ms);
  EXPECT_EQ(next_sleep(waiting, start + 40ms), 5ms);
  EXPECT_EQ(next_sleep(waiting, start + 1s), 5ms);
  EXPECT_EQ(next_sleep(waiting, start + 1s), 10ms);
  EXPECT_EQ(next_sleep(waiting, start + 10s), 10ms);
}

TEST(backoff, starts_over_after_a_reset) {
  backoff waiting;
  const auto start = backoff::clock::now();
  waiting.next(start);
  for (int i = 0; i < 20; ++i) next_sleep(waiting, start + 1s);
  waiting.reset();
  EXPECT_EQ(waiting.next(start + 2s), 0us);
  EXPECT_EQ(next_sleep(waiting, start + 2s + backoff::spin_for), backoff::first_sleep);
}

// The doorbell, in one process: its futex works alike on private and shared memory.
using mpipool::detail::doorbell;
using mpipool::detail::event_wait;

TEST(doorbell, a_ring_wakes_a_blocked_waiter) {
  doorbell bell;
  const std::uint32_t seen = bell.rings();
  bool rung = false;
  // An hour-long wait: only the ring can end it before the test's timeout.
  std::thread waiter([&] { rung = bell.wait(seen, std::chrono::hours(1)); });
  bell.ring();
  waiter.join();
  EXPECT_TRUE(rung);
  EXPECT_EQ(bell.rings(), seen + 1);
}

TEST(doorbell, a_ring_before_the_wait_is_not_lost) {
  doorbell bell;
  const std::uint32_t seen = bell.rings();
  bell.ring();
  EXPECT_TRUE(bell.wait(seen, std::chrono::hours(1)));
}

TEST(doorbell, a_wait_with_no_ring_ends_at_its_timeout) {
  doorbell bell;
  const std::uint32_t seen = bell.rings();
  EXPECT_FALSE(bell.wait(seen, 2ms));
  EXPECT_EQ(bell.rings(), seen);
}

TEST(doorbell, rings_from_many_threads_each_count) {
  doorbell bell;
  constexpr int ringers = 4;
  constexpr int rings_each = 1000;
  std::vector<std::thread> threads;
  for (int i = 0; i < ringers; ++i)
    threads.emplace_back([&] {
      for (int ring = 0; ring < rings_each; ++ring) bell.ring();
    });
  // The waiter keeps up with the counter as it moves, blocking between rings.
  std::uint32_t seen = bell.rings();
  while (seen != ringers * rings_each) {
    bell.wait(seen, std::chrono::hours(1));
    seen = bell.rings();
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(bell.rings(), static_cast<std::uint32_t>(ringers * rings_each));
}

// Each round the waiter says when it starts to pause, and the sender rings well after the spin
// that comes before blocking, so the ring finds the waiter blocked. A lost ring would end that
// pause only at the safety timeout: the rounds must take less than half of it each, on average.
// (On a machine too busy to block the waiter in time, the ring is caught in the spin instead,
// and the round passes either way.)
TEST(event_wait, a_pause_past_the_spin_ends_when_rung) {
  doorbell bell;
  event_wait waiting(&bell);
  constexpr int rounds = 5;
  constexpr auto well_past_the_spin = 5ms;
  std::atomic<int> happened{0};  // the last round whose event has happened
  std::atomic<int> pausing{0};   // the last round whose waiter has started to pause
  std::thread sender([&] {
    for (int round = 1; round <= rounds; ++round) {
      while (pausing.load() < round) std::this_thread::yield();
      std::this_thread::sleep_for(well_past_the_spin);  // where the ring lands, not a synchronisation
      happened.store(round);
      bell.ring();  // after the event, as a sender rings after its message
    }
  });
  const auto start = backoff::clock::now();
  for (int round = 1; round <= rounds; ++round) {
    waiting.reset();
    for (;;) {
      waiting.arm();
      if (happened.load() >= round) break;
      pausing.store(round);
      waiting.pause();
    }
  }
  const auto took = backoff::clock::now() - start;
  sender.join();
  EXPECT_LT(took, rounds * event_wait::safety_timeout / 2)
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms for " << rounds << " rounds";
}

TEST(event_wait, without_a_bell_it_polls_with_the_backoff) {
  event_wait waiting(nullptr);
  EXPECT_FALSE(waiting.has_bell());
  const auto start = backoff::clock::now();
  int pauses = 0;
  while (backoff::clock::now() - start < 2 * backoff::spin_for) {
    waiting.arm();
    waiting.pause(false);
    ++pauses;
  }
  EXPECT_GT(pauses, 1);
}
