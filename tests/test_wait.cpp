// The backoff's schedule, without MPI: the clock is passed in.
#include <chrono>

#include <gtest/gtest.h>

#include "mpipool/detail/wait.hpp"

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
  backoff waiting;
  const auto start = backoff::clock::now();
  EXPECT_EQ(waiting.next(start), 0us);
  EXPECT_TRUE(waiting.spinning(start + backoff::spin_for / 2));
  EXPECT_EQ(waiting.next(start + backoff::spin_for / 2), 0us);
  EXPECT_FALSE(waiting.spinning(start + backoff::spin_for));
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
