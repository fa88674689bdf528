#include "mpipool/detail/isolated_executor.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "mpipool/detail/crash_report.hpp"
#include "mpipool/detail/executor.hpp"
#include "mpipool/detail/outcomes.hpp"
#include "mpipool/options.hpp"

namespace mpipool::detail {

namespace {

constexpr std::uint64_t every_job = ~std::uint64_t{0};

template <class T>
std::span<const char> bytes_of(const T& value) {
  return {reinterpret_cast<const char*>(&value), sizeof value};
}

std::size_t outcomes_offset(const byte_buffer& results) {
  return static_cast<std::size_t>(read_results(results).outcomes.data() - results.data());
}

// Whether the rank asked the helper to stop `job`'s chunk. A stop for another job came after
// that job's chunk had ended: it is dropped.
bool stop_requested(int fd, std::uint64_t job, byte_buffer& frame) {
  while (frame_waiting(fd)) {
    frame_kind kind{};
    if (read_frame(fd, kind, frame, 0) != read_status::frame) std::_Exit(EXIT_SUCCESS);  // the rank is gone
    if (kind != frame_kind::stop || frame.size() != sizeof(std::uint64_t)) continue;
    std::uint64_t stopped = 0;
    std::memcpy(&stopped, frame.data(), sizeof stopped);
    if (stopped == job || stopped == every_job) return true;
  }
  return false;
}

// The helper's whole life: run the chunks the rank sends, reporting each item's outcome as
// soon as it is done, until the rank closes the channel.
void serve_in_helper(int fd, const std::string& host) {
  crash_report_in_helper();
  // Ctrl-C or a time limit ends the helper with the job; the rank's own handlers are not for it.
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  task_executor executor(host);
  executor.ask_before_every_item();
  byte_buffer request;
  byte_buffer results;
  byte_buffer frame;
  for (;;) {
    frame_kind kind{};
    if (read_frame(fd, kind, request, -1) != read_status::frame) return;
    if (kind != frame_kind::run || request.size() < sizeof(std::uint32_t)) continue;  // a late stop
    std::uint32_t skip = 0;
    std::memcpy(&skip, request.data(), sizeof skip);
    const std::span<const char> message = std::span<const char>(request).subspan(sizeof skip);
    const std::uint64_t job = read_chunk(message).header.job;
    std::size_t sent = 0;  // outcome bytes sent so far
    bool stopped = false;
    const std::function<bool(std::uint64_t)> after_item = [&](std::uint64_t) {
      const std::size_t start = outcomes_offset(results);
      if (results.size() - start > sent) {  // an item is done (every outcome has bytes)
        if (!write_frame(fd, frame_kind::item, {std::span<const char>(results).subspan(start + sent)})) std::_Exit(EXIT_SUCCESS);
        sent = results.size() - start;
      }
      if (!stopped) stopped = stop_requested(fd, job, frame);
      return stopped;
    };
    executor.execute(message, results, after_item, skip);
    const results_view done = read_results(results);
    const std::uint32_t count = done.header.items.count;
    const std::uint8_t reset = done.outcomes.size() < sent ? 1 : 0;  // rewritten: the chunk failed whole
    const std::span<const char> rest = reset ? done.outcomes : done.outcomes.subspan(sent);
    if (!write_frame(fd, frame_kind::done, {bytes_of(count), bytes_of(reset), rest})) return;
    std::fflush(nullptr);
  }
}

std::string signal_text(int signal) {
  const char* abbreviation = ::sigabbrev_np(signal);
  return std::to_string(signal) + (abbreviation ? std::string(" (SIG") + abbreviation + ")" : std::string());
}

item_error crashed(const process_end& end) {
  std::string message = end.signal != 0 ? "the task's process was killed by signal " + signal_text(end.signal)
                                        : "the task's process exited with status " + std::to_string(end.exit_status);
  return {crashed_type_name, std::move(message), crash_code(end)};
}

item_error timed_out(std::uint64_t index, std::chrono::milliseconds limit) {
  return {timeout_type_name,
          "item " + std::to_string(index) + " ran longer than the task_timeout of " + std::to_string(limit.count()) +
              " ms; its process was killed",
          limit.count()};
}

}  // namespace

isolation_settings isolation_from(const pool_options& options) {
  isolation_settings settings{options.isolated, options.max_tasks_per_child, options.task_timeout};
  const char* env = std::getenv("MPIPOOL_ISOLATED");
  if (env != nullptr && std::string_view(env) == "1") settings.isolated = true;
  if (settings.max_tasks_per_child > 0 || settings.task_timeout.count() > 0) settings.isolated = true;
  return settings;
}

std::int64_t crash_code(const process_end& end) { return end.signal != 0 ? end.signal : -1 - std::int64_t{end.exit_status}; }

process_end decode_crash(std::int64_t code) {
  if (code > 0) return {static_cast<int>(code), -1};
  return {0, static_cast<int>(-1 - code)};
}

isolated_executor::isolated_executor(std::string host, isolation_settings settings)
    : host_(std::move(host)), settings_(settings) {}

isolated_executor::~isolated_executor() = default;

int isolated_executor::poll_timeout() const {
  return settings_.task_timeout.count() > 0 ? static_cast<int>(settings_.task_timeout.count()) : -1;
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
  const bool setup = job == setup_job;
  begin_results(results, {job, {chunk.header.items.first, 0}, setup ? std::uint32_t(host_.size()) : 0u},
                setup ? std::string_view(host_) : std::string_view());
  const std::uint32_t count = chunk.header.items.count;
  std::uint32_t done = 0;
  // A chunk cancelled before it started (it waited behind another) is cut short at once.
  if (count > 0 && (setup || !should_stop(job))) done = run_items(chunk, results, should_stop);
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
  helper_.emplace([host = host_](int fd) { serve_in_helper(fd, host); });
  helper_knows_.clear();
  forget_.clear();
  tasks_run_ = 0;
  if (setup_chunk_.empty()) return std::nullopt;
  // As Python runs the initializer in each new worker process.
  const std::uint32_t skip = 0;
  write_frame(helper_->fd(), frame_kind::run, {bytes_of(skip), std::span<const char>(setup_chunk_)});
  frame_kind kind{};
  std::optional<item_error> failure;
  for (;;) {
    const read_status status = read_frame(helper_->fd(), kind, frame_, poll_timeout());
    if (status == read_status::frame && kind == frame_kind::item) continue;
    if (status == read_status::frame && kind == frame_kind::done) {
      const std::size_t header = sizeof(std::uint32_t) + sizeof(std::uint8_t);
      if (frame_.size() > header)
        decode_outcomes<void>(std::span<const char>(frame_).subspan(header), 1, [](std::uint32_t) {},
                              [&](std::uint32_t, item_error error) { failure = std::move(error); });
      break;
    }
    const process_end end = status == read_status::timed_out ? helper_->kill() : helper_->reap();
    failure = status == read_status::timed_out ? timed_out(0, settings_.task_timeout) : crashed(end);
    break;
  }
  if (!failure) return std::nullopt;
  helper_.reset();
  return item_error{"mpipool::initializer_error",
                    "the initializer failed in a new process for the tasks, so this item did not run: " +
                        failure->type_name + ": " + failure->message};
}

bool isolated_executor::send_chunk(const chunk_view& chunk, std::uint32_t skip) {
  const std::uint64_t job = chunk.header.job;
  chunk_header header = chunk.header;
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
  return write_frame(helper_->fd(), frame_kind::run,
                     {bytes_of(skip), std::span<const char>(chunk_prefix_), chunk.items});
}

std::uint32_t isolated_executor::run_items(const chunk_view& chunk, byte_buffer& results,
                                           const std::function<bool(std::uint64_t job)>& should_stop) {
  const std::uint64_t job = chunk.header.job;
  const std::uint32_t count = chunk.header.items.count;
  std::uint32_t position = 0;  // the first item without an outcome
  while (position < count) {
    if (!helper_) {
      if (std::optional<item_error> unstartable = start_helper()) {
        outcome_writer out(results);
        for (; position < count; ++position) out.failure(*unstartable);
        break;
      }
    }
    send_chunk(chunk, position);  // if the helper is gone, reading says so
    const std::uint32_t run_first = position;
    const std::size_t run_start = results.size();
    bool stop_sent = false;
    for (;;) {
      frame_kind kind{};
      const read_status status = read_frame(helper_->fd(), kind, frame_, poll_timeout());
      if (status == read_status::frame && kind == frame_kind::item) {
        results.insert(results.end(), frame_.begin(), frame_.end());
        ++position;
        if (!stop_sent && job != setup_job && should_stop(job)) {
          stop_sent = true;
          write_frame(helper_->fd(), frame_kind::stop, {bytes_of(job)});
        }
        continue;
      }
      if (status == read_status::frame && kind == frame_kind::done) {
        std::uint32_t done = 0;
        std::uint8_t reset = 0;
        const std::size_t header = sizeof done + sizeof reset;
        if (frame_.size() < header) throw std::runtime_error("mpipool: truncated message from a helper process");
        std::memcpy(&done, frame_.data(), sizeof done);
        std::memcpy(&reset, frame_.data() + sizeof done, sizeof reset);
        if (reset) results.resize(run_start);
        results.insert(results.end(), frame_.begin() + static_cast<std::ptrdiff_t>(header), frame_.end());
        // All of them, or fewer: the chunk was stopped (before its first item: `done` is 0).
        return std::max(done, run_first);
      }
      // The helper died in item `position`, or ran out of time in it.
      const bool late = status == read_status::timed_out;
      const process_end end = late ? helper_->kill() : helper_->reap();
      helper_.reset();
      outcome_writer(results).failure(late ? timed_out(chunk.header.items.first + position, settings_.task_timeout)
                                           : crashed(end));
      ++position;
      if (position < count && job != setup_job && should_stop(job)) return position;
      break;  // on in a new helper
    }
  }
  return position;
}

}  // namespace mpipool::detail
