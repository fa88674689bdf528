// Who talks to whom: groups of ranks, their relays and their workers, without MPI.
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "wire/topology.hpp"

using mpipool::detail::pool_topology;
using mpipool::detail::ranks_per_group_setting;

TEST(topology, without_groups_every_rank_but_0_works_for_the_master_itself) {
  const pool_topology plain(5, 0);
  EXPECT_FALSE(plain.grouped());
  EXPECT_EQ(plain.workers(), (std::vector<int>{1, 2, 3, 4}));
  for (int rank = 1; rank < 5; ++rank) {
    EXPECT_EQ(plain.route_to(rank), rank);
    EXPECT_EQ(plain.master_of(rank), 0);
    EXPECT_FALSE(plain.is_relay(rank));
  }
  EXPECT_EQ(pool_topology(1, 2).workers(), (std::vector<int>{0}));  // a pool of one runs its tasks itself
  EXPECT_EQ(pool_topology(5, 1).workers(), (std::vector<int>{1, 2, 3, 4}));  // a group of one has no relay
}

TEST(topology, groups_of_two_at_five_ranks_have_a_relay_and_a_worker_each) {
  const pool_topology groups(5, 2);
  EXPECT_TRUE(groups.grouped());
  EXPECT_EQ(groups.relays(), (std::vector<int>{1, 3}));
  EXPECT_EQ(groups.workers(), (std::vector<int>{2, 4}));
  EXPECT_EQ(groups.route_to(2), 1);
  EXPECT_EQ(groups.route_to(4), 3);
  EXPECT_EQ(groups.route_to(1), 1);  // a relay's own messages (its exit) go to it
  EXPECT_EQ(groups.master_of(2), 1);
  EXPECT_EQ(groups.master_of(4), 3);
  EXPECT_TRUE(groups.is_relay(3));
  EXPECT_FALSE(groups.is_relay(4));
}

TEST(topology, a_last_group_of_one_rank_talks_to_the_master_itself) {
  const pool_topology groups(4, 2);  // {1, 2} and {3}
  EXPECT_EQ(groups.relays(), (std::vector<int>{1}));
  EXPECT_EQ(groups.workers(), (std::vector<int>{2, 3}));
  EXPECT_EQ(groups.route_to(3), 3);
  EXPECT_EQ(groups.master_of(3), 0);
  const pool_topology alone(2, 2);  // {1}: no relay at all
  EXPECT_FALSE(alone.grouped());
  EXPECT_EQ(alone.workers(), (std::vector<int>{1}));
}

TEST(topology, sixty_four_ranks_in_eight_groups) {
  const pool_topology groups(64, 8);  // ranks 1-8, ..., 49-56 and 57-63
  EXPECT_EQ(groups.relays().size(), 8u);
  EXPECT_EQ(groups.workers().size(), 55u);
  for (int worker : groups.workers()) {
    const int relay = groups.route_to(worker);
    EXPECT_TRUE(groups.is_relay(relay));
    EXPECT_EQ((worker - 1) / 8, (relay - 1) / 8) << "rank " << worker << " is served by a relay of another group";
  }
}

TEST(topology, the_setting_comes_from_the_option_or_the_environment) {
  ::unsetenv("MPIPOOL_RANKS_PER_GROUP");
  EXPECT_EQ(ranks_per_group_setting(0), 0);
  EXPECT_EQ(ranks_per_group_setting(4), 4);
  ::setenv("MPIPOOL_RANKS_PER_GROUP", "2", 1);
  EXPECT_EQ(ranks_per_group_setting(0), 2);
  EXPECT_EQ(ranks_per_group_setting(8), 8);  // the option wins
  ::setenv("MPIPOOL_RANKS_PER_GROUP", "two", 1);
  EXPECT_THROW(ranks_per_group_setting(0), std::invalid_argument);
  ::unsetenv("MPIPOOL_RANKS_PER_GROUP");
  EXPECT_THROW(ranks_per_group_setting(-1), std::invalid_argument);
}
