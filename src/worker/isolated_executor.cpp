#include "worker/isolated_executor.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "faults/crash_report.hpp"
#include "worker/executor.hpp"
#include "mpipool/detail/outcomes.hpp"
#include "mpipool/options.hpp"

namespace mpipool::detail {

namespace {

template <class T>
std::span<const char> bytes_of(const T& value) {
  return {reinterpret_cast<const char*>(&value), sizeof value};
}

std::size_t outcomes_offset(const byte_buffer& results) {
  return static_cast<std::size_t>(read_results(results).outcomes.data() - results.data());
}

// The flags a helper is started with.
constexpr std::uint32_t timed_flag = 1;  // note when each item starts, for a time limit

// The helper's whole life: run the chunks the rank sends, publishing each item's outcome in
// the area as soon as it is done, until the rank closes the channel. With `timed`, it also
// notes when each item starts, for the rank's time limits. (SIGINT and SIGTERM do nothing to
// it: see fork_server.cpp.)
void serve_in_helper(int fd, outcome_area& area, bool timed) {
  crash_report_in_helper();
  task_executor executor({});  // the host it would name is the rank's to say
  executor.ask_before_every_item();
  executor.count_decoded_in(area.decoded_counter());
  byte_buffer request;
  byte_buffer results;
  byte_buffer frame;
  for (;;) {
    frame_kind kind{};
    if (read_frame(fd, kind, request, -1) != read_status::frame) return;
    std::uint32_t skip = 0;
    std::uint32_t unreadable_count = 0;
    if (kind != frame_kind::run || request.size() < sizeof skip + sizeof unreadable_count) continue;
    std::memcpy(&skip, request.data(), sizeof skip);
    std::memcpy(&unreadable_count, request.data() + sizeof skip, sizeof unreadable_count);
    const std::size_t unreadable_end = sizeof skip + sizeof unreadable_count + unreadable_count * sizeof(std::uint32_t);
    if (request.size() < unreadable_end) continue;
    std::vector<std::uint32_t> unreadable(unreadable_count);
    if (unreadable_count > 0)  // memcpy to an empty vector's null data() is undefined
      std::memcpy(unreadable.data(), request.data() + sizeof skip + sizeof unreadable_count,
                  unreadable_count * sizeof(std::uint32_t));
    const std::span<const char> message = std::span<const char>(request).subspan(unreadable_end);
    std::size_t start = 0;          // where the outcomes start in `results`, once known
    std::size_t sent = 0;           // outcome bytes handed on so far
    std::uint32_t finished = 0;     // items of this run done so far
    if (timed) area.mark_running(0);
    // Asked before each item but the first (and once before any): hands on the outcome of the
    // item just done, with no system call unless the area is full.
    const std::function<bool(std::uint64_t)> after_item = [&](std::uint64_t) {
      if (start == 0) start = outcomes_offset(results);
      const std::span<const char> fresh = std::span<const char>(results).subspan(start + sent);
      if (!fresh.empty()) {  // an item is done (every outcome has bytes)
        if (area.fits(fresh.size())) {
          area.publish(fresh);
        } else {
          frame_kind answer{};
          if (!write_frame(fd, frame_kind::drain, {fresh}) || read_frame(fd, answer, frame, -1) != read_status::frame ||
              answer != frame_kind::drained)
            std::_Exit(EXIT_SUCCESS);  // the rank is gone
        }
        sent += fresh.size();
        if (timed) area.mark_running(++finished);
      }
      return area.stop_requested();
    };
    executor.execute(message, results, after_item, skip, unreadable);
    const results_view done = read_results(results);
    const std::uint32_t count = done.header.items.count;
    const std::uint8_t reset = executor.last_chunk_failed_whole() ? 1 : 0;
    const std::span<const char> rest = reset ? done.outcomes : done.outcomes.subspan(sent);
    if (!write_frame(fd, frame_kind::done, {bytes_of(count), bytes_of(reset), rest})) return;
    std::fflush(nullptr);
  }
}

std::string signal_text(int signal) {
  const char* abbreviation = ::sigabbrev_np(signal);
  return std::to_string(signal) + (abbreviation ? std::string(" (SIG") + abbreviation + ")" : std::string());
}

item_error crashed(const process_end& end, bool decoding) {
  std::string message = end.signal != 0 ? "the task's process was killed by signal " + signal_text(end.signal)
                                        : "the task's process exited with status " + std::to_string(end.exit_status);
  if (decoding) message += " as it decoded the item's arguments";
  return {crashed_type_name, std::move(message), crash_code(end)};
}

item_error timed_out(std::uint64_t index, std::chrono::milliseconds limit) {
  return {timeout_type_name,
          "item " + std::to_string(index) + " ran longer than the task_timeout of " + std::to_string(limit.count()) +
              " ms; its process was killed",
          limit.count()};
}

item_error initializer_timed_out(std::chrono::milliseconds limit) {
  return {timeout_type_name,
          "the initializer ran longer than the initializer_timeout of " + std::to_string(limit.count()) +
              " ms; its process was killed",
          limit.count()};
}

}  // namespace

isolation_settings isolation_from(const pool_options& options) {
  isolation_settings settings{options.isolated, options.max_tasks_per_child, options.task_timeout,
                              options.initializer_timeout};
  const char* env = std::getenv("MPIPOOL_ISOLATED");
  if (env != nullptr && std::string_view(env) == "1") settings.isolated = true;
  if (settings.max_tasks_per_child > 0 || settings.task_timeout.count() > 0 || settings.initializer_timeout.count() > 0)
    settings.isolated = true;
  return settings;
}

void run_helper_process(int channel, int shared_memory, std::uint32_t flags) {
  outcome_area area(outcome_area::attach{shared_memory});
  serve_in_helper(channel, area, (flags & timed_flag) != 0);
}

std::int64_t crash_code(const process_end& end) { return end.signal != 0 ? end.signal : -1 - std::int64_t{end.exit_status}; }

process_end decode_crash(std::int64_t code) {
  if (code > 0) return {static_cast<int>(code), -1};
  return {0, static_cast<int>(-1 - code)};
}

isolated_executor::isolated_executor(std::string host, isolation_settings settings)
    : host_(std::move(host)), settings_(settings) {}

isolated_executor::~isolated_executor() = default;

int isolated_executor::wait_ms(bool probing, std::chrono::milliseconds limit) const {
  int wait = probing ? static_cast<int>(probe_interval.count()) : -1;
  if (limit.count() > 0) {
    const auto left = limit - area_.running().for_how_long;
    const int left_ms = static_cast<int>(std::max<std::int64_t>(left.count(), 0));
    wait = wait < 0 ? left_ms : std::min(wait, left_ms);
  }
  return wait;
}

void isolated_executor::execute(std::span<const char> message, byte_buffer& results,
                                const std::function<bool(std::uint64_t job)>& should_stop) {
  // The chunk's time as the worker rank saw it, helper restarts included (see executor.cpp).
  const auto began = std::chrono::steady_clock::now();
  const chunk_view chunk = read_chunk(message);
  for (std::uint64_t job : chunk.forget) {
    known_.erase(job);
    if (helper_knows_.erase(job) > 0) forget_.push_back(job);
  }
  const std::uint64_t job = chunk.header.job;
  if (!chunk.key.empty()) known_[job] = {std::string(chunk.key), byte_buffer(chunk.state.begin(), chunk.state.end())};
  unreadable_.clear();
  const bool setup = job == setup_job;
  begin_results(results, {job, {chunk.header.items.first, 0}, setup ? std::uint32_t(host_.size()) : 0u},
                setup ? std::string_view(host_) : std::string_view());
  const std::uint32_t count = chunk.header.items.count;
  std::uint32_t done = 0;
  if (!chunk.group.empty()) {
    // A helper process never calls MPI, so it cannot be a member of a parallel task's group.
    outcome_writer out(results);
    for (; done < count; ++done)
      out.failure({"mpipool::error", "parallel tasks (mpipool::ranks) cannot run on isolated workers: a helper "
                                     "process does not call MPI; run this call on a pool without isolation", 0});
  } else if (count > 0 && (setup || !should_stop(job))) {
    // A chunk cancelled before it started (it waited behind another) is cut short at once.
    done = run_items(chunk, results, should_stop);
  }
  set_results_count(results, done);
  const auto ran = std::chrono::steady_clock::now() - began;
  set_results_run_time(results, static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(ran).count()));
  if (setup) {
    known_.erase(setup_job);
    helper_knows_.erase(setup_job);  // a helper drops the set-up task once it ran
    if (count > 0) setup_chunk_.assign(message.begin(), message.end());
  } else if (count > 0 && settings_.max_tasks_per_child > 0 && ++tasks_run_ >= settings_.max_tasks_per_child) {
    helper_.reset();  // the next chunk gets a fresh helper
  }
}

