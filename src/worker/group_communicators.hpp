#pragma once
// The communicators of parallel tasks' groups (mpipool/parallel.hpp), as one worker rank sees
// them. A group's communicator is made by its members alone (MPI_Comm_create_group over the
// pool's communicator, never a collective over the whole pool), kept while the same workers
// are grouped again, and freed with this object, when the worker leaves its serve loop.
//
// Each group has two communicators: the task's, and a private one on which the members agree,
// after each item, whether it succeeded, so that the task's own messages never meet the pool's.

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include <mpi.h>

#include <boost/mpi/communicator.hpp>

namespace mpipool::detail {

struct task_group {
  boost::mpi::communicator task;       // what the task gets
  boost::mpi::communicator agreement;  // the members' own; none (MPI_COMM_NULL) for a group of one
  std::vector<int> members;       // pool ranks, the group's rank 0 first
  int pool_rank = -1;             // this member's
  std::string host;               // this member's
};

class group_communicators {
 public:
  // The MPI tag on the pool's communicator that making a group uses: none of the protocol's.
  static constexpr int creation_tag = 201;

  group_communicators(const boost::mpi::communicator& pool, std::string host);
  ~group_communicators();
  group_communicators(const group_communicators&) = delete;
  group_communicators& operator=(const group_communicators&) = delete;

  // The group of `members`, made on first use. Every member calls it for the same chunk.
  task_group& of(const std::vector<int>& members);

  // A group of this rank alone (ranks(1), or a one-rank pool): MPI_COMM_SELF, nothing made.
  static task_group& alone(std::string host);

 private:
  boost::mpi::communicator pool_;
  std::string host_;
  std::map<std::vector<int>, task_group> groups_;
};

// While a member runs a group's chunk, the group that current_group_communicator() and
// agree_on_item() (mpipool/detail/group_task.hpp) use on this thread.
class group_scope {
 public:
  explicit group_scope(task_group& group);
  ~group_scope();
  group_scope(const group_scope&) = delete;
  group_scope& operator=(const group_scope&) = delete;

 private:
  task_group* previous_;
};

}  // namespace mpipool::detail
