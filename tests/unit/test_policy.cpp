// The dispatch policy and the pool's lifecycle, without MPI: which job gives the next chunk,
// which worker gets it, and when a second chunk goes to a busy worker.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include <gtest/gtest.h>

#include "master/lifecycle.hpp"
#include "master/policy.hpp"
#include "mpipool/detail/scheduler.hpp"
#include "master/worker_slot.hpp"

using mpipool::detail::chunk_plan;
using mpipool::detail::dispatch_policy;
using mpipool::detail::job_readiness;
using mpipool::detail::lifecycle;
using mpipool::detail::pool_state;
using mpipool::detail::worker_slot;

namespace {

constexpr double short_chunk = 20e-6;
constexpr double long_chunk = 50e-3;

// A policy for `workers` worker ranks (1..workers) that have all finished their set-up.
dispatch_policy ready_policy(std::size_t workers, std::size_t depth) {
  dispatch_policy policy(workers + 1, depth);
  for (std::size_t rank = 1; rank <= workers; ++rank) {
    policy.chunk_sent(static_cast<int>(rank));
    policy.chunk_returned(static_cast<int>(rank));
  }
  return policy;
}

}  // namespace

TEST(dispatch_policy, serves_the_oldest_ready_job_and_drops_exhausted_ones) {
  dispatch_policy policy = ready_policy(2, 1);
  policy.add_job(1, false);
  policy.add_job(2, false);
  policy.add_job(3, false);
  std::map<std::uint64_t, job_readiness> state{
      {1, job_readiness::exhausted}, {2, job_readiness::waiting}, {3, job_readiness::ready}};
  auto ask = [&](std::uint64_t id) { return state.at(id); };
  EXPECT_EQ(policy.next_job(ask), std::optional<std::uint64_t>(3));
  EXPECT_EQ(policy.queued_jobs(), 2u);  // job 1 left the queue
  state[2] = job_readiness::ready;
  EXPECT_EQ(policy.next_job(ask), std::optional<std::uint64_t>(2));
  policy.chunk_taken(2);  // not a stream: keeps its place
  EXPECT_EQ(policy.next_job(ask), std::optional<std::uint64_t>(2));
  state[2] = job_readiness::exhausted;
  state[3] = job_readiness::exhausted;
  EXPECT_EQ(policy.next_job(ask), std::nullopt);
  EXPECT_EQ(policy.queued_jobs(), 0u);
}

TEST(dispatch_policy, lets_streams_take_turns_with_later_jobs) {
  dispatch_policy policy = ready_policy(1, 1);
  policy.add_job(1, true);
  policy.add_job(2, true);
  policy.add_job(3, false);
  auto ready = [](std::uint64_t) { return job_readiness::ready; };
  std::vector<std::uint64_t> order;
  for (int i = 0; i < 5; ++i) {
    const std::uint64_t id = *policy.next_job(ready);
    order.push_back(id);
    policy.chunk_taken(id);
  }
  EXPECT_EQ(order, (std::vector<std::uint64_t>{1, 2, 3, 3, 3}));
  policy.remove_job(3);
  EXPECT_EQ(policy.next_job(ready), std::optional<std::uint64_t>(1));
}

TEST(dispatch_policy, gives_work_to_the_most_recently_idle_worker) {
  dispatch_policy policy = ready_policy(3, 1);
  policy.add_job(1, false);
  EXPECT_EQ(policy.worker_for(1, 100), std::optional<int>(3));
  policy.chunk_sent(3);
  policy.chunk_sent(2);
  policy.chunk_sent(1);
  EXPECT_EQ(policy.total_in_flight(), 3u);
  EXPECT_FALSE(policy.any_worker_free());
  EXPECT_EQ(policy.worker_for(1, 100), std::nullopt);
  policy.chunk_returned(2);
  policy.chunk_returned(1);
  EXPECT_EQ(policy.worker_for(1, 100), std::optional<int>(1));
  EXPECT_EQ(policy.in_flight(2), 0u);
  EXPECT_EQ(policy.in_flight(3), 1u);
}

TEST(dispatch_policy, without_prefetch_a_busy_worker_never_gets_a_second_chunk) {
  dispatch_policy policy = ready_policy(1, 1);
  policy.add_job(1, false);
  policy.record_chunk_time(1, short_chunk);
  policy.chunk_sent(1);
  EXPECT_FALSE(policy.any_worker_free());
  EXPECT_EQ(policy.worker_for(1, 1000), std::nullopt);
}

