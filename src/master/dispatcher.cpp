#include "master/dispatcher.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>

#include "faults/fault_injection.hpp"

namespace mpipool::detail {

namespace {
// The error a call fails with when something of it failed on the master: a journal_error as it
// is (it names the file, and callers catch it by its type), anything else named as such.
std::exception_ptr failure_on_master(const std::string& task, const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const journal_error&) {
    return error;
  } catch (...) {
  }
  const item_error what = describe(error);
  return std::make_exception_ptr(
      mpipool::error("mpipool: task '" + task + "' failed on the master: " + what.type_name + ": " + what.message));
}
}  // namespace

dispatcher::dispatcher(const boost::mpi::communicator& comm, const pool_topology& topology,
                       const std::vector<doorbell*>& bells, local_worker* local, bool cores_shared, hooks told)
    : topology_(topology),
      bells_(bells),
      local_(local),
      told_(std::move(told)),
      outbox_(comm, topology, bells),
      workers_(bells.size()),
      // The task thread of a one-rank pool runs one chunk at a time: nothing to prefetch.
      policy_(bells.size(), local ? 1 : dispatch_policy::prefetch_depth, topology.workers().size()) {
  policy_.set_cores_shared(cores_shared);
  for (int slot : topology.slots()) policy_.set_weight(slot, static_cast<std::size_t>(topology.weight(slot)));
  // Plain FIFO grouping, for comparison (bench/parallel_tasks.cpp): a parallel task that cannot
  // get its group holds every later call back at once, with no backfill.
  if (const char* backfill = std::getenv("MPIPOOL_GROUP_BACKFILL"); backfill && std::string(backfill) == "off")
    policy_.set_fifo_grouping(true);
  // Stocking sub-masters sent the caller's chunks one by one, for comparison
  // (scripts/dispatch-rate.sh --stocking).
  if (const char* cut = std::getenv("MPIPOOL_NODE_CHUNKS"); cut && std::string(cut) == "off") node_chunks_ = false;
}

// --- Set-up -------------------------------------------------------------------------------------

void dispatcher::send_setup(const bound_call& initializer, bool items_done_wanted) {
  const bound_call_data* init = initializer.data();
  byte_buffer bytes;
  const std::string_view key = init ? std::string_view(init->task.key) : std::string_view();
  const std::span<const char> state = init ? std::span<const char>(init->task.state) : std::span<const char>();
  begin_chunk(bytes, {setup_job, {0, init ? 1u : 0u}, static_cast<std::uint32_t>(key.size()),
                      static_cast<std::uint32_t>(state.size()), 0, items_done_wanted ? 1u : 0u},
              key, state, {});
  if (init) bytes.insert(bytes.end(), init->args.begin(), init->args.end());
  const auto now = worker_slot::clock::now();
  if (local_) {
    policy_.chunk_sent(0);
    workers_[0].sent(setup_job, now);
    local_->run(std::move(bytes));
    return;
  }
  // A stocking sub-master passes it on to each of its workers.
  for (int rank : topology_.slots()) {
    policy_.chunk_sent(rank);
    workers_[static_cast<std::size_t>(rank)].sent(setup_job, now);
    outbox_.send(rank, tag::chunk, byte_buffer(bytes));
  }
}

void dispatcher::finish_setup(int rank, const results_view& results) {
  worker_slot& worker = workers_[static_cast<std::size_t>(rank)];
  worker.host = std::string(results.host);
  worker.holds.erase(setup_job);
  if (results.header.items.count == 1) {
    decode_outcomes<void>(results.outcomes, 1, [](std::uint32_t) {}, [&](std::uint32_t, item_error failure) {
      if (!first_setup_failure_ || first_setup_failure_->rank > rank)
        first_setup_failure_ = remote_failure{failure.type_name, failure.message, rank, worker.host};
    });
  }
  if (++ready_ < topology_.workers().size()) return;
  // Parallel tasks' groups prefer the ranks of one node: a node is known by its host name,
  // numbered by its lowest rank.
  const std::vector<int>& all = topology_.workers();
  for (int member : all) {
    auto node = all.begin();
    while (host_of(*node) != host_of(member)) ++node;
    policy_.set_node(member, static_cast<std::size_t>(*node));
  }
  setup_done_ = true;
  told_.setup_finished(first_setup_failure_);
}

