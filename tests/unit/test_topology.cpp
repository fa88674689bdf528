// Who talks to whom: groups of ranks, their relays and their workers, without MPI.
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "mpipool/options.hpp"
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
  ::setenv("MPIPOOL_RANKS_PER_GROUP", "node", 1);
  EXPECT_EQ(ranks_per_group_setting(0), mpipool::pool_options::group_per_node);
  ::setenv("MPIPOOL_RANKS_PER_GROUP", "nodes", 1);
  EXPECT_THROW(ranks_per_group_setting(0), std::invalid_argument);
  ::unsetenv("MPIPOOL_RANKS_PER_GROUP");
  EXPECT_EQ(ranks_per_group_setting(mpipool::pool_options::group_per_node), mpipool::pool_options::group_per_node);
  EXPECT_THROW(ranks_per_group_setting(-2), std::invalid_argument);
}

// A group per node: every node but the master's has a relay, its lowest rank; the master's
// node-mates and a rank alone on its node talk to the master themselves.
TEST(topology, by_node_each_other_node_has_a_relay) {
  // Ranks 0-2 on node 0 (the master's), 3-5 on node 3, 6-7 on node 6, 8 alone on node 8. The
  // node names are any numbers: here the lowest rank on each node, as node_of_each_rank gives.
  const pool_topology nodes = pool_topology::by_node({0, 0, 0, 3, 3, 3, 6, 6, 8});
  EXPECT_EQ(nodes.relays(), (std::vector<int>{3, 6}));
  EXPECT_EQ(nodes.workers(), (std::vector<int>{1, 2, 4, 5, 7, 8}));
  for (int rank : {1, 2, 8}) EXPECT_EQ(nodes.master_of(rank), 0) << "rank " << rank;
  EXPECT_EQ(nodes.master_of(4), 3);
  EXPECT_EQ(nodes.master_of(5), 3);
  EXPECT_EQ(nodes.master_of(7), 6);
  // Nodes named out of order, and ranks of one node not next to each other (a round-robin
  // placement): ranks 1, 3 on node 7; 2, 4 on node -1; the master alone on node 5.
  const pool_topology scattered = pool_topology::by_node({5, 7, -1, 7, -1});
  EXPECT_EQ(scattered.relays(), (std::vector<int>{1, 2}));
  EXPECT_EQ(scattered.workers(), (std::vector<int>{3, 4}));
  EXPECT_EQ(scattered.master_of(3), 1);
  EXPECT_EQ(scattered.master_of(4), 2);
  // One node, as on a workstation: no relays at all.
  const pool_topology one_node = pool_topology::by_node({0, 0, 0, 0, 0});
  EXPECT_FALSE(one_node.grouped());
  EXPECT_EQ(one_node.workers(), (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(pool_topology::by_node({0}).workers(), (std::vector<int>{0}));
}