TEST(dispatch_policy, prefetches_short_chunks_of_a_long_job_up_to_the_depth) {
  dispatch_policy policy = ready_policy(2, dispatch_policy::prefetch_depth);
  policy.add_job(1, false);
  policy.chunk_sent(2);
  policy.chunk_sent(1);
  // Nothing is known of the job's chunks yet: the busy workers wait for their results.
  EXPECT_TRUE(policy.any_worker_free());
  EXPECT_EQ(policy.worker_for(1, 1000), std::nullopt);
  policy.record_chunk_time(1, short_chunk);
  // The worker that started its chunk last gets the second chunk.
  EXPECT_EQ(policy.worker_for(1, 1000), std::optional<int>(1));
  policy.chunk_sent(1);
  EXPECT_EQ(policy.worker_for(1, 1000), std::optional<int>(2));
  policy.chunk_sent(2);
  EXPECT_EQ(policy.in_flight(1), 2u);
  EXPECT_FALSE(policy.any_worker_free());  // both at the depth
  policy.end_round();
  policy.chunk_returned(2);  // its queued chunk starts now: room for the next one
  EXPECT_EQ(policy.worker_for(1, 1000), std::optional<int>(2));
  policy.chunk_returned(2);  // idle again: an idle worker comes first
  policy.chunk_returned(1);
  EXPECT_EQ(policy.worker_for(1, 1000), std::optional<int>(2));
}

TEST(dispatch_policy, commits_no_chunk_behind_one_that_has_run_since_an_earlier_round) {
  dispatch_policy policy = ready_policy(2, dispatch_policy::prefetch_depth);
  policy.add_job(1, false);
  policy.chunk_sent(1);  // worker 1 may be on a long task from here on
  policy.end_round();
  policy.record_chunk_time(1, short_chunk);
  policy.chunk_sent(2);
  EXPECT_EQ(policy.worker_for(1, 1000), std::optional<int>(2));
  policy.chunk_sent(2);
  EXPECT_FALSE(policy.any_worker_free());
  EXPECT_EQ(policy.worker_for(1, 1000), std::nullopt);
  policy.end_round();
  policy.chunk_returned(2);
  EXPECT_EQ(policy.worker_for(1, 1000), std::optional<int>(2));  // never worker 1
}

// Chunks that run for microseconds go a bundle to a message, and a worker may hold two
// bundles; as soon as they run longer, one chunk a message and the prefetch depth again.
TEST(dispatch_policy, bundles_chunks_that_run_for_microseconds) {
  constexpr std::size_t bundle = dispatch_policy::chunks_per_bundle;
  dispatch_policy policy = ready_policy(2, dispatch_policy::prefetch_depth);
  policy.add_job(1, false);
  EXPECT_EQ(policy.chunks_per_message(1, 1), 1u);  // nothing known of its chunks yet
  policy.record_chunk_time(1, short_chunk);
  policy.record_run_time(1, 1e-6);
  EXPECT_TRUE(policy.bundles_pay(1));
  EXPECT_EQ(policy.worker_for(1, 1000), std::optional<int>(2));  // an idle worker first
  EXPECT_EQ(policy.chunks_per_message(1, 2), bundle);
  for (std::size_t i = 0; i < bundle; ++i) policy.chunk_sent(2, 1);
  EXPECT_EQ(policy.worker_for(1, 1000), std::optional<int>(1));
  for (std::size_t i = 0; i < bundle; ++i) policy.chunk_sent(1, 1);
  // Both hold a bundle and started it this round: a second one each.
  EXPECT_EQ(policy.worker_for(1, 1000), std::optional<int>(1));
  EXPECT_EQ(policy.chunks_per_message(1, 1), bundle);
  for (std::size_t i = 0; i < bundle; ++i) policy.chunk_sent(1, 1);
  EXPECT_EQ(policy.in_flight(1), 2 * bundle);
  EXPECT_EQ(policy.worker_for(1, 1000), std::optional<int>(2));
  for (std::size_t i = 0; i < bundle - 3; ++i) policy.chunk_sent(2, 1);
  EXPECT_EQ(policy.chunks_per_message(1, 2), 3u);  // only the room left
  for (std::size_t i = 0; i < 3; ++i) policy.chunk_sent(2, 1);
  EXPECT_FALSE(policy.any_worker_free());
  EXPECT_EQ(policy.worker_for(1, 1000), std::nullopt);

  // Tasks that run longer: no bundle, and no more than the prefetch depth in flight.
  for (int i = 0; i < 20; ++i) policy.record_run_time(1, 1e-3);
  EXPECT_FALSE(policy.bundles_pay(1));
  policy.add_job(2, false);
  policy.record_chunk_time(2, short_chunk);
  policy.record_run_time(2, 1e-3);
  EXPECT_EQ(policy.chunks_per_message(2, 1), 1u);
  policy.end_round();
  for (std::size_t i = 0; i < 2 * bundle - 1; ++i) policy.chunk_returned(1);
  EXPECT_EQ(policy.worker_for(2, 1000), std::optional<int>(1));
  policy.chunk_sent(1, 2);
  EXPECT_EQ(policy.worker_for(2, 1000), std::nullopt);  // two in flight: the depth
}

