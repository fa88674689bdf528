// GoogleTest main for tests that run under mpiexec. Every rank runs every test (a test's pool
// body runs on rank 0, the other ranks serve it). After each test the failures of all ranks are
// gathered on rank 0 and printed there with their rank; every rank exits with the worst status.
// MPI runs at MPI_THREAD_SERIALIZED, or MPI_THREAD_MULTIPLE where MPIPOOL_TEST_THREAD_MULTIPLE is set.
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <gtest/gtest.h>

#include "support.hpp"

namespace {

class gather_failures : public testing::EmptyTestEventListener {
 public:
  explicit gather_failures(boost::mpi::communicator world) : world_(std::move(world)) {}

  void OnTestPartResult(const testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::ostringstream text;
    text << (result.file_name() ? result.file_name() : "?") << ":" << result.line_number() << ": "
         << result.summary();
    failures_ += text.str() + "\n";
  }

  void OnTestEnd(const testing::TestInfo& test) override {
    std::vector<std::string> all;
    boost::mpi::gather(world_, failures_, all, 0);
    failures_.clear();
    if (world_.rank() != 0) return;
    for (std::size_t rank = 1; rank < all.size(); ++rank) {
      if (all[rank].empty()) continue;
      std::printf("[  RANK %zu ] %s.%s failed there:\n%s", rank, test.test_suite_name(), test.name(),
                  all[rank].c_str());
      ++remote_failures;
    }
  }

  int remote_failures = 0;

 private:
  boost::mpi::communicator world_;
  std::string failures_;
};

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
#ifdef MPIPOOL_TEST_THREAD_MULTIPLE
  boost::mpi::environment env(argc, argv, boost::mpi::threading::multiple);
  if (env.thread_level() != boost::mpi::threading::multiple) {
    std::fprintf(stderr, "this test needs MPI_THREAD_MULTIPLE, which this MPI does not grant\n");
    return 1;
  }
#else
  boost::mpi::environment env(argc, argv, boost::mpi::threading::serialized);
#endif
  mpipool_test::note_world();
  boost::mpi::communicator world;
  auto& listeners = testing::UnitTest::GetInstance()->listeners();
  if (world.rank() != 0) delete listeners.Release(listeners.default_result_printer());
  auto* gatherer = new gather_failures(world);
  listeners.Append(gatherer);
  const int local = RUN_ALL_TESTS() != 0 || gatherer->remote_failures != 0 ? 1 : 0;
  return boost::mpi::all_reduce(world, local, boost::mpi::maximum<int>());
}