// --- The hot path: chunks out -------------------------------------------------------------------

job_readiness dispatcher::readiness(std::uint64_t job_id) {
  job& candidate = *jobs_.at(job_id);
  if (candidate.exhausted()) return job_readiness::exhausted;
  return candidate.has_chunks(closing_) ? job_readiness::ready : job_readiness::waiting;
}

bool dispatcher::dispatch(bool closing) {
  closing_ = closing;
  bool any = false;
  while (setup_done_ && policy_.any_worker_free()) {
    const std::optional<std::uint64_t> next =
        policy_.next_job([this](std::uint64_t id) { return readiness(id); });
    if (!next) break;
    const std::uint64_t id = *next;
    job& work = *jobs_.at(id);
    if (work.task().group_width > 1) {
      if (!dispatch_group(id, work)) break;
      any = true;
      continue;
    }
    const std::optional<int> chosen = policy_.worker_for(id, work.chunks_left(policy_.chunks_worth_knowing()));
    if (!chosen) break;  // only busy workers, and prefetch would not pay
    const int rank = *chosen;
    policy_.chunk_taken(id);
    std::optional<byte_buffer> chunk;
    any = true;
    try {
      // A parallel task of one rank is still a group: its task gets a communicator.
      if (work.task().group_width == 1) {
        chunk = build_chunk(rank, id, work, {rank});
      } else {
        const std::size_t most = policy_.chunks_per_message(id, rank);
        chunk = most > 1 && cuts_on_node(rank, work) ? build_node_chunk(rank, id, work, most)
                                                     : build_chunk(rank, id, work, {}, most);
      }
    } catch (...) {  // no memory for the chunk: that call fails, the pool goes on
      fail_job(id, std::current_exception());
      continue;
    }
    if (!chunk) {
      if (jobs_.contains(id) && work.finished()) retire(id);
      continue;
    }
    try {
      deliver_chunk(rank, id, std::move(*chunk));
    } catch (const transport_broken&) {
      throw;  // the worker got part of it: nothing can go on
    } catch (...) {  // the chunk could not be sent: the worker never got it
      fail_job(id, std::current_exception());
      continue;
    }
    delivered(rank, id);
  }
  policy_.end_round();
  return any;
}

bool dispatcher::dispatch_group(std::uint64_t id, job& work) {
  const std::vector<int> members = policy_.group_for(id);
  if (members.empty()) return false;
  policy_.chunk_taken(id);
  std::vector<byte_buffer> chunks;
  try {
    std::optional<byte_buffer> first = build_chunk(members.front(), id, work, members);
    if (!first) {
      if (jobs_.contains(id) && work.finished()) retire(id);
      return true;
    }
    const chunk_view view = read_chunk(*first);
    for (std::size_t m = 1; m < members.size(); ++m) chunks.push_back(copy_chunk_for(members[m], id, work, members, view));
    chunks.insert(chunks.begin(), std::move(*first));
  } catch (...) {  // no memory for the chunk: that call fails, the pool goes on
    fail_job(id, std::current_exception());
    return true;
  }
  for (std::size_t m = 0; m < members.size(); ++m) {
    try {
      deliver_chunk(members[m], id, std::move(chunks[m]));
    } catch (const transport_broken&) {
      throw;
    } catch (...) {
      // Members that got the chunk already would wait for this one in their collectives: only
      // ending the job releases them.
      if (m > 0) throw;
      fail_job(id, std::current_exception());
      return true;
    }
    delivered(members[m], id);
  }
  policy_.group_chunk_sent(members);
  return true;
}

