#include "worker/group_communicators.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>

#include <boost/mpi/collectives/gather.hpp>
#include <boost/serialization/string.hpp>

#include "mpipool/detail/group_task.hpp"
#include "mpipool/errors.hpp"
#include "mpipool/parallel.hpp"
#include "wire/wait.hpp"

namespace mpipool {

namespace {
std::atomic<std::size_t> communicators_made{0};
}

std::size_t group_communicators_made() noexcept { return communicators_made.load(std::memory_order_relaxed); }

}  // namespace mpipool

namespace mpipool::detail {

namespace {

thread_local task_group* current_group = nullptr;

void check(int status, const char* what) {
  if (status != MPI_SUCCESS) throw mpipool::error(std::string("mpipool: making a task group: ") + what + " failed");
}

// One member's failure, as the group's rank 0 collects it.
struct member_failure {
  int rank = -1;
  std::string host;
  std::string type_name;
  std::string message;
  std::int64_t code = 0;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & rank & host & type_name & message & code;
  }
};

// How long a member that threw waits for the others before it decides they are stuck in a
// collective it left: MPIPOOL_GROUP_GRACE seconds, 60 by default.
std::chrono::duration<double> grace_period() {
  if (const char* env = std::getenv("MPIPOOL_GROUP_GRACE")) {
    char* end = nullptr;
    const double seconds = std::strtod(env, &end);
    if (end != env && seconds > 0) return std::chrono::duration<double>(seconds);
  }
  return std::chrono::duration<double>(60.0);
}

std::string member_list(const std::vector<int>& members) {
  std::string list;
  for (int rank : members) list += (list.empty() ? "" : ", ") + std::to_string(rank);
  return list;
}

// Waits for the members' flags without holding a core: the backoff spins briefly, then sleeps.
// A member that threw gives up after the grace period and ends the job: the others will never
// come, and nothing but the job's end releases them.
void wait_for_partners(MPI_Request& request, const task_group& group, const std::optional<item_error>& mine) {
  const auto deadline = std::chrono::steady_clock::now() + grace_period();
  backoff idle(std::chrono::milliseconds(1));
  for (;;) {
    int done = 0;
    check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (done) return;
    if (mine && std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr,
                   "mpipool: rank %d on host %s: a parallel task threw %s: %s on this member of its group "
                   "(ranks %s), and the other members did not finish the item within %.0f s: they wait in a "
                   "collective that this member left by throwing, which MPI cannot cancel; aborting the job "
                   "(a parallel task should throw on every member, or after its last collective)\n",
                   group.pool_rank, group.host.c_str(), mine->type_name.c_str(), mine->message.c_str(),
                   member_list(group.members).c_str(), grace_period().count());
      std::fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, EXIT_FAILURE);
    }
    idle.pause();
  }
}

}  // namespace

group_communicators::group_communicators(const boost::mpi::communicator& pool, std::string host)
    : pool_(static_cast<MPI_Comm>(pool), boost::mpi::comm_attach), host_(std::move(host)) {}

group_communicators::~group_communicators() {
  groups_.clear();  // frees each group's communicators (they were taken with comm_take_ownership)
}

task_group& group_communicators::of(const std::vector<int>& members) {
  if (members.size() == 1) return alone(host_);
  auto it = groups_.find(members);
  if (it != groups_.end()) return it->second;
  MPI_Group pool_group = MPI_GROUP_NULL;
  MPI_Group member_group = MPI_GROUP_NULL;
  MPI_Comm made = MPI_COMM_NULL;
  check(MPI_Comm_group(static_cast<MPI_Comm>(pool_), &pool_group), "MPI_Comm_group");
  const int status = MPI_Group_incl(pool_group, static_cast<int>(members.size()), members.data(), &member_group);
  MPI_Group_free(&pool_group);
  check(status, "MPI_Group_incl");
  const int created = MPI_Comm_create_group(static_cast<MPI_Comm>(pool_), member_group, creation_tag, &made);
  MPI_Group_free(&member_group);
  check(created, "MPI_Comm_create_group");
  MPI_Comm agreement = MPI_COMM_NULL;
  if (MPI_Comm_dup(made, &agreement) != MPI_SUCCESS) {
    MPI_Comm_free(&made);
    check(MPI_ERR_OTHER, "MPI_Comm_dup");
  }
  communicators_made.fetch_add(1, std::memory_order_relaxed);
  task_group& group = groups_[members];
  group.task = boost::mpi::communicator(made, boost::mpi::comm_take_ownership);
  group.agreement = boost::mpi::communicator(agreement, boost::mpi::comm_take_ownership);
  group.members = members;
  group.pool_rank = pool_.rank();
  group.host = host_;
  return group;
}

task_group& group_communicators::alone(std::string host) {
  static thread_local task_group self{boost::mpi::communicator(MPI_COMM_SELF, boost::mpi::comm_attach),
                                      boost::mpi::communicator(MPI_COMM_NULL, boost::mpi::comm_attach), {}, -1, {}};
  self.host = std::move(host);
  return self;
}

group_scope::group_scope(task_group& group) : previous_(current_group) { current_group = &group; }
group_scope::~group_scope() { current_group = previous_; }

const boost::mpi::communicator& current_group_communicator() {
  if (!current_group)
    throw mpipool::error("mpipool: a parallel task runs only as the task of a call with mpipool::ranks(k)");
  return current_group->task;
}

const boost::mpi::communicator* current_group_agreement() {
  if (!current_group || static_cast<MPI_Comm>(current_group->agreement) == MPI_COMM_NULL) return nullptr;
  return &current_group->agreement;
}

std::optional<item_error> agree_on_item(std::optional<item_error> mine) {
  task_group& group = *current_group;
  if (static_cast<MPI_Comm>(group.agreement) == MPI_COMM_NULL) return mine;  // a group of one
  const int size = static_cast<int>(group.members.size());
  int failed = mine ? 1 : 0;
  std::vector<int> flags(static_cast<std::size_t>(size), 0);
  MPI_Request request = MPI_REQUEST_NULL;
  check(MPI_Iallgather(&failed, 1, MPI_INT, flags.data(), 1, MPI_INT, static_cast<MPI_Comm>(group.agreement), &request),
        "MPI_Iallgather");
  wait_for_partners(request, group, mine);
  bool any_failed = false;
  for (int flag : flags) any_failed |= flag != 0;
  if (!any_failed) return std::nullopt;

  // Every member is here now: the group's rank 0 collects who failed and why.
  const boost::mpi::communicator& agreement = group.agreement;
  member_failure own;
  if (mine) own = {group.pool_rank, group.host, mine->type_name, mine->message, mine->code};
  std::vector<member_failure> all;
  boost::mpi::gather(agreement, own, all, 0);
  if (agreement.rank() != 0) return item_error{"mpipool::error", "a member of this task's group failed", 0};
  item_error failure;
  std::string named;
  int failing = 0;
  for (int member = 0; member < size; ++member) {
    const member_failure& f = all[static_cast<std::size_t>(member)];
    if (flags[static_cast<std::size_t>(member)] == 0) continue;
    if (failing++ == 0) {
      failure.type_name = f.type_name;
      failure.code = f.code;
    }
    named += (named.empty() ? "" : "; ") + std::string("member ") + std::to_string(member) + " of " +
             std::to_string(size) + " (rank " + std::to_string(f.rank) + " on host " + f.host + "): " + f.type_name +
             ": " + f.message;
  }
  failure.message = std::to_string(failing) + " of " + std::to_string(size) + " members failed: " + named;
  return failure;
}

}  // namespace mpipool::detail