// A bundle stays under Open MPI's 4 KiB eager limit where half a bundle's chunks still fit;
// larger chunks go a whole bundle to a message, one handshake for all of them.
TEST(dispatch_policy, bundles_stay_under_the_eager_limit_where_half_a_bundle_fits) {
  constexpr std::size_t bundle = dispatch_policy::chunks_per_bundle;
  constexpr std::size_t limit = dispatch_policy::bundle_bytes_most;
  dispatch_policy policy = ready_policy(2, dispatch_policy::prefetch_depth);
  policy.add_job(1, false);
  policy.record_chunk_time(1, short_chunk);
  policy.record_run_time(1, 1e-6);
  policy.record_chunk_bytes(1, 40);  // 16 of them fit
  EXPECT_EQ(policy.chunks_per_message(1, 1), bundle);
  policy.record_chunk_bytes(1, limit / 12);  // chunks of 64 ints: 12 fit
  EXPECT_EQ(policy.chunks_per_message(1, 1), 12u);
  policy.record_chunk_bytes(1, limit / (bundle / 2));  // exactly half a bundle
  EXPECT_EQ(policy.chunks_per_message(1, 1), bundle / 2);
  policy.record_chunk_bytes(1, limit / (bundle / 2) + 1);  // under half: a whole bundle over the limit
  EXPECT_EQ(policy.chunks_per_message(1, 1), bundle);
  policy.record_chunk_bytes(1, 4 * limit);  // chunks of 1024 ints and more: likewise
  EXPECT_EQ(policy.chunks_per_message(1, 1), bundle);
}

// A pool whose one worker runs one chunk at a time (a one-rank pool) never bundles.
TEST(dispatch_policy, without_prefetch_no_bundles) {
  dispatch_policy policy = ready_policy(1, 1);
  policy.add_job(1, false);
  policy.record_chunk_time(1, short_chunk);
  policy.record_run_time(1, 1e-6);
  EXPECT_FALSE(policy.bundles_pay(1));
  EXPECT_EQ(policy.chunks_per_message(1, 1), 1u);
}

TEST(dispatch_policy, does_not_prefetch_long_chunks) {
  dispatch_policy policy = ready_policy(2, dispatch_policy::prefetch_depth);
  policy.add_job(1, false);
  policy.chunk_sent(2);
  policy.chunk_sent(1);
  policy.record_chunk_time(1, long_chunk);
  EXPECT_EQ(policy.worker_for(1, 1000), std::nullopt);
  // Chunks that turn short make it pay again.
  for (int i = 0; i < 20; ++i) policy.record_chunk_time(1, short_chunk);
  EXPECT_EQ(policy.worker_for(1, 1000), std::optional<int>(1));
}

// Where ranks share cores a round trip waits for a descheduled thread: chunks of a few
// milliseconds are prefetched too, not those of 50 ms.
TEST(dispatch_policy, prefetches_longer_chunks_where_cores_are_shared) {
  constexpr double few_ms = 3e-3;
  for (const bool shared : {false, true}) {
    dispatch_policy policy = ready_policy(2, dispatch_policy::prefetch_depth);
    policy.set_cores_shared(shared);
    policy.add_job(1, false);
    policy.chunk_sent(1);
    policy.chunk_sent(2);
    policy.record_chunk_time(1, few_ms);
    if (shared) EXPECT_TRUE(policy.worker_for(1, 1000).has_value());
    else EXPECT_EQ(policy.worker_for(1, 1000), std::nullopt);
    for (int i = 0; i < 20; ++i) policy.record_chunk_time(1, long_chunk);
    EXPECT_EQ(policy.worker_for(1, 1000), std::nullopt);
  }
}