bool dispatcher::take_another(std::uint64_t job_id) {
  if (readiness(job_id) != job_readiness::ready) return false;
  policy_.chunk_taken(job_id);
  return true;
}

std::optional<item_range> dispatcher::next_items(std::uint64_t job_id, job& work, byte_buffer& bytes) {
  try {
    return work.next_chunk(bytes);
  } catch (...) {  // an argument that cannot be serialized
    outbox_.give_back(std::move(bytes));
    fail_job(job_id, std::current_exception());
    return std::nullopt;
  }
}

std::optional<byte_buffer> dispatcher::build_chunk(int rank, std::uint64_t job_id, job& work,
                                                   const std::vector<int>& group, std::size_t most) {
  byte_buffer bytes = begin_chunk_for(rank, job_id, work, {}, group);
  for (std::size_t taken = 0; taken < most; ++taken) {
    const std::size_t at = taken == 0 ? 0 : bytes.size();
    if (taken > 0) {
      if (!take_another(job_id)) break;
      // The worker has the task and its forget list from the bundle's first chunk.
      append_chunk(bytes, {job_id, {}, 0, 0, 0, 0, 0}, {}, {}, {});
    }
    const std::size_t items_at = bytes.size();
    const std::optional<item_range> next = next_items(job_id, work, bytes);
    if (!next) return std::nullopt;
    const item_range items = *next;
    if (items.count == 0) {  // a lazy input ended or failed right there: nothing more to send
      bytes.resize(at);
      break;
    }
    set_chunk_items(bytes, items, at);
    if (most > 1) set_section_size<chunk_header>(bytes, at);
    if (taken == 0 && topology_.is_sub_master(rank))
      set_chunks_per_worker(bytes, static_cast<std::uint32_t>(policy_.chunks_per_worker_message(job_id)));
    // What one more chunk adds to a bundle: its header and items (the first also carries the
    // task and the forget list, once per message). Once a message: a job's chunks are alike.
    if (taken == 0) policy_.record_chunk_bytes(job_id, sizeof(chunk_header) + (bytes.size() - items_at));
  }
  if (bytes.empty()) {
    outbox_.give_back(std::move(bytes));
    return std::nullopt;
  }
  return bytes;
}

bool dispatcher::cuts_on_node(int rank, const job& work) const {
  // The trace shows the caller's chunks, each on its worker's track; a node-chunk's pieces come
  // back put together.
  return node_chunks_ && !trace_ && topology_.is_sub_master(rank) && work.fixed_argument_bytes() > 0;
}

std::optional<byte_buffer> dispatcher::build_node_chunk(int rank, std::uint64_t job_id, job& work, std::size_t most) {
  byte_buffer bytes = begin_chunk_for(rank, job_id, work, {}, {});
  std::size_t at = 0;   // where the node-chunk being built starts
  item_range node{};    // its items so far
  piece_counts_.clear();
  const auto end_node = [&] {
    set_chunk_items(bytes, node, at);
    end_node_chunk(bytes, at, piece_counts_);
    set_section_size<chunk_header>(bytes, at);
  };
  for (std::size_t taken = 0; taken < most; ++taken) {
    if (taken > 0 && !take_another(job_id)) break;
    const std::size_t items_at = bytes.size();
    const std::optional<item_range> next = next_items(job_id, work, bytes);
    if (!next) return std::nullopt;
    const item_range items = *next;
    if (items.count == 0) {  // a lazy input ended or failed right there: nothing more to send
      bytes.resize(items_at);
      break;
    }
    if (taken == 0) {
      node.first = items.first;
      set_chunks_per_worker(bytes, static_cast<std::uint32_t>(policy_.chunks_per_worker_message(job_id)));
      policy_.record_chunk_bytes(job_id, sizeof(chunk_header) + (bytes.size() - items_at));
    } else if (items.first != node.first + node.count || node.count > UINT32_MAX - items.count ||
               piece_counts_.size() == most_node_chunk_pieces) {
      // Not where the node-chunk ends (a resumed journal's items skip those it holds), or past
      // what one may hold: it starts the next node-chunk of the message.
      moved_items_.assign(bytes.begin() + static_cast<std::ptrdiff_t>(items_at), bytes.end());
      bytes.resize(items_at);
      end_node();
      at = bytes.size();
      append_chunk(bytes, {job_id, {}, 0, 0, 0, 0, 0}, {}, {}, {});
      bytes.insert(bytes.end(), moved_items_.begin(), moved_items_.end());
      node = {items.first, 0};
      piece_counts_.clear();
    }
    node.count += items.count;
    piece_counts_.push_back(items.count);
  }
  if (piece_counts_.empty()) {
    outbox_.give_back(std::move(bytes));
    return std::nullopt;
  }
  end_node();
  return bytes;
}

