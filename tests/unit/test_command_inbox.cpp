// The command inbox between callers' threads and the pool's loop, without MPI: what callers
// queue comes out in order, close and terminate are taken and answered, a caller may drive only
// an otherwise idle pool, and every wait of either side ends once the other has acted.
#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "master/command_inbox.hpp"

using mpipool::detail::byte_buffer;
using mpipool::detail::command_inbox;
using mpipool::detail::doorbell;
using mpipool::detail::item_range;
using mpipool::detail::pool_state;

namespace {

// A job that is never run: the inbox only carries it.
class idle_job final : public mpipool::detail::job {
 public:
  idle_job() : job({}) {}
  progress_report progress() const override { return {}; }
  bool exhausted() const override { return true; }
  bool has_chunks(bool) override { return false; }
  item_range next_chunk(byte_buffer&) override { return {}; }
  std::size_t chunks_left(std::size_t) const override { return 0; }
  void accept(item_range, std::span<const char>, const mpipool::detail::worker_identity&) override {}
  bool finished() const override { return true; }
  void publish() override {}
  void abandon(const std::exception_ptr&, bool) override {}
};

std::unique_ptr<mpipool::detail::job> a_job() { return std::make_unique<idle_job>(); }

// The loop's side: takes commands until `until` holds, yielding between looks.
template <class Until>
std::vector<command_inbox::commands> take_until(command_inbox& inbox, Until until) {
  std::vector<command_inbox::commands> taken;
  while (!until()) {
    if (auto commands = inbox.take()) taken.push_back(std::move(*commands));
    else std::this_thread::yield();
  }
  return taken;
}

}  // namespace

TEST(command_inbox, calls_come_out_in_order_and_each_rings_the_bell) {
  doorbell bell;
  command_inbox inbox(bell);
  EXPECT_FALSE(inbox.has_command());
  EXPECT_FALSE(inbox.take().has_value());
  const std::uint32_t rings = bell.rings();
  const std::uint64_t first = inbox.submit(a_job());
  const std::uint64_t second = inbox.submit(a_job());
  EXPECT_LT(first, second);
  EXPECT_EQ(bell.rings(), rings + 2);
  EXPECT_TRUE(inbox.has_command());
  auto taken = inbox.take();
  ASSERT_TRUE(taken.has_value());
  ASSERT_EQ(taken->arrived.size(), 2u);
  EXPECT_EQ(taken->arrived[0].first, first);
  EXPECT_EQ(taken->arrived[1].first, second);
  EXPECT_FALSE(taken->closing);
  EXPECT_FALSE(inbox.has_command());
}

TEST(command_inbox, close_is_taken_once_and_refuses_later_calls) {
  doorbell bell;
  command_inbox inbox(bell);
  inbox.close();
  EXPECT_EQ(inbox.state(), pool_state::closing);
  EXPECT_THROW(inbox.submit(a_job()), std::logic_error);
  auto taken = inbox.take();
  ASSERT_TRUE(taken.has_value());
  EXPECT_TRUE(taken->closing);
  EXPECT_EQ(taken->asked, pool_state::closing);
  EXPECT_FALSE(inbox.has_command());  // acted on: no command any more
}

TEST(command_inbox, terminate_returns_once_the_loop_says_it_terminated) {
  doorbell bell;
  command_inbox inbox(bell);
  std::atomic<bool> returned{false};
  std::thread caller([&] {
    inbox.terminate();
    returned = true;
  });
  const auto taken = take_until(inbox, [&] { return inbox.state() == pool_state::terminating; });
  EXPECT_FALSE(returned.load());  // it waits for the loop to act
  inbox.terminated();
  caller.join();
  EXPECT_TRUE(returned.load());
}