// Where cores are shared a worker holds up to prefetch_depth_on_shared_cores chunks, since
// the master answers its results late; a pool without prefetch stays at one.
TEST(dispatch_policy, holds_more_chunks_ahead_where_cores_are_shared) {
  for (const bool shared : {false, true}) {
    dispatch_policy policy = ready_policy(1, dispatch_policy::prefetch_depth);
    policy.set_cores_shared(shared);
    policy.add_job(1, false);
    policy.record_chunk_time(1, short_chunk);
    std::size_t sent = 0;
    while (policy.worker_for(1, 1000) == std::optional<int>(1) && sent < 100) {
      policy.chunk_sent(1, 1);
      ++sent;
    }
    EXPECT_EQ(sent, shared ? dispatch_policy::prefetch_depth_on_shared_cores : dispatch_policy::prefetch_depth);
  }
  dispatch_policy alone = ready_policy(1, 1);
  alone.set_cores_shared(true);
  alone.add_job(1, false);
  alone.record_chunk_time(1, short_chunk);
  alone.chunk_sent(1, 1);
  EXPECT_EQ(alone.worker_for(1, 1000), std::nullopt);
}

TEST(dispatch_policy, stops_prefetching_near_the_end_of_a_job) {
  EXPECT_TRUE(dispatch_policy::prefetch_pays(1000, 2, short_chunk));
  EXPECT_TRUE(dispatch_policy::prefetch_pays(5, 2, short_chunk));
  // The last chunks go to whichever worker frees first.
  EXPECT_FALSE(dispatch_policy::prefetch_pays(4, 2, short_chunk));
  EXPECT_FALSE(dispatch_policy::prefetch_pays(1, 2, short_chunk));
  EXPECT_FALSE(dispatch_policy::prefetch_pays(1000, 2, std::nullopt));
  EXPECT_FALSE(dispatch_policy::prefetch_pays(1000, 2, long_chunk));
  dispatch_policy policy = ready_policy(2, dispatch_policy::prefetch_depth);
  EXPECT_EQ(policy.chunks_worth_knowing(), 5u);
}

TEST(dispatch_policy, does_not_prefetch_the_tail_of_an_adaptive_plan) {
  // 2000 items on 2 workers, as W4: chunks shrink to single items, and the last ones are not
  // committed ahead.
  chunk_plan plan = chunk_plan::adaptive(2000, 2);
  std::vector<bool> prefetched;
  while (!plan.exhausted()) {
    prefetched.push_back(dispatch_policy::prefetch_pays(plan.chunks_left(5), 2, short_chunk));
    plan.take();
  }
  ASSERT_GT(prefetched.size(), 4u);
  EXPECT_TRUE(prefetched.front());
  EXPECT_EQ(std::vector<bool>(prefetched.end() - 4, prefetched.end()), std::vector<bool>(4, false));
}

TEST(dispatch_policy, forgets_the_timings_of_a_removed_job) {
  dispatch_policy policy = ready_policy(1, dispatch_policy::prefetch_depth);
  policy.add_job(1, false);
  policy.record_chunk_time(1, short_chunk);
  EXPECT_EQ(policy.typical_chunk_seconds(1), std::optional<double>(short_chunk));
  policy.remove_job(1);
  policy.record_chunk_time(1, short_chunk);  // results of a dropped job: ignored
  EXPECT_EQ(policy.typical_chunk_seconds(1), std::nullopt);
}

TEST(chunk_plan, counts_the_chunks_left_up_to_a_cap) {
  chunk_plan fixed(100, 30);
  EXPECT_EQ(fixed.chunks_left(10), 4u);
  EXPECT_EQ(fixed.chunks_left(2), 2u);
  fixed.take();
  EXPECT_EQ(fixed.chunks_left(10), 3u);
  chunk_plan adaptive = chunk_plan::adaptive(2000, 2);
  EXPECT_EQ(adaptive.chunks_left(1000), adaptive.chunk_count());
  EXPECT_EQ(adaptive.chunks_left(3), 3u);
}

TEST(worker_slot, returns_chunks_in_the_order_they_went_and_times_them) {
  using clock = worker_slot::clock;
  worker_slot worker;
  const clock::time_point t0 = clock::now();
  worker.sent(7, t0);
  worker.sent(8, t0);
  EXPECT_TRUE(worker.has_chunk_of(8));
  EXPECT_EQ(worker.jobs_in_flight(), (std::vector<std::uint64_t>{7, 8}));
  const auto first = worker.returned(t0 + std::chrono::milliseconds(3), 7, 0);
  EXPECT_EQ(first.job, 7u);
  EXPECT_DOUBLE_EQ(first.seconds, 3e-3);
  // The second waited behind the first: its time runs from the first's results.
  const auto second = worker.returned(t0 + std::chrono::milliseconds(4), 8, 0);
  EXPECT_EQ(second.job, 8u);
  EXPECT_DOUBLE_EQ(second.seconds, 1e-3);
  EXPECT_TRUE(worker.idle());
  EXPECT_THROW(worker.returned(t0, 7, 0), std::logic_error);
}