std::optional<item_error> isolated_executor::start_helper() {
  if (settings_.server == nullptr) throw std::logic_error("mpipool: isolated workers without a fork server");
  const bool timed = settings_.task_timeout.count() > 0 || settings_.initializer_timeout.count() > 0;
  helper_.emplace(*settings_.server, area_.fd(), timed ? timed_flag : 0);
  helper_knows_.clear();
  forget_.clear();
  tasks_run_ = 0;
  if (setup_chunk_.empty()) return std::nullopt;
  // As Python runs the initializer in each new worker process.
  byte_buffer outcome;
  std::uint32_t ran = 0;
  const std::uint32_t skip = 0;
  const std::uint32_t unreadable = 0;
  area_.reset_for_run();
  write_frame(helper_->fd(), frame_kind::run, {bytes_of(skip), bytes_of(unreadable), std::span<const char>(setup_chunk_)});
  const run_end end = collect_run(setup_job, nullptr, settings_.initializer_timeout, outcome, ran);
  if (end.how == run_end::killed) return std::nullopt;  // terminated: no helper now, and no failure
  std::optional<item_error> failure;
  if (end.how == run_end::timed_out) failure = initializer_timed_out(settings_.initializer_timeout);
  else if (end.how == run_end::died) failure = crashed(end.process, false);
  else if (!outcome.empty())
    decode_outcomes<void>(outcome, 1, [](std::uint32_t) {}, [&](std::uint32_t, item_error error) { failure = std::move(error); });
  if (!failure) return std::nullopt;
  helper_.reset();
  return item_error{"mpipool::initializer_error",
                    "the initializer failed in a new process for the tasks, so this item did not run: " +
                        failure->type_name + ": " + failure->message};
}