byte_buffer dispatcher::copy_chunk_for(int rank, std::uint64_t job_id, job& work, const std::vector<int>& group,
                                       const chunk_view& first) {
  byte_buffer bytes = begin_chunk_for(rank, job_id, work, first.header.items, group);
  bytes.insert(bytes.end(), first.items.begin(), first.items.end());
  return bytes;
}

byte_buffer dispatcher::begin_chunk_for(int rank, std::uint64_t job_id, const job& work, item_range items,
                                        const std::vector<int>& group) {
  const worker_slot& worker = workers_[static_cast<std::size_t>(rank)];
  const bool needs_task = !worker.holds.contains(job_id);
  const task_definition& task = work.task();
  const std::string_view key = needs_task ? std::string_view(task.key) : std::string_view();
  const std::span<const char> state = needs_task ? std::span<const char>(task.state) : std::span<const char>();
  byte_buffer bytes = outbox_.take_buffer();
  begin_chunk(bytes, {job_id, items, static_cast<std::uint32_t>(key.size()), static_cast<std::uint32_t>(state.size()),
                      static_cast<std::uint32_t>(worker.forget.size()), 0, static_cast<std::uint32_t>(group.size())},
              key, state, worker.forget, group);
  return bytes;
}

void dispatcher::deliver_chunk(int rank, std::uint64_t job_id, byte_buffer&& bytes) {
  raise_injected_fault(fault_point::chunk_send);
  // One chunk, or a bundle: each counts, in the worker's table and the policy's, as a chunk; a
  // node-chunk, as one in the worker's table, and as the caller's chunks it holds in the policy's.
  delivered_.clear();
  for (std::span<const char> rest = bytes; !rest.empty();) {
    const std::span<const char> chunk = take_section<chunk_header>(rest);
    const chunk_header header = frame_cursor(chunk).take<chunk_header>();
    delivered_.push_back({chunk.size(), header.items, std::max<std::uint32_t>(header.pieces, 1)});
  }
  if (local_) local_->run(std::move(bytes));
  else outbox_.send(rank, tag::chunk, std::move(bytes));
  // Only once it is on its way.
  const auto sent = worker_slot::clock::now();
  worker_slot& worker = workers_[static_cast<std::size_t>(rank)];
  bool first = true;
  for (const delivered_chunk& chunk : delivered_) {
    policy_.chunk_sent(rank, job_id, chunk.pieces);
    worker.sent(job_id, sent, chunk.bytes, chunk.items.count, std::exchange(first, false), chunk.items.first,
                chunk.pieces);
  }
}

void dispatcher::delivered(int rank, std::uint64_t job_id) {
  worker_slot& worker = workers_[static_cast<std::size_t>(rank)];
  worker.holds.insert(job_id);
  worker.forget.clear();
}

// --- The hot path: results in -------------------------------------------------------------------