TEST(worker_slot, matches_results_to_their_chunk_by_job_and_first_item) {
  // A stocking sub-master's workers finish its chunks in any order.
  using clock = worker_slot::clock;
  worker_slot sub_master;
  const clock::time_point t0 = clock::now();
  sub_master.sent(7, t0, 100, 10, true, 0);
  sub_master.sent(7, t0, 100, 10, false, 10);
  sub_master.sent(8, t0, 100, 5, false, 0);
  EXPECT_EQ(sub_master.returned(t0, 8, 0).items, 5u);
  EXPECT_EQ(sub_master.returned(t0, 7, 10).job, 7u);
  EXPECT_EQ(sub_master.jobs_in_flight(), (std::vector<std::uint64_t>{7}));
  // A header that names no chunk in flight (one that could not be read): the oldest.
  EXPECT_EQ(sub_master.returned(t0, 99, 3).items, 10u);
  EXPECT_TRUE(sub_master.idle());
}

TEST(worker_slot, a_node_chunk_is_closed_by_the_results_of_any_of_its_items) {
  // A stocking sub-master cuts a node-chunk into pieces, whose results come back in parts; the
  // last part closes it.
  using clock = worker_slot::clock;
  worker_slot sub_master;
  const clock::time_point t0 = clock::now();
  sub_master.sent(7, t0, 100, 12, true, 100, 4);  // items 100..111, four pieces
  sub_master.sent(7, t0, 100, 3, false, 112, 1);  // an ordinary chunk after it
  sub_master.part_returned(7, 103, 2);            // two pieces, from item 103
  EXPECT_THROW(sub_master.part_returned(7, 100, 2), std::runtime_error);  // the last must close it
  const auto done = sub_master.returned(t0, 7, 109, true);
  EXPECT_EQ(done.items, 12u);
  EXPECT_EQ(done.pieces_out, 2u);  // the two still out
  // Past its end is the next chunk's; nothing holds item 99.
  EXPECT_THROW(sub_master.returned(t0, 7, 99, true), std::runtime_error);
  EXPECT_EQ(sub_master.returned(t0, 7, 112, true).pieces_out, 1u);
  EXPECT_TRUE(sub_master.idle());
}

TEST(worker_slot, counts_its_messages_in_flight_a_bundle_as_one) {
  worker_slot worker;
  const worker_slot::clock::time_point t0 = worker_slot::clock::now();
  EXPECT_EQ(worker.messages_in_flight(), 0u);
  // A bundle of three chunks in one message.
  worker.sent(7, t0, 100, 10, true);
  worker.sent(7, t0, 100, 10, false);
  worker.sent(7, t0, 100, 10, false);
  EXPECT_EQ(worker.messages_in_flight(), 1u);
  // A second message queued behind it.
  worker.sent(7, t0, 100, 10, true);
  EXPECT_EQ(worker.messages_in_flight(), 2u);
  // The bundle's results come back, a chunk at a time.
  for (int chunk = 0; chunk < 3; ++chunk) worker.returned(t0, 7, 0);
  EXPECT_EQ(worker.messages_in_flight(), 1u);
  worker.returned(t0, 7, 0);
  EXPECT_EQ(worker.messages_in_flight(), 0u);
  // A chunk sent to an idle worker starts a message, whatever the caller says.
  worker.sent(8, t0, 100, 10, false);
  EXPECT_EQ(worker.messages_in_flight(), 1u);
}

TEST(worker_slot, tells_whether_the_chunks_queued_behind_its_running_message_hold_enough_work) {
  worker_slot worker;
  const worker_slot::clock::time_point t0 = worker_slot::clock::now();
  const auto typical = [](std::uint64_t job) -> std::optional<double> {
    if (job == 9) return std::nullopt;  // no chunk of it has come back yet
    return job == 7 ? 1e-6 : 10e-6;
  };
  EXPECT_FALSE(worker.queued_at_least(0.0, typical));  // nothing in flight
  worker.sent(7, t0, 100, 10, true);  // running: not counted
  worker.sent(7, t0, 100, 10, false);
  EXPECT_FALSE(worker.queued_at_least(1e-9, typical));
  worker.sent(7, t0, 100, 10, true);  // a bundle of job 7 and one chunk of job 8 queued: 12 us
  worker.sent(7, t0, 100, 10, false);
  worker.sent(8, t0, 100, 10, true);
  EXPECT_TRUE(worker.queued_at_least(12e-6, typical));
  EXPECT_FALSE(worker.queued_at_least(13e-6, typical));
  // A chunk of a job with no typical time yet: not known, so not enough.
  worker.sent(9, t0, 100, 10, true);
  EXPECT_FALSE(worker.queued_at_least(13e-6, typical));
  // The running message's results came back: the rest is queued behind the bundle of job 7.
  worker.returned(t0, 7, 0);
  worker.returned(t0, 7, 0);
  EXPECT_TRUE(worker.queued_at_least(10e-6, typical));
}

