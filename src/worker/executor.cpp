#include "worker/executor.hpp"

#include <chrono>
#include <exception>
#include <optional>

#include "mpipool/errors.hpp"

#include "mpipool/detail/outcomes.hpp"
#include "worker/group_communicators.hpp"

namespace mpipool::detail {

task_executor::held_task task_executor::load(std::string_view key, std::span<const char> state) const {
  held_task task;
  task.name = std::string(key);
  task.vtable = task_registry::instance().find_task(key);
  if (task.vtable == nullptr) {
    task.broken = item_error{"mpipool::registration_error",
                             "task " + task.name + " is not known on this rank; do all ranks run the "
                             "same program?"};
    return task;
  }
  try {
    task.callable = task.vtable->make(state);
    task.name = task.vtable->name(task.callable.get());
  } catch (...) {
    task.broken = describe(std::current_exception());
  }
  return task;
}

task_group& task_executor::group_for(const std::vector<int>& members) {
  if (groups_) return groups_->of(members);
  if (members.size() == 1) return group_communicators::alone(host_);
  throw mpipool::error("mpipool: protocol error: a group of several ranks sent to a one-rank pool");
}

void task_executor::execute(std::span<const char> message, byte_buffer& results,
                            const std::function<bool(std::uint64_t job)>& should_stop, std::uint32_t skip,
                            std::span<const std::uint32_t> unreadable) {
  // Measured here, so that it covers every way a chunk is run (a worker rank, the master's task
  // thread). Two clock reads per chunk: next to nothing beside a message.
  const auto began = std::chrono::steady_clock::now();
  const chunk_view chunk = read_chunk(message);
  for (std::uint64_t job : chunk.forget) tasks_.erase(job);
  const std::uint64_t job = chunk.header.job;
  if (!chunk.key.empty()) tasks_[job] = load(chunk.key, chunk.state);
  held_task& task = tasks_[job];
  if (task.vtable == nullptr && !task.broken)
    task.broken = item_error{"mpipool::error", "protocol error: chunk for an unknown job"};

  const bool setup = job == setup_job;
  begin_results(results, {job, {chunk.header.items.first, 0}, setup ? std::uint32_t(host_.size()) : 0u},
                setup ? std::string_view(host_) : std::string_view());
  const std::size_t outcomes_start = results.size();
  const std::uint32_t count = chunk.header.items.count;

  failed_whole_ = false;
  auto fail_all = [&](const item_error& error) {
    failed_whole_ = true;
    results.resize(outcomes_start);
    outcome_writer out(results);
    for (std::uint32_t i = skip; i < count; ++i) out.failure(error);
    return count;
  };

  // A parallel task's group runs its chunk whole: a member that stopped early would leave the
  // others waiting in their next collective.
  const bool grouped = !chunk.group.empty();
  static const std::function<bool(std::uint64_t)> never_stop = [](std::uint64_t) { return false; };
  const std::function<bool(std::uint64_t)>& stop_asked = grouped ? never_stop : should_stop;
  std::uint32_t done = 0;
  bool follower = false;
  if (!setup && count > 0 && stop_asked(job)) {
    done = 0;  // cancelled before it started (it waited behind another chunk): cut short at once
  } else if (task.broken) {
    done = fail_all(*task.broken);
  } else {
    stop_poll stop(stop_asked, job, every_item_);
    auto& running = current_task();
    running.name.store(task.name.c_str());
    running.active.store(true);
    try {
      std::optional<group_scope> in_group;
      if (grouped) {
        task_group& group = group_for(chunk.group);
        in_group.emplace(group);
        follower = chunk.group.size() > 1 && group.pool_rank != chunk.group.front();
      }
      done = task.vtable->run(task.callable.get(),
                              {chunk.header.items.first, count, chunk.items, results, stop, skip, unreadable, decoded_});
    } catch (...) {
      // Items fail alone; this is a malformed chunk, no memory for the results, or a group
      // whose communicator could not be made.
      done = fail_all(describe(std::current_exception()));
    }
    running.active.store(false);
  }
  if (follower) set_results_group_follower(results);
  set_results_count(results, done);
  const auto ran = std::chrono::steady_clock::now() - began;
  set_results_run_time(results, static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(ran).count()));
  if (setup) tasks_.erase(setup_job);
}

}  // namespace mpipool::detail
