#pragma once
// The master's hot path, read top to bottom in dispatcher.cpp: which job's chunk goes to which
// worker (the policy), the chunk built and sent (the outbox), and each results message split
// into its chunks, checked off its worker and handed to its job. It owns the job table, the
// worker table, the policy and the sends; a job leaves the table here too, once finished,
// failed, dropped or abandoned, so that its chunks in flight are cut short in one place.
//
// Only whoever holds the master's turn calls it (master.hpp). It makes no decision about the
// pool's state: the master says when the input is closing and stops calling dispatch() once the
// pool terminates.

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/mpi/communicator.hpp>

#include "master/outbox.hpp"
#include "master/policy.hpp"
#include "master/worker_slot.hpp"
#include "mpipool/detail/job.hpp"
#include "mpipool/errors.hpp"
#include "observe/progress_display.hpp"
#include "observe/trace_recorder.hpp"
#include "wire/doorbell.hpp"
#include "wire/topology.hpp"
#include "worker/local_worker.hpp"

namespace mpipool::detail {

class dispatcher {
 public:
  using job_entry = std::pair<std::uint64_t, std::unique_ptr<job>>;
  using job_table = std::unordered_map<std::uint64_t, std::unique_ptr<job>>;

  // What the dispatcher tells the master, both rare: every worker ran the initializer (with the
  // lowest rank's failure, if any); results came back for a job no longer in the table.
  struct hooks {
    std::function<void(const std::optional<remote_failure>&)> setup_finished;
    std::function<void(std::uint64_t job, std::uint64_t items)> late_items;
  };

  // `bells`: indexed by rank, the bell of the rank a message for it goes to (outbox.hpp).
  // `local`: the task thread of a one-rank pool, or null. None of them is owned.
  dispatcher(const boost::mpi::communicator& comm, const pool_topology& topology, const std::vector<doorbell*>& bells,
             local_worker* local, bool cores_shared, hooks told);

  // Both null unless asked for (the trace and the progress display): then the hot path costs
  // one branch per chunk for them.
  void observe(trace_recorder* trace, progress_display* display) {
    trace_ = trace;
    display_ = display;
  }

  // --- Set-up --------------------------------------------------------------------------------
  // Sends every worker the initializer; `items_done_wanted`: workers report their finished items
  // (the progress display).
  void send_setup(const bound_call& initializer, bool items_done_wanted);
  bool setup_done() const { return setup_done_; }

  // --- The job table -------------------------------------------------------------------------
  void admit(std::uint64_t id, std::unique_ptr<job> work);
  const job_table& jobs() const { return jobs_; }
  // No job in the table, and none left draining into its journal.
  bool idle() const { return jobs_.empty() && draining_.empty(); }
  // A job whose result nobody wants: out of the table, its chunks cut short.
  void drop(std::uint64_t job_id);
  // After a poke: retires the jobs that finished without a result arriving (a journal read or
  // synced), and lets go of the stopped jobs whose journal is closed.
  void settle_jobs();
  // Fails every unfinished job, and `also` (calls that never reached the table), with `why`
  // (pool_terminated by default), cutting their chunks short; returns how many there were.
  std::size_t abandon_all(bool run_callbacks, std::exception_ptr why = nullptr, std::vector<job_entry> also = {});
  // At terminate(): isolated workers kill the items they run (the others finish them).
  void kill_running_items();
  // Every job, out of the table, for a failure that no single call can be blamed for.
  std::vector<job_entry> take_jobs();
  // Every chunk is back: the journals of stopped calls hold all they will; each is synced and
  // closed as its job goes.
  void close_journals() { draining_.clear(); }

  // --- The hot path --------------------------------------------------------------------------
  // Sends chunks while the policy finds a free worker and a job with a chunk ready; `closing`:
  // no stream's input waits for more. Returns whether it sent any.
  bool dispatch(bool closing);
  // A results message from worker `rank`: one chunk's results, or a bundle's; from a stocking
  // sub-master, any of its workers' (each section names the worker).
  void take_results(int rank, std::span<const char> message);
  // Tests the sends in progress; returns whether any has gone.
  bool complete_sends() { return outbox_.complete(); }
  // The sends, whose spare buffers the receives use too.
  outbox& sends() { return outbox_; }

  // --- What the master's wait depends on -----------------------------------------------------
  std::size_t chunks_in_flight() const { return policy_.total_in_flight(); }
  bool sending() const { return !outbox_.empty(); }
  enum class workers_state {
    unheard,  // a busy worker rings no bell when done: poll it
    stocked,  // every worker has a message queued behind the one it runs, worth `seconds` of work
    other,
  };
  workers_state workers_outlook(double seconds) const;

  // --- What the trace and the progress display read ------------------------------------------
  const std::string& host_of(int rank) const { return workers_[static_cast<std::size_t>(rank)].host; }
  // The items that workers have finished in chunks whose results are still out, by job:
  // `finished_by(rank)` is a worker's own count of every item it finished.
  // A stocking sub-master's chunks are split by the sum of its workers' counts.
  template <class FinishedBy>
  progress_display::items_by_job items_in_flight(FinishedBy&& finished_by) const {
    progress_display::items_by_job found;
    const auto add = [&](std::uint64_t job_id, std::uint64_t items) { found[job_id] += items; };
    if (!topology_.stocking()) {
      for (std::size_t rank = 0; rank < workers_.size(); ++rank) workers_[rank].split_items_in_flight(finished_by(rank), add);
      return found;
    }
    std::vector<std::uint64_t> finished(workers_.size(), 0);
    for (std::size_t rank = 1; rank < workers_.size(); ++rank)
      finished[static_cast<std::size_t>(topology_.route_to(static_cast<int>(rank)))] += finished_by(rank);
    for (std::size_t rank = 1; rank < workers_.size(); ++rank) workers_[rank].split_items_in_flight(finished[rank], add);
    return found;
  }