namespace {

// What split_items_in_flight hands out, by job.
std::map<std::uint64_t, std::uint64_t> items_in_flight(const worker_slot& worker, std::uint64_t finished) {
  std::map<std::uint64_t, std::uint64_t> by_job;
  worker.split_items_in_flight(finished, [&](std::uint64_t job, std::uint64_t items) { by_job[job] += items; });
  return by_job;
}

}  // namespace

TEST(worker_slot, splits_the_items_a_worker_finished_among_its_chunks_in_flight_in_order) {
  using by_job = std::map<std::uint64_t, std::uint64_t>;
  worker_slot worker;
  const worker_slot::clock::time_point t0 = worker_slot::clock::now();
  worker.sent(7, t0, 100, 10);
  worker.sent(8, t0, 100, 10);
  EXPECT_EQ(items_in_flight(worker, 0), by_job{});
  EXPECT_EQ(items_in_flight(worker, 4), (by_job{{7, 4}}));
  // The first chunk is done, its results not yet here: the rest is the second's.
  EXPECT_EQ(items_in_flight(worker, 13), (by_job{{7, 10}, {8, 3}}));
  // More than the chunks hold (a count from a chunk whose results were lost): each at most its size.
  EXPECT_EQ(items_in_flight(worker, 25), (by_job{{7, 10}, {8, 10}}));
  EXPECT_EQ(worker.returned(t0, 7, 0).items, 10u);  // as it was sent
  worker.items_returned(10);
  EXPECT_EQ(items_in_flight(worker, 13), (by_job{{8, 3}}));
  // A count read before the worker's latest store reached this core: nothing, not less.
  EXPECT_EQ(items_in_flight(worker, 6), by_job{});
}

TEST(lifecycle, only_moves_forward) {
  lifecycle state;
  EXPECT_TRUE(state.running());
  EXPECT_TRUE(state.advance_to(pool_state::closing));
  EXPECT_FALSE(state.advance_to(pool_state::closing));
  EXPECT_TRUE(state.advance_to(pool_state::terminating));
  EXPECT_FALSE(state.advance_to(pool_state::closing));
  EXPECT_EQ(state.state(), pool_state::terminating);
  EXPECT_TRUE(state.advance_to(pool_state::stopped));
  EXPECT_TRUE(state.stopped());
  lifecycle skipped;
  EXPECT_TRUE(skipped.advance_to(pool_state::terminating));  // terminate without close
  EXPECT_FALSE(skipped.running());
}

// Parallel tasks: a job whose chunks need a group of several workers.

TEST(dispatch_policy, the_widest_job_that_fits_goes_first_and_narrow_ones_backfill) {
  dispatch_policy policy = ready_policy(4, 1);
  policy.add_job(1, false);     // narrow, oldest
  policy.add_job(2, false, 3);  // wide
  policy.add_job(3, false, 2);
  auto ready = [](std::uint64_t) { return job_readiness::ready; };
  // Four idle workers: the widest job goes first, on three of them.
  ASSERT_EQ(policy.next_job(ready), std::optional<std::uint64_t>(2));
  const std::vector<int> group = policy.group_for(2);
  EXPECT_EQ(group, (std::vector<int>{2, 3, 4}));  // the most recently idle, in rank order
  policy.chunk_taken(2);
  for (int rank : group) policy.chunk_sent(rank);
  policy.group_chunk_sent(group);
  // One idle worker: too few for either wide job, so the narrow one backfills it.
  EXPECT_EQ(policy.next_job(ready), std::optional<std::uint64_t>(1));
  EXPECT_EQ(policy.worker_for(1, 10), std::optional<int>(1));
  policy.chunk_taken(1);
  policy.chunk_sent(1);
  // No member of the group takes a prefetched chunk behind it.
  EXPECT_EQ(policy.worker_for(1, 1000), std::nullopt);
}