void dispatcher::take_results(int rank, std::span<const char> message) {
  worker_slot& worker = workers_[static_cast<std::size_t>(rank)];
  const auto received = worker_slot::clock::now();
  // A bundle's chunks come back together: each is given an equal share of the time its worker
  // spent on them all, so that the policy's typical time stays a chunk's. A stocking
  // sub-master's workers run its chunks side by side, and it sends what came in one message:
  // a chunk's time is then its worker's own, not the time since the previous results.
  const bool sub_master = topology_.is_sub_master(rank);
  std::uint64_t job = setup_job;
  double busy_seconds = 0;
  std::size_t chunks = 0;
  for (std::span<const char> rest = message; !rest.empty();) {
    const std::span<const char> section = take_section<results_header>(rest);
    if (!sub_master) {  // a worker's results come back in the order its chunks went: its oldest's
      const worker_slot::finished_chunk done = worker.returned(received);
      policy_.chunk_returned(rank);
      if (chunks++ == 0) job = done.job;
      busy_seconds += done.seconds;
      handle_results(rank, rank, section, done, received);
      continue;
    }
    const auto header = frame_cursor(section).take<results_header>();
    const int ran_on = header.worker_rank != 0 ? worker_behind(rank, header.worker_rank) : rank;
    if (header.more_parts != 0) {  // a part of a chunk that the sub-master gave several workers
      if (header.job != setup_job) {  // of a node-chunk: as many of its pieces as more_parts says
        worker.part_returned(header.job, header.items.first, header.more_parts);
        policy_.chunk_returned(rank, header.more_parts);
        policy_.record_chunk_time(header.job, static_cast<double>(header.run_ns) * 1e-9);
      }
      handle_results(rank, ran_on, section, {header.job, 0, 0, header.items.count}, received);
      continue;
    }
    // A sub-master's workers finish its chunks in any order: this one, by job and an item of it
    // (of a node-chunk: its last part).
    worker_slot::finished_chunk done = worker.returned(received, header.job, header.items.first, true);
    done.items = header.items.count;  // of a node-chunk, the last part's alone
    policy_.chunk_returned(rank, done.pieces_out);
    if (done.job != setup_job) policy_.record_chunk_time(done.job, static_cast<double>(header.run_ns) * 1e-9);
    handle_results(rank, ran_on, section, done, received);
  }
  if (job != setup_job && chunks > 0) policy_.record_chunk_time(job, busy_seconds / static_cast<double>(chunks));
}

int dispatcher::worker_behind(int sub_master, int worker_rank) const {
  const int size = static_cast<int>(workers_.size());
  if (worker_rank <= 0 || worker_rank >= size || worker_rank == sub_master ||
      topology_.route_to(worker_rank) != sub_master)
    throw std::runtime_error("mpipool: protocol error: sub-master " + std::to_string(sub_master) +
                             " passed on results from rank " + std::to_string(worker_rank) + ", not one of its workers");
  return worker_rank;
}

void dispatcher::handle_results(int rank, int ran_on, std::span<const char> message,
                                const worker_slot::finished_chunk& done, worker_slot::clock::time_point received) {
  worker_slot& worker = workers_[static_cast<std::size_t>(rank)];
  const std::uint64_t running = done.job;
  results_view results;
  try {
    if (running != setup_job) raise_injected_fault(fault_point::results_decode);
    results = read_results(message);
  } catch (...) {  // a garbled message: the call that worker was running fails with it
    if (running == setup_job) throw;
    // How many items it brought is unknown: as many as went, so that the worker's own count
    // of finished items (items_in_flight) never runs ahead of its chunks.
    worker.items_returned(done.items);
    fail_job(running, std::current_exception());
    return;
  }
  if (results.header.job == setup_job) {
    finish_setup(ran_on, results);
    return;
  }
  worker.items_returned(results.header.items.count);
  policy_.record_run_time(results.header.job, static_cast<double>(results.header.run_ns) * 1e-9);
  // (A sub-master's own results are of chunks cut short in its stock: no worker ran them.)
  if (trace_ && !(ran_on == rank && topology_.is_sub_master(rank)))
    trace_->chunk_done(ran_on, results.header.job, results.header.items, done.bytes, message.size(),
                       results.header.run_ns, received);
  // A parallel task's members other than its rank 0 only ask for more: the group's rank 0
  // reports the outcome the members agreed on.
  if (results.header.group_follower) return;
  auto it = jobs_.find(results.header.job);
  if (it == jobs_.end()) {  // abandoned or dropped: its results go to its journal only, if it has one,
                            // and are counted if it was stopped
    told_.late_items(results.header.job, results.header.items.count);
    journal_late(results.header.job, results.header.items, results.outcomes);
    return;
  }
  std::exception_ptr failure;  // a result that cannot be deserialized, no memory, a journal's error
  try {
    it->second->accept(results.header.items, results.outcomes, {ran_on, workers_[static_cast<std::size_t>(ran_on)].host});
  } catch (...) {
    failure = std::current_exception();
  }
  // Failed after the catch block: the caller may read the error and drop it at once, and the
  // exception object (a journal's, shared) must not be freed by the catch block's end here, in
  // libstdc++'s uninstrumented code, where ThreadSanitizer sees a free racing with the read.
  if (failure) {
    fail_job(results.header.job, failure);
    return;
  }
  if (it->second->finished()) retire(results.header.job);
}

