// A parallel task that throws on one member before a collective the others enter: they can
// never be released (MPI cannot cancel a collective), so the job must end, naming the member,
// once the group's grace period (MPIPOOL_GROUP_GRACE) has passed: never a hang.
#include <cstdio>
#include <functional>
#include <stdexcept>

#include <boost/mpi/collectives.hpp>
#include <mpipool/mpipool.hpp>

namespace {
int throw_before_allreduce(const boost::mpi::communicator& group, int x) {
  if (group.rank() == 1) throw std::runtime_error("member 1 leaves before the allreduce");
  return boost::mpi::all_reduce(group, x, std::plus<int>());
}
MPIPOOL_REGISTER(throw_before_allreduce);
}  // namespace

int main(int argc, char** argv) {
  return mpipool::run(argc, argv, [](mpipool::pool& pool) {
    const int sum = pool.apply(mpipool::ranks(2), throw_before_allreduce, 1);
    std::printf("unexpected: the group returned %d\n", sum);
    return 0;
  });
}