TEST(dispatch_policy, a_wide_job_passed_over_too_often_reserves_the_idle_workers) {
  constexpr std::size_t workers = 3;
  dispatch_policy policy = ready_policy(workers, 1);
  policy.add_job(1, false, 3);  // needs every worker
  policy.add_job(2, false);
  auto ready = [](std::uint64_t) { return job_readiness::ready; };
  policy.chunk_sent(1);  // one worker busy: the wide job cannot start
  const std::size_t limit = dispatch_policy::passes_per_worker_before_reservation * workers;
  for (std::size_t pass = 0; pass < limit; ++pass) {
    ASSERT_EQ(policy.next_job(ready), std::optional<std::uint64_t>(2)) << pass;
    policy.chunk_taken(2);  // a narrow chunk starts and returns at once
    policy.chunk_sent(2);
    policy.chunk_returned(2);
  }
  // Passed over often enough: the idle workers are kept for it...
  EXPECT_EQ(policy.next_job(ready), std::nullopt);
  // ...and it starts as soon as its group is free.
  policy.chunk_returned(1);
  EXPECT_EQ(policy.next_job(ready), std::optional<std::uint64_t>(1));
  EXPECT_EQ(policy.group_for(1), (std::vector<int>{1, 2, 3}));
}

TEST(dispatch_policy, fifo_grouping_holds_everything_behind_a_waiting_wide_job) {
  dispatch_policy policy = ready_policy(3, 1);
  policy.set_fifo_grouping(true);
  policy.add_job(1, false, 3);
  policy.add_job(2, false);
  policy.chunk_sent(1);
  EXPECT_EQ(policy.next_job([](std::uint64_t) { return job_readiness::ready; }), std::nullopt);
}

TEST(dispatch_policy, a_group_prefers_one_node_and_spans_nodes_only_when_it_must) {
  dispatch_policy policy = ready_policy(6, 1);
  // Node 1: ranks 1-3; node 4: ranks 4-6.
  for (int rank = 1; rank <= 6; ++rank) policy.set_node(rank, rank <= 3 ? 1 : 4);
  policy.add_job(1, false, 2);
  policy.add_job(2, false, 4);
  policy.chunk_sent(4);  // node 4 has two idle, node 1 three: best fit for two is node 4
  EXPECT_EQ(policy.group_for(1), (std::vector<int>{5, 6}));
  // Four fit on no node: the group takes the fullest node first, then the next.
  policy.chunk_returned(4);
  policy.chunk_sent(1);
  const std::vector<int> spanning = policy.group_for(2);
  ASSERT_EQ(spanning.size(), 4u);
  EXPECT_EQ(std::count_if(spanning.begin(), spanning.end(), [](int rank) { return rank >= 4; }), 3);
  // More than are idle: no group at all.
  policy.chunk_sent(2);
  policy.chunk_sent(3);
  policy.chunk_sent(4);
  EXPECT_TRUE(policy.group_for(2).empty());
}

TEST(dispatch_policy, a_groups_members_come_back_as_one) {
  dispatch_policy policy = ready_policy(4, 1);
  policy.add_job(1, false, 4);
  policy.add_job(2, false);
  auto ready = [](std::uint64_t) { return job_readiness::ready; };
  ASSERT_EQ(policy.next_job(ready), std::optional<std::uint64_t>(1));
  const std::vector<int> group = policy.group_for(1);
  ASSERT_EQ(group, (std::vector<int>{1, 2, 3, 4}));
  policy.chunk_taken(1);
  for (int rank : group) policy.chunk_sent(rank);
  policy.group_chunk_sent(group);
  // Three members are done: none of them is idle yet, so the narrow job does not take one.
  for (int rank : {3, 1, 4}) policy.chunk_returned(rank);
  EXPECT_FALSE(policy.any_worker_free());
  EXPECT_EQ(policy.worker_for(2, 10), std::nullopt);
  // The last one is back: the whole group is idle at once, and could run a wide task again.
  policy.chunk_returned(2);
  EXPECT_EQ(policy.total_in_flight(), 0u);
  EXPECT_EQ(policy.group_for(1), group);
  // A member is not held for a group it has left: run on its own, it is idle when it is done.
  policy.chunk_sent(3);
  policy.chunk_returned(3);
  EXPECT_EQ(policy.worker_for(2, 10), std::optional<int>(3));
}