// --- The job table ------------------------------------------------------------------------------

void dispatcher::admit(std::uint64_t id, std::unique_ptr<job> work) {
  if (topology_.stocking() && work->task().group_width > 1) {
    // Its group is made of idle workers that only the sub-masters see.
    work->abandon(std::make_exception_ptr(mpipool::error(
                      "mpipool: task '" + work->task().name +
                      "' is a parallel task (mpipool::ranks), which stocking sub-masters cannot run: use relays "
                      "(pool_options::stock_sub_masters = false, MPIPOOL_SUB_MASTERS=relay)")),
                  true);
    return;
  }
  if (trace_) {
    trace_->job_started(id, work->method(), work->task().name);
    if (display_) display_->job_started(id, *work, trace_recorder::clock::now());
  }
  const bool finished = work->finished();  // an empty map: nothing to send
  policy_.add_job(id, work->takes_turns(), static_cast<std::size_t>(std::max(work->task().group_width, 1)));
  jobs_.emplace(id, std::move(work));
  if (finished) retire(id);
}

void dispatcher::retire(std::uint64_t job_id) {
  std::unique_ptr<job> done = detach(job_id);
  // Gone already: settle_jobs retires several finished jobs in a row, and an earlier one's
  // callback may have dropped a later one (a stream it let go of).
  if (!done) return;
  if (display_) display_->job_finished(job_id, *done, trace_recorder::clock::now());
  try {
    done->publish();  // runs the callbacks, on this thread, before the result is ready
  } catch (...) {     // no memory to assemble the result
    done->abandon(failure_on_master(done->task().name, std::current_exception()), true);
  }
}

std::unique_ptr<job> dispatcher::detach(std::uint64_t job_id) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return nullptr;  // finished already
  std::unique_ptr<job> detached = std::move(it->second);
  jobs_.erase(it);
  policy_.remove_job(job_id);
  for (std::size_t rank = 0; rank < workers_.size(); ++rank) {
    worker_slot& worker = workers_[rank];
    if (worker.holds.erase(job_id) != 0) worker.forget.push_back(job_id);
    // One cancel covers the worker's running chunk and any waiting behind it: the worker
    // remembers the job, and answers a chunk of it that comes later as cut short at once.
    if (!worker.has_chunk_of(job_id)) continue;
    if (local_) local_->cancel(job_id);
    else send_cancel(static_cast<int>(rank), job_id);
  }
  return detached;
}

void dispatcher::drop(std::uint64_t job_id) { keep_journaling(job_id, detach(job_id)); }

void dispatcher::fail_job(std::uint64_t job_id, const std::exception_ptr& error) {
  std::unique_ptr<job> failed = detach(job_id);
  if (!failed) return;
  failed->abandon(failure_on_master(failed->task().name, error), true);
  keep_journaling(job_id, std::move(failed));
}

