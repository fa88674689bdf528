#include "mpipool/run.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>

#include <boost/mpi/collectives/broadcast.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>

#include "faults/crash_report.hpp"
#include "wire/doorbell.hpp"
#include "wire/core_sharing.hpp"
#include "wire/wait.hpp"
#include "worker/fork_server.hpp"
#include "worker/isolated_executor.hpp"
#include "master/master.hpp"
#include "faults/stop_signals.hpp"
#include "worker/relay.hpp"
#include "worker/sub_master.hpp"
#include "worker/worker.hpp"
#include "wire/node_map.hpp"
#include "wire/topology.hpp"

namespace mpipool {

namespace detail {

namespace {

std::string thread_level_name(int level) {
  switch (level) {
    case MPI_THREAD_SINGLE: return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED: return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED: return "MPI_THREAD_SERIALIZED";
    default: return "MPI_THREAD_MULTIPLE";
  }
}

std::string thread_level_problem(int provided) {
  return "mpipool: MPI provides only " + thread_level_name(provided) +
         "; the pool's progress thread needs MPI_THREAD_SERIALIZED or better (initialize MPI "
         "with MPI_Init_thread(..., MPI_THREAD_SERIALIZED, ...), or use an MPI build with thread "
         "support)";
}

// Held while a pool runs in this process. A pool started from its body, a task or a callback
// would wait in MPI_Comm_dup for ranks that are busy serving the running pool: refuse it.
class one_pool_at_a_time {
 public:
  one_pool_at_a_time() {
    if (pool_running_.exchange(true))
      throw std::logic_error(
          "mpipool: run() called while a pool is running in this process (from its body, a task "
          "or a callback); a pool cannot be started inside another pool's body: start more pools "
          "one after another with mpipool::run(comm, body)");
  }
  ~one_pool_at_a_time() { pool_running_.store(false); }
  one_pool_at_a_time(const one_pool_at_a_time&) = delete;
  one_pool_at_a_time& operator=(const one_pool_at_a_time&) = delete;

 private:
  static inline std::atomic<bool> pool_running_{false};
};

void require_mpi_not_finalized_for_owning_run() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized)
    throw std::logic_error(
        "mpipool: run(argc, argv, body) called after MPI was finalized; run(argc, argv, body) "
        "initializes and finalizes MPI, so it can run once per process. A program that wants "
        "several pools initializes MPI itself (MPI_Init_thread with MPI_THREAD_SERIALIZED), calls "
        "mpipool::run(comm, body) for each, then MPI_Finalize");
}

void report(int rank, const std::string& what) {
  std::fprintf(stderr, "mpipool: rank %d on host %s: %s\n", rank,
               boost::mpi::environment::processor_name().c_str(), what.c_str());
}

int run_pool(const boost::mpi::communicator& parent, const body_function& body, const pool_options& options) {
  boost::mpi::communicator comm(parent, boost::mpi::comm_duplicate);
  const crash_report reporting(comm.rank(), boost::mpi::environment::processor_name());
  // Before the pool's threads and the body: helpers start from a copy of this moment (see
  // fork_server.hpp), with the crash report's handlers and not yet the stop signals'. Only
  // where tasks run: on workers, or on the master when it is the only rank.
  isolation_settings isolation = isolation_from(options);
  std::optional<fork_server> helper_starter;
  if (isolation.isolated && (comm.rank() != 0 || comm.size() == 1))
    isolation.server = &helper_starter.emplace(run_helper_process);
  const stop_signal_handlers stopping;
  // Made before the pool starts and freed as this returns, on every rank: after the master's
  // progress thread joined and the workers were released, so no one rings a freed bell. (Not
  // by the master: it may be dropped on a caller's thread, which must not call MPI.)
  const node_doorbells bells(comm);
  const bool cores_shared = node_shares_cores(comm);
  allow_hot_spin(!cores_shared);
  // Rank 0's setting, so that every rank agrees on who relays.
  constexpr int bad_setting_value = std::numeric_limits<int>::min();
  int settings[2] = {0, 0};  // ranks per group, stocking
  std::exception_ptr bad_setting;
  if (comm.rank() == 0) {
    try {
      settings[0] = ranks_per_group_setting(options.ranks_per_group);
      settings[1] = stocking_setting(options.stock_sub_masters) ? 1 : 0;
    } catch (...) {  // every rank must still hear of it, or the others would wait for ever
      bad_setting = std::current_exception();
      settings[0] = bad_setting_value;
    }
  }
  boost::mpi::broadcast(comm, settings, 2, 0);
  if (bad_setting) std::rethrow_exception(bad_setting);
  const int ranks_per_group = settings[0];
  if (ranks_per_group == bad_setting_value) return EXIT_FAILURE;  // rank 0 says why
  pool_topology topology = ranks_per_group == pool_options::group_per_node
                               ? pool_topology::by_node(node_of_each_rank(comm))
                               : pool_topology(comm.size(), ranks_per_group);
  topology.set_stocking(settings[1] != 0);
  if (comm.rank() != 0) {
    try {
      if (topology.is_relay(comm.rank()))
        return topology.stocking() ? sub_master(comm, topology, bells) : relay(comm, bells);
      return serve(comm, bells, isolation, topology.master_of(comm.rank()));
    } catch (...) {  // the master would wait for this worker for ever: end the job instead
      const item_error error = describe(std::current_exception());
      report(comm.rank(), "worker failed: " + error.type_name + ": " + error.message);
      comm.abort(EXIT_FAILURE);
    }
  }
  auto m = std::make_shared<master>(comm, bells, isolation, cores_shared, std::move(topology));
  return run_pool_as_master(*m, body, options);
}

}  // namespace