 private:
  job_readiness readiness(std::uint64_t job_id);
  // The next chunk of `work` for `rank`, or nothing if the job's input turned out to be over;
  // or a bundle of up to `most` chunks, as many as the job has ready.
  std::optional<byte_buffer> build_chunk(int rank, std::uint64_t job_id, job& work,
                                         const std::vector<int>& group = {}, std::size_t most = 1);
  // A message's next chunk, after its first: whether the job has one ready (then it is taken).
  bool take_another(std::uint64_t job_id);
  // Appends the items of the job's next chunk to `bytes`: their range (no items: a lazy input
  // ended or failed right there). Nothing if an argument cannot be serialized: the job failed,
  // and `bytes` went back to the outbox.
  std::optional<item_range> next_items(std::uint64_t job_id, job& work, byte_buffer& bytes);
  // Whether `rank` gets chunks of `work` as node-chunks, to cut on its node: a stocking
  // sub-master, items of fixed size, no trace.
  bool cuts_on_node(int rank, const job& work) const;
  // A message to a stocking sub-master of up to `most` of the job's chunks, sent as one
  // node-chunk (or several, where the items they hold skip some), for it to cut apart.
  std::optional<byte_buffer> build_node_chunk(int rank, std::uint64_t job_id, job& work, std::size_t most);
  // The same chunk for another member of its group: that worker's task and forget list, then
  // the items of `first`.
  byte_buffer copy_chunk_for(int rank, std::uint64_t job_id, job& work, const std::vector<int>& group,
                             const chunk_view& first);
  // A chunk message for `rank` up to its items: the task if the worker lacks it, its forget list
  // and the group.
  byte_buffer begin_chunk_for(int rank, std::uint64_t job_id, const job& work, item_range items,
                              const std::vector<int>& group);
  // Sends a parallel task's next chunk to the group the policy picks; false if none is idle.
  bool dispatch_group(std::uint64_t job_id, job& work);
  void deliver_chunk(int rank, std::uint64_t job_id, byte_buffer&& bytes);
  // Only once it is on its way is the worker holding the task, and done with its forget list.
  void delivered(int rank, std::uint64_t job_id);
  // One chunk's results, from `rank`'s slot, run by `ran_on` (the rank itself, or one of a
  // stocking sub-master's workers).
  void handle_results(int rank, int ran_on, std::span<const char> message, const worker_slot::finished_chunk& done,
                      worker_slot::clock::time_point received);
  // `worker_rank`, checked to be one of `sub_master`'s workers (throws a protocol error if not).
  int worker_behind(int sub_master, int worker_rank) const;
  void finish_setup(int rank, const results_view& results);

  void retire(std::uint64_t job_id);
  // Takes a job out of the tables, tells the workers that hold its task to forget it, and cuts
  // its running chunks short. Returns it, or nothing if it is gone already.
  std::unique_ptr<job> detach(std::uint64_t job_id);
  void send_cancel(int rank, std::uint64_t job_id);
  // Fails a job with an error raised on the master (a value that cannot be (de)serialized, a
  // journal that cannot be written: a journal_error keeps its type).
  void fail_job(std::uint64_t job_id, const std::exception_ptr& error);
  // A journaled job taken out of the tables (abandoned, dropped, failed) keeps its journal for
  // what its chunks in flight bring back, in draining_, until its journal is synced and closed.
  void keep_journaling(std::uint64_t job_id, std::unique_ptr<job> work);
  void journal_late(std::uint64_t job_id, item_range items, std::span<const char> outcomes);
  bool chunk_in_flight(std::uint64_t job_id) const;

  const pool_topology& topology_;
  const std::vector<doorbell*>& bells_;
  local_worker* const local_;
  const hooks told_;
  trace_recorder* trace_ = nullptr;
  progress_display* display_ = nullptr;

  outbox outbox_;
  std::vector<worker_slot> workers_;  // indexed by rank
  dispatch_policy policy_;
  job_table jobs_;
  job_table draining_;  // see keep_journaling
  bool closing_ = false;  // as the last dispatch() was told
  std::size_t ready_ = 0;  // workers that ran the initializer
  bool setup_done_ = false;
  std::optional<remote_failure> first_setup_failure_;
  // Whether stocking sub-masters get node-chunks (MPIPOOL_NODE_CHUNKS=off: no, for comparison).
  bool node_chunks_ = true;
  std::vector<std::uint32_t> piece_counts_;  // of the node-chunk being built
  byte_buffer moved_items_;                  // see build_node_chunk
  // The chunks of the message being delivered.
  struct delivered_chunk {
    std::size_t bytes = 0;
    item_range items;
    std::uint32_t pieces = 1;
  };
  std::vector<delivered_chunk> delivered_;
};

}  // namespace mpipool::detail
