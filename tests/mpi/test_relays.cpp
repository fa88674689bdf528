// Sub-masters (pool_options::ranks_per_group): rank 0 exchanges messages with the relays only,
// counted here by wrapping MPI's point-to-point calls (the profiling interface: every MPI_Send,
// MPI_Isend, MPI_Recv and MPI_Irecv of rank 0 while its pools run, from any thread, names its
// partner), and the calls' results and errors are those of a pool without relays. Each test
// runs at 1, 2, 3 and 5 ranks; with groups of two, 5 ranks make relays 1 and 3 and workers 2
// and 4, and 3 ranks relay 1 and worker 2. (The whole suite also passes with
// MPIPOOL_RANKS_PER_GROUP=2 at 5 ranks: see docs/scaling.md.)
#include <array>
#include <atomic>
#include <functional>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/group.hpp>
#include <gtest/gtest.h>
#include <mpi.h>

#include "mpipool/detail/protocol.hpp"
#include "support.hpp"

using mpipool_test::with_pool;
using mpipool_test::world_rank;
using mpipool_test::world_size;

namespace {

std::atomic<bool> counting{false};
std::mutex partners_mutex;
std::set<int> partners;  // rank 0's partners while counting, by rank (the pool's ranks are the world's)

void note(int rank) {
  if (!counting.load(std::memory_order_relaxed) || rank < 0) return;  // MPI_ANY_SOURCE, MPI_PROC_NULL
  std::lock_guard lock(partners_mutex);
  partners.insert(rank);
}

// The most pieces in a node-chunk (chunk_header::pieces) that rank 0 sent while counting,
// read off its chunk messages to stocking sub-masters (wrapped: route_header first).
std::atomic<std::uint32_t> most_pieces{0};

void note_chunk(const void* buf, int count, MPI_Datatype type, int message_tag) {
  using namespace mpipool::detail;
  if (!counting.load(std::memory_order_relaxed) || message_tag != static_cast<int>(tag::chunk) || type != MPI_CHAR ||
      static_cast<std::size_t>(count) < sizeof(route_header) + sizeof(chunk_header))
    return;
  route_header route;
  std::memcpy(&route, buf, sizeof route);
  if (route.tag != static_cast<int>(tag::chunk)) return;
  chunk_header header;
  std::memcpy(&header, static_cast<const char*>(buf) + sizeof route, sizeof header);
  std::uint32_t seen = most_pieces.load();
  while (header.pieces > seen && !most_pieces.compare_exchange_weak(seen, header.pieces)) {
  }
}

// Rank 0's partners during `body`, run with a pool of groups of `ranks_per_group`.
// (`options`, if given, say more.)
template <class Body>
std::set<int> partners_of_master(int ranks_per_group, Body&& body, std::optional<mpipool::pool_options> options = {}) {
  {
    std::lock_guard lock(partners_mutex);
    partners.clear();
  }
  counting.store(world_rank() == 0);
  with_pool(std::forward<Body>(body), options ? *options : mpipool::pool_options{.ranks_per_group = ranks_per_group});
  counting.store(false);
  std::lock_guard lock(partners_mutex);
  return partners;
}

// The most pieces in a node-chunk that rank 0 sent during `body`, run with `options`.
template <class Body>
std::uint32_t most_pieces_sent(Body&& body, const mpipool::pool_options& options) {
  most_pieces = 0;
  counting.store(world_rank() == 0);
  with_pool(std::forward<Body>(body), options);
  counting.store(false);
  return most_pieces.load();
}

// The relays of groups of two, worked out on their own: the first rank of each group of two.
std::set<int> relays_of_pairs() {
  std::set<int> relays;
  for (int first = 1; first + 1 < world_size(); first += 2) relays.insert(first);
  return relays;
}

// Sets an environment variable for a scope, then puts back what was there: the suite may run
// under MPIPOOL_RANKS_PER_GROUP=2, which the tests after this one must still see.
class scoped_environment {
 public:
  scoped_environment(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~scoped_environment() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }
  scoped_environment(const scoped_environment&) = delete;
  scoped_environment& operator=(const scoped_environment&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

int cube(int x) { return x * x * x; }
int fails_on_five(int x) {
  if (x == 5) throw std::domain_error("five");
  return x;
}
// The pool rank that ran the item, read from the world (the pool's ranks are the world's).
int ran_on(int) { return world_rank(); }
std::size_t word_length(const std::string& word) { return word.size(); }
std::string spell(int x) { return std::to_string(x); }
// A parallel task of one rank: its communicator holds the rank that runs it, alone.
int group_of_one(const boost::mpi::communicator& group, int x) {
  int world = 0;
  MPI_Group_translate_ranks(MPI_Group(group.group()), 1, std::array<int, 1>{0}.data(), MPI_Group(boost::mpi::communicator().group()), &world);
  return group.size() == 1 && world == world_rank() ? x + 1 : -1;
}
long pair_sum(const boost::mpi::communicator& group, long x) {
  return boost::mpi::all_reduce(group, x, std::plus<long>());
}

// Stocking sub-masters of groups of `ranks_per_group`.
mpipool::pool_options stocking(int ranks_per_group) {
  return mpipool::pool_options{.ranks_per_group = ranks_per_group, .stock_sub_masters = true};
}

// Calls of each kind, each checked: what the partner counts watch.
void map_apply_and_imap_of_cubes(mpipool::pool& pool) {
    std::vector<int> expected;
    for (int x = 0; x < 300; ++x) expected.push_back(cube(x));
    EXPECT_EQ(pool.map(cube, std::views::iota(0, 300), 1), expected);
    EXPECT_EQ(pool.map(cube, std::views::iota(0, 300)), expected);
    EXPECT_EQ(pool.apply(cube, 4), 64);
    int at = 0;
    for (int v : pool.imap(cube, std::views::iota(0, 100), 3)) EXPECT_EQ(v, cube(at++));
    EXPECT_EQ(at, 100);
}

// A map of fails_on_five at `chunksize` fails with item 5's error, naming a worker's rank (none
// of `not_workers`, which run no tasks) and its host.
void expect_item_five_fails_on_a_worker(mpipool::pool& pool, std::size_t chunksize, const std::set<int>& not_workers) {
  try {
    (void)pool.map(fails_on_five, std::views::iota(0, 40), chunksize);
    ADD_FAILURE() << "no exception";
  } catch (const mpipool::remote_error& e) {
    EXPECT_EQ(e.index(), 5u);
    EXPECT_EQ(e.type_name(), "std::domain_error");
    EXPECT_FALSE(not_workers.contains(e.rank())) << "rank " << e.rank() << " runs no task";
    EXPECT_LT(e.rank(), world_size());
    EXPECT_FALSE(e.host().empty());
  }
}

// The sub-masters of groups of three: ranks 1, 4, ... that have two ranks after them.
std::set<int> sub_masters_of_threes() {
  std::set<int> firsts;
  for (int first = 1; first + 1 < world_size(); first += 3) firsts.insert(first);
  return firsts;
}

// A sub-master with two workers is sent a node-chunk of two pieces when both are free, as at the
// start of every call. One with a single worker (at 3 ranks) is sent a node-chunk only once the
// policy has timed the call's tasks and chosen bundles, which depends on the machine's load.
bool a_sub_master_has_two_workers() { return world_size() >= 4; }

}  // namespace

MPIPOOL_REGISTER(cube);
MPIPOOL_REGISTER(fails_on_five);
MPIPOOL_REGISTER(ran_on);
MPIPOOL_REGISTER(word_length);
MPIPOOL_REGISTER(spell);
MPIPOOL_REGISTER(group_of_one);
MPIPOOL_REGISTER(pair_sum);

extern "C" {
int MPI_Send(const void* buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm) {
  note(dest);
  return PMPI_Send(buf, count, type, dest, tag, comm);
}
int MPI_Isend(const void* buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm, MPI_Request* request) {
  note(dest);
  note_chunk(buf, count, type, tag);
  return PMPI_Isend(buf, count, type, dest, tag, comm, request);
}
int MPI_Recv(void* buf, int count, MPI_Datatype type, int source, int tag, MPI_Comm comm, MPI_Status* status) {
  note(source);
  return PMPI_Recv(buf, count, type, source, tag, comm, status);
}
int MPI_Irecv(void* buf, int count, MPI_Datatype type, int source, int tag, MPI_Comm comm, MPI_Request* request) {
  note(source);
  return PMPI_Irecv(buf, count, type, source, tag, comm, request);
}
}

TEST(relays, the_master_talks_to_the_relays_only) {
  const std::set<int> talked = partners_of_master(2, map_apply_and_imap_of_cubes);
  // Without groups the master talks to every worker: the count is not blind. (0 in the
  // environment too, for a suite run under MPIPOOL_RANKS_PER_GROUP.)
  std::set<int> plain;
  {
    const scoped_environment no_groups("MPIPOOL_RANKS_PER_GROUP", "0");
    plain = partners_of_master(0, [](mpipool::pool& pool) {
      EXPECT_EQ(pool.map(cube, std::views::iota(0, 100), 1).back(), cube(99));
    });
  }
  if (world_rank() != 0) return;
  std::set<int> every_worker;
  for (int rank = 1; rank < world_size(); ++rank) every_worker.insert(rank);
  EXPECT_EQ(plain, every_worker);
  if (world_size() == 1) {
    EXPECT_TRUE(talked.empty());  // the master runs the tasks itself
  } else if (world_size() == 2) {
    EXPECT_EQ(talked, std::set<int>{1});  // one rank: a group of one, no relay
  } else {
    EXPECT_EQ(talked, relays_of_pairs());
  }
}

// A group per node, on one machine: every rank shares the master's node, so no rank relays and
// the master talks to every worker, as without groups (pool_topology::by_node's unit test has
// nodes of their own). Set through the environment, as a job script would.
TEST(relays, a_group_per_node_on_one_node_has_no_relays) {
  MPI_Comm node = MPI_COMM_NULL;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  int node_size = 0;
  MPI_Comm_size(node, &node_size);
  MPI_Comm_free(&node);
  if (node_size != world_size()) GTEST_SKIP() << "the ranks are on several nodes";  // the same on every rank
  std::set<int> talked;
  {
    const scoped_environment grouping("MPIPOOL_RANKS_PER_GROUP", "node");
    talked = partners_of_master(0, [](mpipool::pool& pool) {
      EXPECT_EQ(pool.workers(), world_size() == 1 ? 1u : static_cast<std::size_t>(world_size() - 1));
      EXPECT_EQ(pool.map(cube, std::views::iota(0, 100), 1).back(), cube(99));
    });
  }
  if (world_rank() != 0) return;
  std::set<int> every_worker;
  for (int rank = 1; rank < world_size(); ++rank) every_worker.insert(rank);
  EXPECT_EQ(talked, every_worker);
}

TEST(relays, workers_are_the_ranks_that_do_not_relay_and_errors_name_them) {
  with_pool(
      [](mpipool::pool& pool) {
        const std::size_t expected =
            world_size() == 1 ? 1 : static_cast<std::size_t>(world_size() - 1) - relays_of_pairs().size();
        EXPECT_EQ(pool.workers(), expected);
        expect_item_five_fails_on_a_worker(pool, 1, relays_of_pairs());
        EXPECT_EQ(pool.apply(cube, 3), 27);  // the pool goes on
      },
      mpipool::pool_options{.ranks_per_group = 2});
}

// Stocking sub-masters (pool_options::stock_sub_masters): the master still talks to the first
// rank of each group only, now sending it the group's chunks ahead of need; the results, their
// order and the errors are a plain pool's, and each item ran on a worker, never a sub-master.
TEST(stocking, the_master_talks_to_the_sub_masters_only) {
  int sub_master_workers = 0;
  const std::set<int> talked = partners_of_master(0, [&](mpipool::pool& pool) {
    map_apply_and_imap_of_cubes(pool);
    sub_master_workers = static_cast<int>(pool.workers());
  }, stocking(2));
  if (world_rank() != 0) return;
  if (world_size() == 1) {
    EXPECT_TRUE(talked.empty());
  } else if (world_size() == 2) {
    EXPECT_EQ(talked, std::set<int>{1});  // a group of one: no sub-master
  } else {
    EXPECT_EQ(talked, relays_of_pairs());
    EXPECT_EQ(sub_master_workers, world_size() - 1 - static_cast<int>(relays_of_pairs().size()));
  }
}

TEST(stocking, every_method_gives_a_plain_pools_results_and_runs_on_workers_only) {
  // Groups of three: at 5 ranks, sub-master 1 stocks for workers 2 and 3, and rank 4, a group
  // of one, talks to the master itself.
  with_pool(
      [](mpipool::pool& pool) {
        std::vector<int> expected;
        for (int x = 0; x < 500; ++x) expected.push_back(cube(x));
        for (std::size_t chunksize : {std::size_t{1}, std::size_t{7}, std::size_t{0}}) {
          EXPECT_EQ(chunksize == 0 ? pool.map(cube, std::views::iota(0, 500)) : pool.map(cube, std::views::iota(0, 500), chunksize),
                    expected);
        }
        std::vector<int> unordered;
        for (int v : pool.imap_unordered(cube, std::views::iota(0, 200), 2)) unordered.push_back(v);
        std::ranges::sort(unordered);
        EXPECT_EQ(unordered, std::vector<int>(expected.begin(), expected.begin() + 200));
        std::vector<std::tuple<int>> pairs;
        for (int x = 0; x < 50; ++x) pairs.emplace_back(x);
        EXPECT_EQ(pool.starmap(cube, pairs, 4), std::vector<int>(expected.begin(), expected.begin() + 50));
        std::atomic<int> called{0};
        auto r = pool.map_async(cube, std::vector<int>{1, 2, 3}, 1,
                                {.on_result = [&](const std::vector<int>& v) { called += v.back(); }});
        EXPECT_EQ(r.get(), (std::vector<int>{1, 8, 27}));
        EXPECT_EQ(called.load(), 27);
        for (int rank : pool.map(ran_on, std::views::iota(0, 200), 1)) {
          EXPECT_FALSE(sub_masters_of_threes().contains(rank)) << "sub-master " << rank << " ran an item";
          EXPECT_TRUE(world_size() == 1 ? rank == 0 : rank > 0);
        }
      },
      stocking(3));
}

TEST(stocking, errors_name_the_worker_that_ran_the_item) {
  with_pool(
      [](mpipool::pool& pool) {
        for (std::size_t chunksize : {std::size_t{1}, std::size_t{4}})
          expect_item_five_fails_on_a_worker(pool, chunksize, sub_masters_of_threes());
        EXPECT_EQ(pool.apply(cube, 3), 27);  // the pool goes on
      },
      stocking(3));
}

// Items of fixed size go to a sub-master as node-chunks: the caller's chunks sent as one, cut
// apart on its node, their results put together there. Items of another kind, a trace, or
// MPIPOOL_NODE_CHUNKS=off: the caller's chunks one by one. The results are the same.
TEST(stocking, fixed_size_items_go_to_a_sub_master_as_node_chunks) {
  std::vector<int> numbers;  // 0..999 twice: their cubes fit an int
  for (int i = 0; i < 2000; ++i) numbers.push_back(i % 1000);
  std::vector<int> expected;
  std::vector<std::string> spelled;
  for (int x : numbers) {
    expected.push_back(cube(x));
    spelled.push_back(std::to_string(x));
  }
  const auto maps_of_numbers = [&](mpipool::pool& pool) {
    EXPECT_EQ(pool.map(cube, numbers, 1), expected);
    EXPECT_EQ(pool.map(cube, numbers, 3), expected);
    std::size_t at = 0;
    for (int v : pool.imap(cube, numbers, 2)) EXPECT_EQ(v, expected[at++]);
    EXPECT_EQ(at, numbers.size());
    // Results that are not fixed-size values go up piece by piece.
    EXPECT_EQ(pool.map(spell, numbers, 3), spelled);
  };
  const std::uint32_t cut = most_pieces_sent(maps_of_numbers, stocking(3));
  std::vector<std::string> words;
  for (int x = 0; x < 300; ++x) words.push_back(std::string(static_cast<std::size_t>(x % 7), 'w'));
  const std::uint32_t of_words = most_pieces_sent(
      [&](mpipool::pool& pool) {
        const std::vector<std::size_t> lengths = pool.map(word_length, words, 1);
        for (std::size_t i = 0; i < words.size(); ++i) EXPECT_EQ(lengths[i], words[i].size());
      },
      stocking(3));
  mpipool::pool_options traced = stocking(3);
  traced.trace_path = testing::TempDir() + "mpipool_node_chunks_trace_" + std::to_string(world_size()) + ".json";
  const std::uint32_t with_trace = most_pieces_sent(maps_of_numbers, traced);
  std::uint32_t off = 0;
  {
    scoped_environment no_node_chunks("MPIPOOL_NODE_CHUNKS", "off");
    off = most_pieces_sent(maps_of_numbers, stocking(3));
  }
  if (world_rank() != 0) return;
  std::remove(traced.trace_path.c_str());
  EXPECT_EQ(of_words, 0u);
  EXPECT_EQ(with_trace, 0u);
  EXPECT_EQ(off, 0u);
  if (sub_masters_of_threes().empty()) {
    EXPECT_EQ(cut, 0u);
  } else if (a_sub_master_has_two_workers()) {
    EXPECT_GE(cut, 2u);  // at least its two workers' chunks at once
  }
}

// A node-chunk's item that fails names the worker that ran it, among the others that succeed.
TEST(stocking, an_error_in_a_node_chunk_names_the_worker_that_ran_the_item) {
  const std::uint32_t cut = most_pieces_sent(
      [](mpipool::pool& pool) {
        for (std::size_t chunksize : {std::size_t{1}, std::size_t{3}}) {
          try {
            (void)pool.map(fails_on_five, std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, chunksize);
            ADD_FAILURE() << "no exception";
          } catch (const mpipool::remote_error& e) {
            EXPECT_EQ(e.index(), 5u);
            EXPECT_EQ(e.message(), "five");
            EXPECT_FALSE(sub_masters_of_threes().contains(e.rank())) << "rank " << e.rank() << " runs no task";
            EXPECT_FALSE(e.host().empty());
          }
        }
        EXPECT_EQ(pool.map(cube, std::vector<int>{1, 2, 3, 4, 5, 6}, 1), (std::vector<int>{1, 8, 27, 64, 125, 216}));
      },
      stocking(3));
  if (world_rank() == 0 && a_sub_master_has_two_workers()) {
    EXPECT_GE(cut, 2u);
  }
}

TEST(stocking, a_parallel_task_of_one_rank_runs_and_a_wider_one_fails_with_a_clear_error) {
  with_pool(
      [](mpipool::pool& pool) {
        EXPECT_EQ(pool.map(mpipool::ranks(1), group_of_one, std::vector<int>{1, 2, 3, 4, 5, 6}, 1),
                  (std::vector<int>{2, 3, 4, 5, 6, 7}));
        // A width the pool has workers for (3 at 5 ranks), through a sub-master.
        if (pool.workers() < 2 || sub_masters_of_threes().empty()) return;
        try {
          (void)pool.apply(mpipool::ranks(2), pair_sum, 5L);
          FAIL() << "a parallel task ran through stocking sub-masters";
        } catch (const mpipool::error& e) {
          EXPECT_NE(std::string(e.what()).find("stocking sub-masters cannot run"), std::string::npos) << e.what();
        }
        EXPECT_EQ(pool.apply(cube, 2), 8);
      },
      stocking(3));
}
