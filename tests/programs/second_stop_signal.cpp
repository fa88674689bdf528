// Ctrl-C twice during an isolated map whose items never end: the first SIGINT asks for a stop
// (the helpers let it pass and go on with their items), the second, more than a second later,
// ends the master as SIGINT's default action would, and the helpers must die with their ranks
// (each rank's fork server dies with it, and its helpers with the server). The program writes
// every helper's pid to the file it is given; the test then checks that none is left running.
//
//   second_stop_signal <pid file>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <tuple>
#include <string>
#include <thread>
#include <vector>

#include <mpipool/mpipool.hpp>

namespace {

// Notes its helper's pid, then runs for a minute: longer than the test waits.
int note_and_hang(int index, std::string pid_file) {
  std::ofstream(pid_file, std::ios::app) << ::getpid() << '\n';
  std::this_thread::sleep_for(std::chrono::minutes(1));
  return index;
}

std::vector<int> pids_in(const std::string& path) {
  std::vector<int> pids;
  std::ifstream in(path);
  for (int pid = 0; in >> pid;) pids.push_back(pid);
  return pids;
}

// Ctrl-C reaches the whole process group: the helpers as well as the master.
void press_ctrl_c(const std::vector<int>& helpers) {
  for (int helper : helpers) ::kill(helper, SIGINT);
  ::raise(SIGINT);
}

}  // namespace

MPIPOOL_REGISTER(note_and_hang);

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: second_stop_signal <pid file>\n");
    return 2;
  }
  const std::string pid_file = argv[1];
  return mpipool::run(argc, argv, [&](mpipool::pool& pool) {
    const auto workers = static_cast<int>(pool.workers());
    std::vector<std::tuple<int, std::string>> items;
    for (int i = 0; i < workers; ++i) items.emplace_back(i, pid_file);
    auto hanging = pool.starmap_async(note_and_hang, items, 1);
    std::vector<int> helpers;
    while ((helpers = pids_in(pid_file)).size() < static_cast<std::size_t>(workers))
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    press_ctrl_c(helpers);
    // A repeat within a second counts as the same request: this one must come later.
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    press_ctrl_c(helpers);
    std::fprintf(stderr, "second_stop_signal: the second SIGINT did not end the master\n");
    return 3;
  }, {.isolated = true});
}