TEST(command_inbox, cancel_returns_once_the_loop_handled_it) {
  doorbell bell;
  command_inbox inbox(bell);
  std::atomic<bool> returned{false};
  std::thread caller([&] {
    inbox.cancel(42);
    returned = true;
  });
  std::vector<std::uint64_t> cancelled;
  while (cancelled.empty()) {
    if (auto taken = inbox.take()) cancelled = taken->cancelled;
    else std::this_thread::yield();
  }
  EXPECT_EQ(cancelled, std::vector<std::uint64_t>{42});
  EXPECT_FALSE(returned.load());
  inbox.cancels_handled(cancelled.size());
  caller.join();
  EXPECT_TRUE(returned.load());
}

TEST(command_inbox, a_caller_drives_only_an_idle_pool_and_keeps_its_call) {
  doorbell bell;
  command_inbox inbox(bell);
  auto mine = a_job();
  const auto [id, drives] = inbox.submit_or_drive(mine, [] { return true; });
  EXPECT_TRUE(drives);
  EXPECT_NE(mine, nullptr);          // the caller puts it into the tables itself
  EXPECT_FALSE(inbox.has_command());  // nothing queued for the progress thread
  inbox.end_drive(true);

  // Another caller's call waits in the inbox: the next caller's goes there too.
  inbox.submit(a_job());
  auto queued = a_job();
  const auto [queued_id, queued_drives] = inbox.submit_or_drive(queued, [] { return true; });
  EXPECT_FALSE(queued_drives);
  EXPECT_EQ(queued, nullptr);
  auto taken = inbox.take();
  ASSERT_TRUE(taken.has_value());
  ASSERT_EQ(taken->arrived.size(), 2u);
  EXPECT_EQ(taken->arrived[1].first, queued_id);
  EXPECT_GT(queued_id, id);

  // The loop's tables are not empty: no drive either.
  auto refused = a_job();
  EXPECT_FALSE(inbox.submit_or_drive(refused, [] { return false; }).second);
}

TEST(command_inbox, the_progress_thread_sleeps_through_the_lease_unless_a_command_comes) {
  doorbell bell;
  command_inbox inbox(bell);
  EXPECT_FALSE(inbox.sleep_while_caller_drives());  // no caller drove: no sleep
  inbox.end_drive(true);
  EXPECT_TRUE(inbox.sleep_while_caller_drives());  // slept until the lease ended
  EXPECT_FALSE(inbox.sleep_while_caller_drives());
  inbox.end_drive(true);
  inbox.poke();  // a command: the lease does not hold it back
  EXPECT_FALSE(inbox.sleep_while_caller_drives());
  inbox.end_drive(false);  // the caller left its call unfinished: the loop takes over at once
  ASSERT_TRUE(inbox.take().has_value());
  EXPECT_FALSE(inbox.sleep_while_caller_drives());
}

TEST(command_inbox, an_mpi_section_returns_once_the_loop_parked_and_releases_it) {
  doorbell bell;
  command_inbox inbox(bell);
  std::atomic<bool> inside{false};
  std::thread caller([&] {
    EXPECT_TRUE(inbox.enter_mpi_section());
    inside = true;
    inbox.leave_mpi_section();
  });
  while (!inbox.has_command()) std::this_thread::yield();  // the section asks
  inbox.step_aside_while_asked();                         // parks until it has ended
  caller.join();
  EXPECT_TRUE(inside.load());
  EXPECT_FALSE(inbox.has_command());
}

TEST(command_inbox, after_stop_no_call_is_taken_and_late_ones_come_back) {
  doorbell bell;
  command_inbox inbox(bell);
  const std::uint64_t late = inbox.submit(a_job());
  inbox.mark_body_ended();
  auto [left, body_ended] = inbox.stop();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].first, late);
  EXPECT_TRUE(body_ended);
  EXPECT_EQ(inbox.state(), pool_state::stopped);
  EXPECT_THROW(inbox.submit(a_job()), std::logic_error);
  EXPECT_FALSE(inbox.enter_mpi_section());  // nothing to park any more
  inbox.cancel(7);                          // returns: no one would handle it
}