bool isolated_executor::send_chunk(const chunk_view& chunk, std::uint32_t skip) {
  const std::uint64_t job = chunk.header.job;
  chunk_header header = chunk.header;
  header.section_size = 0;  // the helper gets this chunk alone
  const known_task* task = nullptr;
  if (!helper_knows_.contains(job)) {
    auto it = known_.find(job);
    if (it != known_.end()) task = &it->second;
  }
  header.key_size = task ? static_cast<std::uint32_t>(task->key.size()) : 0;
  header.state_size = task ? static_cast<std::uint32_t>(task->state.size()) : 0;
  header.forget_count = static_cast<std::uint32_t>(forget_.size());
  begin_chunk(chunk_prefix_, header, task ? std::string_view(task->key) : std::string_view(),
              task ? std::span<const char>(task->state) : std::span<const char>(), forget_);
  forget_.clear();
  if (task) helper_knows_.insert(job);
  area_.reset_for_run();
  const auto unreadable_count = static_cast<std::uint32_t>(unreadable_.size());
  const std::span<const char> unreadable(reinterpret_cast<const char*>(unreadable_.data()),
                                         unreadable_.size() * sizeof(std::uint32_t));
  return write_frame(helper_->fd(), frame_kind::run,
                     {bytes_of(skip), bytes_of(unreadable_count), unreadable, std::span<const char>(chunk_prefix_),
                      chunk.items});
}