int run_pool_as_master(master& m, const body_function& body, const pool_options& options) {
  int exit_code = EXIT_FAILURE;
  std::exception_ptr failure;
  try {
    m.start(options);
    pool p(m, m.weak_from_this(), std::max<std::size_t>(options.stream_window, 1));
    try {
      exit_code = body(p);
    } catch (...) {
      failure = std::current_exception();
    }
    m.end_of_body();  // before the pool goes: its destructor would run the callbacks
  } catch (...) {
    failure = std::current_exception();
  }
  m.end_of_body();
  m.join();
  if (const int signal = requested_stop_signal(); signal != 0) {
    // Stopped by SIGTERM or SIGINT: every rank exits as a process killed by it would report,
    // 128 + signal, whatever the body made of it; what it threw is still said.
    if (failure) {
      try {
        std::rethrow_exception(failure);
      } catch (const pool_interrupted&) {  // the stop itself: said already
      } catch (...) {
        const item_error error = describe(std::current_exception());
        report(0, "after " + std::string(stop_signal_name(signal)) + ", the body threw " + error.type_name + ": " +
                      error.message);
      }
      failure = nullptr;
    }
    exit_code = 128 + signal;
    report(0, std::string("stopped by ") + stop_signal_name(signal) + "; every rank exits with " +
                  std::to_string(exit_code));
  }
  m.release_workers(failure ? EXIT_FAILURE : exit_code);
  if (failure) std::rethrow_exception(failure);
  return exit_code;
}

int run_owning(int& argc, char**& argv, const body_function& body, const pool_options& options) {
  const one_pool_at_a_time running;  // first: a nested call must not touch MPI
  require_mpi_not_finalized_for_owning_run();
  boost::mpi::environment env(argc, argv, boost::mpi::threading::serialized, true);
  boost::mpi::communicator world;
  if (env.thread_level() < boost::mpi::threading::serialized) {
    int provided = MPI_THREAD_SINGLE;
    MPI_Query_thread(&provided);
    report(world.rank(), thread_level_problem(provided));
    return EXIT_FAILURE;
  }
  try {
    return run_pool(world, body, options);
  } catch (...) {
    const item_error error = describe(std::current_exception());
    report(world.rank(), error.type_name + ": " + error.message);
    return EXIT_FAILURE;
  }
}

int run_borrowed(MPI_Comm comm, const body_function& body, const pool_options& options) {
  const one_pool_at_a_time running;
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) throw error("mpipool: MPI is not initialized; call MPI_Init_thread first, or use mpipool::run(argc, argv, body)");
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) throw error("mpipool: MPI is finalized already; run(comm, body) needs it running, between MPI_Init_thread and MPI_Finalize");
  int provided = MPI_THREAD_SINGLE;
  MPI_Query_thread(&provided);
  if (provided < MPI_THREAD_SERIALIZED) throw error(thread_level_problem(provided));
  return run_pool(boost::mpi::communicator(comm, boost::mpi::comm_attach), body, options);
}

}  // namespace detail

}  // namespace mpipool
