// A failure on the master's progress thread that no single call can be blamed for (here, one
// injected while a results message is received) fails every pending call, is reported on
// stderr with the rank, and then aborts the job: never a hang, never std::terminate.
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "faults/fault_injection.hpp"
#include <mpipool/mpipool.hpp>

void nap_ms(int milliseconds) { std::this_thread::sleep_for(std::chrono::milliseconds(milliseconds)); }
MPIPOOL_REGISTER(nap_ms);

int main(int argc, char** argv) {
  const int rc = mpipool::run(argc, argv, [](mpipool::pool& pool) {
    auto pending = pool.map_async(nap_ms, std::vector<int>(4, 100), 1,
                                  {.on_error = [](const mpipool::error& e) {
                                    std::fprintf(stderr, "pending call failed: %s\n", e.what());
                                  }});
    mpipool::detail::inject_fault(mpipool::detail::fault_point::results_receive, "injected receive failure");
    pending.wait();  // fails; the pool then waits for its progress thread, which aborts the job
    return 0;
  });
  std::fprintf(stderr, "the job was not aborted\n");
  return rc;
}