void dispatcher::send_cancel(int rank, std::uint64_t job_id) {
  byte_buffer bytes = outbox_.take_buffer();
  const auto* raw = reinterpret_cast<const char*>(&job_id);
  bytes.assign(raw, raw + sizeof job_id);
  outbox_.send(rank, tag::cancel, std::move(bytes));
}

void dispatcher::settle_jobs() {
  // A journaled job finishes when its journal is read or synced, which its thread says by a poke.
  std::vector<std::uint64_t> finished;
  for (const auto& [id, work] : jobs_)
    if (work->finished()) finished.push_back(id);
  std::ranges::sort(finished);
  for (std::uint64_t id : finished) retire(id);
  std::erase_if(draining_, [](const auto& entry) { return entry.second->journal_closed(); });
}

std::size_t dispatcher::abandon_all(bool run_callbacks, std::exception_ptr why, std::vector<job_entry> also) {
  policy_.clear_jobs();
  if (!why)
    why = std::make_exception_ptr(pool_terminated("mpipool: the pool was terminated before this result was ready"));
  for (auto& [id, work] : jobs_) also.emplace_back(id, std::move(work));
  jobs_.clear();
  for (auto& [id, work] : also) work->abandon(why, run_callbacks);
  if (local_) {
    local_->stop_all();
  } else {
    // Every chunk in flight, running or waiting in the worker's queue, is cut short.
    for (std::size_t rank = 1; rank < workers_.size(); ++rank) {
      for (std::uint64_t job_id : workers_[rank].jobs_in_flight()) send_cancel(static_cast<int>(rank), job_id);
    }
  }
  // What the chunks cut short bring back still goes to the journals.
  const std::size_t count = also.size();
  for (auto& [id, work] : also) keep_journaling(id, std::move(work));
  return count;
}

void dispatcher::kill_running_items() {
  if (local_) {
    local_->kill_running();
    return;
  }
  for (std::size_t rank = 1; rank < workers_.size(); ++rank)
    if (!workers_[rank].idle()) send_cancel(static_cast<int>(rank), every_job);
}

std::vector<dispatcher::job_entry> dispatcher::take_jobs() {
  std::vector<job_entry> taken;
  for (auto& [id, work] : jobs_) taken.emplace_back(id, std::move(work));
  jobs_.clear();
  return taken;
}

bool dispatcher::chunk_in_flight(std::uint64_t job_id) const {
  return std::ranges::any_of(workers_, [&](const worker_slot& worker) { return worker.has_chunk_of(job_id); });
}

void dispatcher::keep_journaling(std::uint64_t job_id, std::unique_ptr<job> work) {
  if (!work || !work->keeps_journal()) return;
  if (!chunk_in_flight(job_id)) work->close_journal();
  draining_.emplace(job_id, std::move(work));
}

void dispatcher::journal_late(std::uint64_t job_id, item_range items, std::span<const char> outcomes) {
  auto it = draining_.find(job_id);
  if (it == draining_.end()) return;  // no journal: its results are no longer wanted
  it->second->journal_late(items, outcomes);
  if (!chunk_in_flight(job_id)) it->second->close_journal();
}

// --- What the master's wait depends on ----------------------------------------------------------

dispatcher::workers_state dispatcher::workers_outlook(double seconds) const {
  bool stocked = topology_.relays().empty();
  const auto typical_seconds = [this](std::uint64_t job) { return policy_.typical_chunk_seconds(job); };
  for (std::size_t rank = 1; rank < workers_.size(); ++rank) {
    const worker_slot& worker = workers_[rank];
    if (!worker.idle() && !bells_[rank]) return workers_state::unheard;
    if (!stocked || worker.messages_in_flight() < 2) {
      stocked = false;
      continue;
    }
    stocked = worker.queued_at_least(seconds, typical_seconds);
  }
  return stocked ? workers_state::stocked : workers_state::other;
}

}  // namespace mpipool::detail