isolated_executor::run_end isolated_executor::collect_run(std::uint64_t job,
                                                          const std::function<bool(std::uint64_t job)>* should_stop,
                                                          std::chrono::milliseconds limit, byte_buffer& results,
                                                          std::uint32_t& done) {
  const std::size_t run_start = results.size();
  std::uint32_t taken = 0;  // outcomes taken from the area at drains
  // Appends what the area holds to the results; how many outcomes that was.
  auto take_area = [&] {
    const std::span<const char> held = area_.published();
    results.insert(results.end(), held.begin(), held.end());
    area_.clear();
    return outcome_area::count_outcomes(held);
  };
  bool probing = should_stop != nullptr;  // wake now and then to ask, while a long item runs
  // The initializer of a replacement helper too: it runs for the chunk.
  const bool watching_for_kill = static_cast<bool>(kill_asked_);
  for (;;) {
    frame_kind kind{};
    const read_status status =
        read_frame(helper_->fd(), kind, frame_, wait_ms(probing || watching_for_kill, limit), helper_->pidfd());
    if (status == read_status::timed_out) {
      if (watching_for_kill && kill_asked_()) {
        // Terminated: the item running has no outcome, and no helper is started for the rest.
        helper_->kill();
        helper_.reset();
        return {run_end::killed, taken + take_area(), {}};
      }
      if (probing && (*should_stop)(job)) {
        probing = false;  // asked once: the helper ends the chunk after the item it runs
        area_.request_stop();
      }
      if (limit.count() == 0) continue;
      const outcome_area::running_item running = area_.running();
      if (running.for_how_long < limit) continue;
      // Done already, and the next not marked yet: not late.
      if (running.index < taken + outcome_area::count_outcomes(area_.published())) continue;
      helper_->kill();
      helper_.reset();
      take_area();
      // It may have finished as it was killed: it is late all the same.
      const std::span<const char> outcomes = std::span<const char>(results).subspan(run_start);
      results.resize(run_start + outcome_area::outcomes_length(outcomes, running.index));
      return {run_end::timed_out, running.index, {}};
    }
    if (status == read_status::frame && kind == frame_kind::drain) {
      taken += take_area();
      results.insert(results.end(), frame_.begin(), frame_.end());
      ++taken;
      write_frame(helper_->fd(), frame_kind::drained, {});
      continue;
    }
    if (status == read_status::frame && kind == frame_kind::done) {
      std::uint8_t reset = 0;
      const std::size_t header = sizeof done + sizeof reset;
      if (frame_.size() < header) throw std::runtime_error("mpipool: truncated message from a helper process");
      std::memcpy(&done, frame_.data(), sizeof done);
      std::memcpy(&reset, frame_.data() + sizeof done, sizeof reset);
      if (reset) {
        results.resize(run_start);
        area_.clear();
      } else {
        take_area();
      }
      results.insert(results.end(), frame_.begin() + static_cast<std::ptrdiff_t>(header), frame_.end());
      return {run_end::done, 0, {}};
    }
    // The helper died: exactly the outcomes it published are whole. The next item's arguments
    // were being decoded if the helper had not counted them decoded.
    const process_end end = helper_->reap();
    helper_.reset();
    const std::uint32_t complete = taken + take_area();
    return {run_end::died, complete, end, area_.decoded() <= run_skip_ + complete};
  }
}

std::uint32_t isolated_executor::run_items(const chunk_view& chunk, byte_buffer& results,
                                           const std::function<bool(std::uint64_t job)>& should_stop) {
  const std::uint64_t job = chunk.header.job;
  const std::uint32_t count = chunk.header.items.count;
  const bool may_stop = job != setup_job;
  std::uint32_t position = 0;  // the first item without an outcome
  while (position < count) {
    if (!helper_) {
      if (std::optional<item_error> unstartable = start_helper()) {
        outcome_writer out(results);
        for (; position < count; ++position) out.failure(*unstartable);
        break;
      }
      if (!helper_) return position;  // terminated while the initializer ran
    }
    send_chunk(chunk, position);  // if the helper is gone, collecting says so
    run_skip_ = position;
    std::uint32_t done = 0;
    const run_end end = collect_run(job, may_stop ? &should_stop : nullptr, limit_of(job), results, done);
    // All of them, or fewer: the chunk was stopped (before its first item: `done` is 0).
    if (end.how == run_end::done) return std::max(done, position);
    // Terminated: cut short after the items done.
    if (end.how == run_end::killed) return position + end.complete;
    // The helper died in item `position`, or ran out of time in it.
    position += end.complete;
    const bool unreadable = end.how == run_end::died && end.decoding;
    if (unreadable) unreadable_.push_back(position);  // a new helper must not decode it again
    if (end.how != run_end::timed_out) outcome_writer(results).failure(crashed(end.process, unreadable));
    else if (job == setup_job) outcome_writer(results).failure(initializer_timed_out(settings_.initializer_timeout));
    else outcome_writer(results).failure(timed_out(chunk.header.items.first + position, settings_.task_timeout));
    ++position;
    if (position < count && may_stop && should_stop(job)) return position;
  }
  return position;
}

}  // namespace mpipool::detail