TEST(dispatch_policy, fills_a_stocking_sub_masters_workers_with_one_message) {
  // Rank 1 is a sub-master of 3 workers, rank 2 a worker of its own (5 workers in all: the
  // sub-master's 3, rank 2, and one behind another sub-master that this test leaves out).
  dispatch_policy policy(3, dispatch_policy::prefetch_depth, 5);
  policy.set_weight(1, 3);
  for (int rank : {1, 2}) {  // the set-up: one chunk to each
    policy.chunk_sent(rank);
    policy.chunk_returned(rank);
  }
  policy.add_job(1, false);
  // The idle ranks, the latest at the back: rank 2 first.
  EXPECT_EQ(policy.worker_for(1, 100), std::optional<int>(2));
  policy.chunk_sent(2, 1);
  EXPECT_EQ(policy.worker_for(1, 100), std::optional<int>(1));
  // Its free workers in one message, no bundles known yet.
  EXPECT_EQ(policy.chunks_per_message(1, 1), 3u);
  policy.chunk_sent(1, 1);
  EXPECT_EQ(policy.chunks_per_message(1, 1), 2u);  // two of its workers still free
  EXPECT_EQ(policy.worker_for(1, 100), std::optional<int>(1));
  policy.chunk_sent(1, 1);
  policy.chunk_sent(1, 1);
  // All three busy: no longer idle; without a known short chunk, no prefetch either.
  EXPECT_EQ(policy.worker_for(1, 100), std::nullopt);
  // One of its workers finishes: idle again, for one chunk.
  policy.chunk_returned(1);
  EXPECT_EQ(policy.worker_for(1, 100), std::optional<int>(1));
  EXPECT_EQ(policy.chunks_per_message(1, 1), 1u);
  // Short chunks: it stocks a second chunk for each of its workers, in one message.
  policy.chunk_sent(1, 1);
  policy.record_chunk_time(1, short_chunk);
  policy.end_round();
  policy.chunk_returned(1);
  policy.chunk_sent(1, 1);  // refilled: started this round, with room to prefetch
  EXPECT_EQ(policy.worker_for(1, 100), std::optional<int>(1));
  // Its workers' queues (2 each) and as much again in its stock: 12, of which 3 are out.
  EXPECT_EQ(policy.chunks_per_message(1, 1), 9u);
  for (int chunk = 0; chunk < 9; ++chunk) policy.chunk_sent(1, 1);
  EXPECT_EQ(policy.worker_for(1, 100), std::nullopt);
  // Refilled only once a message would carry at least half its workers' worth (1 of 3 here).
  policy.chunk_returned(1);
  EXPECT_EQ(policy.worker_for(1, 100), std::optional<int>(1));
  EXPECT_EQ(policy.chunks_per_message(1, 1), 1u);
}

TEST(dispatch_policy, counts_a_node_chunk_as_the_chunks_it_holds) {
  dispatch_policy policy(2, dispatch_policy::prefetch_depth, 4);
  policy.set_weight(1, 4);
  policy.chunk_sent(1);
  policy.chunk_returned(1);
  policy.add_job(1, false);
  EXPECT_EQ(policy.chunks_per_message(1, 1), 4u);
  policy.chunk_sent(1, 1, 4);  // one node-chunk of its four workers' chunks
  EXPECT_EQ(policy.in_flight(1), 4u);
  EXPECT_EQ(policy.total_in_flight(), 4u);
  EXPECT_EQ(policy.worker_for(1, 100), std::nullopt);  // every worker busy, no prefetch known
  policy.chunk_returned(1, 4);
  EXPECT_EQ(policy.in_flight(1), 0u);
  EXPECT_EQ(policy.worker_for(1, 100), std::optional<int>(1));
  policy.chunk_returned(1, 4);  // nothing in flight: nothing to take back
  EXPECT_EQ(policy.total_in_flight(), 0u);
}

TEST(dispatch_policy, refills_a_large_sub_masters_stock_half_its_workers_at_a_time) {
  dispatch_policy policy(2, dispatch_policy::prefetch_depth, 8);
  policy.set_weight(1, 8);
  policy.chunk_sent(1);
  policy.chunk_returned(1);
  policy.add_job(1, false);
  policy.record_chunk_time(1, short_chunk);
  EXPECT_EQ(policy.chunks_per_message(1, 1), 8u);  // a chunk for each of its idle workers
  for (int chunk = 0; chunk < 8; ++chunk) policy.chunk_sent(1, 1);
  EXPECT_EQ(policy.worker_for(1, 1000), std::optional<int>(1));  // prefetch pays: its stock
  EXPECT_EQ(policy.chunks_per_message(1, 1), 24u);               // 2 x 2 x 8 in all
  for (int chunk = 0; chunk < 24; ++chunk) policy.chunk_sent(1, 1);
  for (int chunk = 0; chunk < 3; ++chunk) policy.chunk_returned(1);
  EXPECT_EQ(policy.worker_for(1, 1000), std::nullopt);  // room for 3: less than a refill's 4
  policy.chunk_returned(1);
  EXPECT_EQ(policy.worker_for(1, 1000), std::optional<int>(1));
  EXPECT_EQ(policy.chunks_per_message(1, 1), 4u);
}
