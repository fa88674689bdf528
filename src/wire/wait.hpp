#pragma once
// How an idle rank waits for a message without burning a core: a short spin (yielding the
// core to anyone who wants it) for back-to-back latency, then sleeps that double up to a cap.
// The cap grows with idleness: while messages come often a late one costs little, after a
// long silence a wake-up every millisecond would cost more CPU than the latency it saves.
// Shared by the master and the workers. With a doorbell (wire/doorbell.hpp), event_wait
// blocks on it where the backoff would sleep.

#include <chrono>
#include <cstdint>
#include <optional>

namespace mpipool::detail {

class backoff {
 public:
  // Long enough for a back-to-back round trip. Measured with 3 ranks on 2 cores: 200 us gave
  // the same apply round trip and map at chunksize 1 as 2 ms, at half the master's CPU in
  // waits. That is now the spin where a rank has a core of its own.
  static constexpr std::chrono::microseconds spin_for{200};
  // Where cores are shared, each look of the spin is a yield, a context switch whenever a
  // worker waits for the core, and a spin fills every gap between results: at chunks of 4096
  // items, 3 ranks on 2 cores, yields took half the progress thread's CPU. There, a message
  // due within microseconds is still seen in the spin, and a later one rings the doorbell.
  static constexpr std::chrono::microseconds shared_spin_for{20};
  // Where the rank has a core of its own (allow_hot_spin), the first moments of a wait look
  // without yielding: a message due within microseconds (the next call of a back-to-back
  // caller, a reply to a chunk just sent) is then seen as it lands, where each yield costs
  // about half a microsecond. Measured, W2 with 1 worker on 2 cores: 3.4 us against 5.0 with
  // yields only. Where cores are shared it cost as much: the rank it kept off the core was the
  // one that had the reply to send.
  static constexpr std::chrono::microseconds hot_spin{5};
  static constexpr std::chrono::microseconds first_sleep{16};
  // The cap while the silence is young.
  static constexpr std::chrono::microseconds short_sleep{1000};
  // After a silence of t, a sleep may last t / idle_share: a message that ends it is late by
  // at most that share of the time it took to come.
  static constexpr int idle_share = 8;

  // `longest_sleep`: the cap once the silence is long. A wake-up of an idle rank (two probes)
  // cost 30-60 us of CPU with 3 ranks on 2 cores: measured, a cap of 10 ms left a 3-rank idle
  // pool at 0.009-0.015 CPU-s per s, 20 ms at 0.008. The first message after a long silence
  // then comes up to 20 ms late; after a shorter one, at most a share of it.
  explicit backoff(std::chrono::microseconds longest_sleep = std::chrono::milliseconds(20))
      : longest_sleep_(longest_sleep) {}

  void reset() {
    waiting_since_.reset();
    sleep_ = first_sleep;
    slept_ = false;
  }
  using clock = std::chrono::steady_clock;
  // Still in the spin (spin_for, or shared_spin_for where cores are shared): the next pause is
  // no sleep.
  bool spinning(clock::time_point now = clock::now());
  // Still in the hot spin, and this rank may spin hot: the next pause does not even yield.
  bool hot(clock::time_point now);
  // How long to pause before polling again: zero while spinning, and for the look that
  // follows each sleep.
  std::chrono::microseconds next(clock::time_point now = clock::now());
  // Pauses for next().
  void pause();
  // The next sleep of the doubling series, as if the spin were over.
  std::chrono::microseconds sleep_without_spin(clock::time_point now);

 private:
  std::chrono::microseconds longest_sleep_;
  std::optional<clock::time_point> waiting_since_;
  std::chrono::microseconds sleep_ = first_sleep;
  // Open MPI's first probe after a pause may only pull a message in, and the second find it:
  // every sleep is followed by one more look before the next.
  bool slept_ = false;
};

class doorbell;

// How a thread that drives MPI waits for its next event: the backoff's spin, then, with a
// doorbell, a futex wait on it, and without one the backoff's sleeps. Use:
//   for (;;) { waiting.arm(); if (look_for_events()) waiting.reset(); else waiting.pause(...); }
class event_wait {
 public:
  // A blocked wait still ends after this, in case a ring was lost (a message that a probe
  // pulled in but did not yet match, whose ring came before arm()). An idle rank then wakes
  // 4 times a second, for two probes: next to nothing.
  static constexpr std::chrono::microseconds safety_timeout{250'000};
  // Looks after every ring before blocking again: Open MPI's first probe may only pull a
  // message in, and the second find it.
  static constexpr int looks_after_wake = 2;

  explicit event_wait(doorbell* bell) : bell_(bell) {}
  // Call before looking for events: a ring after this ends the next pause at once.
  void arm();
  // Found something: spin again from the start.
  void reset() { backoff_.reset(); }
  // Nothing found: pause. `every_event_rings` says that whatever this thread waits for rings
  // its bell; when false (a message from a rank without a bell, a send in progress), a
  // pause lasts no longer than the backoff's sleep, though a ring still ends it early.
  void pause(bool every_event_rings = true);
  // Nothing is due for a while: blocks on the bell without the spin (after the looks that
  // follow a ring). `every_event_rings` as for pause(): when false the block lasts
  // brief_block, or the backoff's next sleep once that is longer, up to its short_sleep (1 ms).
  // Without a bell, as pause(false).
  void block(bool every_event_rings = true);
  // What a message that moves only while this thread calls MPI may wait for it, at first.
  // Measured, 17 ranks on 2 cores at chunks of 4096 ints: the master's CPU per item 5.2 ns
  // with the backoff's 16 us, 4.8 with 100 us.
  static constexpr std::chrono::microseconds brief_block{100};
  bool has_bell() const { return bell_ != nullptr; }

 private:
  doorbell* bell_;
  backoff backoff_;
  std::uint32_t seen_ = 0;
  int looks_left_ = 0;
};

// Whether waits in this process may spin hot (backoff::hot_spin): set once the pool knows
// whether its node's cores are shared (wire/core_sharing.hpp). Off until then.
void allow_hot_spin(bool allowed);

// Tells the core that this thread spins (x86 `pause`, Arm `yield`): cheaper for a sibling
// hyperthread, and no syscall.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Makes short sleeps short: Linux's default timer slack adds 50 us to every sleep.
void use_fine_timer_slack();

}  // namespace mpipool::detail
