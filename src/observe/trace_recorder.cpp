#include "observe/trace_recorder.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace mpipool::detail {

namespace {

// An idle spell this short between two busy turns (a spin that found nothing) is drawn as part
// of the busy span around it, so that a busy master is one span, not thousands.
constexpr std::int64_t shortest_idle_span_ns = 20'000;

std::string json_escaped(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char code[8];
          std::snprintf(code, sizeof code, "\\u%04x", static_cast<unsigned>(c));
          out += code;
        } else {
          out += c;
        }
    }
  }
  return out;
}

// Chrome's trace format counts in microseconds.
double us(std::int64_t ns) { return static_cast<double>(ns) / 1000.0; }
double seconds(std::int64_t ns) { return static_cast<double>(ns) / 1e9; }
double share(std::int64_t part, std::int64_t whole) {
  return whole > 0 ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

// The master's track comes first; worker rank r is track r + 1 (with one rank, the master's own
// task thread is "rank 0").
int track_of(int rank) { return rank + 1; }

}  // namespace

trace_recorder::trace_recorder(std::string path, std::size_t ranks, clock::time_point start)
    : path_(std::move(path)), start_(start), workers_(ranks) {}

std::int64_t trace_recorder::since_start(clock::time_point t) const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t - start_).count();
}

void trace_recorder::job_started(std::uint64_t job, std::string_view method, std::string_view task) {
  jobs_.emplace(job, job_name{std::string(method), std::string(task)});
}

void trace_recorder::chunk_done(int rank, std::uint64_t job, item_range items, std::uint64_t bytes_out,
                                std::uint64_t bytes_in, std::uint64_t run_ns, clock::time_point received) {
  worker_totals& totals = workers_.at(static_cast<std::size_t>(rank));
  totals.busy_ns += run_ns;
  totals.items += items.count;
  ++totals.chunks;
  if (run_ns >= slowest_.run_ns) slowest_ = {run_ns, job, items.first, rank};
  if (path_.empty()) return;
  if (chunks_.size() >= most_events) {
    dropped_events_ = true;
    return;
  }
  chunks_.push_back({job, items.first, bytes_out, bytes_in, since_start(received), run_ns, items.count, rank});
}

void trace_recorder::master_turn(bool progressed, clock::time_point now) {
  const std::int64_t end = since_start(now);
  const std::int64_t began = last_turn_end_ns_;
  last_turn_end_ns_ = end;
  if (progressed) master_busy_ns_ += end - began;
  if (path_.empty()) return;
  if (!master_.empty() && master_.back().busy == progressed) {
    master_.back().end_ns = end;
    return;
  }
  if (progressed && master_.size() >= 2 && master_.back().end_ns - master_.back().begin_ns < shortest_idle_span_ns) {
    master_.pop_back();  // the short idle spell joins the busy span before it
    master_.back().end_ns = end;
    return;
  }
  if (master_.size() >= most_events) {
    dropped_events_ = true;
    return;
  }
  master_.push_back({began, end, progressed});
}

std::string trace_recorder::task_of(std::uint64_t job) const {
  const auto it = jobs_.find(job);
  return it == jobs_.end() ? std::string("?") : it->second.task;
}

void trace_recorder::finish(const std::string& master_host, const std::vector<worker_name>& workers, clock::time_point now, std::FILE* out) {
  const std::int64_t end = since_start(now);
  master_turn(false, now);  // the last turn, up to the end
  if (!path_.empty()) write_trace(master_host, workers, end, out);
  print_summary(workers, end, out);
}

void trace_recorder::write_trace(const std::string& master_host, const std::vector<worker_name>& workers, std::int64_t end_ns, std::FILE* out) const {
  std::FILE* file = std::fopen(path_.c_str(), "w");
  if (!file) {
    std::fprintf(out, "mpipool: cannot write the trace to %s: %s\n", path_.c_str(), std::strerror(errno));
    return;
  }
  std::fputs("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n", file);
  std::fputs("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":0,\"args\":{\"name\":\"mpipool\"}}", file);
  auto name_track = [&](int track, const std::string& name) {
    std::fprintf(file, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":0,\"tid\":%d,\"args\":{\"name\":\"%s\"}}", track,
                 json_escaped(name).c_str());
    std::fprintf(file, ",\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":0,\"tid\":%d,\"args\":{\"sort_index\":%d}}",
                 track, track);
  };
  name_track(0, "master: rank 0 (" + master_host + ")");
  for (const worker_name& w : workers) name_track(track_of(w.rank), "rank " + std::to_string(w.rank) + " (" + w.host + ")");
  for (const master_span& span : master_)
    std::fprintf(file, ",\n{\"name\":\"%s\",\"cat\":\"master\",\"ph\":\"X\",\"pid\":0,\"tid\":0,\"ts\":%.3f,\"dur\":%.3f}",
                 span.busy ? "dispatch" : "idle", us(span.begin_ns), us(span.end_ns - span.begin_ns));
  for (const chunk_event& chunk : chunks_) {
    // Clocks of other nodes differ from the master's: a chunk is placed by the master's clock,
    // ending when its results arrived, and lasting as long as the worker measured by its own.
    // It therefore also shows the results' way back as time before the chunk.
    const auto found = jobs_.find(chunk.job);
    const std::string task = json_escaped(found == jobs_.end() ? "?" : found->second.task);
    const std::string method = found == jobs_.end() ? "?" : found->second.method;
    const auto run = static_cast<std::int64_t>(chunk.run_ns);
    std::fprintf(file,
                 ",\n{\"name\":\"%s\",\"cat\":\"chunk\",\"ph\":\"X\",\"pid\":0,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,"
                 "\"args\":{\"task\":\"%s\",\"method\":\"%s\",\"job\":%llu,\"items\":%u,\"first\":%llu,"
                 "\"bytes_out\":%llu,\"bytes_in\":%llu}}",
                 task.c_str(), track_of(chunk.rank), us(chunk.end_ns - run), us(run), task.c_str(), method.c_str(),
                 static_cast<unsigned long long>(chunk.job), chunk.items, static_cast<unsigned long long>(chunk.first),
                 static_cast<unsigned long long>(chunk.bytes_out), static_cast<unsigned long long>(chunk.bytes_in));
  }
  std::fprintf(file, "\n],\"otherData\":{\"duration_s\":%.6f,\"truncated\":%s}}\n", seconds(end_ns),
               dropped_events_ ? "true" : "false");
  const bool written = std::fclose(file) == 0;
  if (!written) std::fprintf(out, "mpipool: cannot write the trace to %s\n", path_.c_str());
  else
    std::fprintf(out, "mpipool: trace of %zu chunks written to %s%s\n", chunks_.size(), path_.c_str(),
                 dropped_events_ ? " (cut short: too many events)" : "");
}

void trace_recorder::print_summary(const std::vector<worker_name>& workers, std::int64_t end_ns, std::FILE* out) const {
  std::fprintf(out, "mpipool: load balance over %.3f s, %zu worker%s:\n", seconds(end_ns), workers.size(),
               workers.size() == 1 ? "" : "s");
  std::string slowest_host;
  for (const worker_name& w : workers) {
    const worker_totals& totals = workers_.at(static_cast<std::size_t>(w.rank));
    std::fprintf(out, "mpipool:   rank %d (%s): busy %.1f%%, %llu items, %llu chunks\n", w.rank, w.host.c_str(),
                 share(static_cast<std::int64_t>(totals.busy_ns), end_ns),
                 static_cast<unsigned long long>(totals.items), static_cast<unsigned long long>(totals.chunks));
    if (w.rank == slowest_.rank) slowest_host = w.host;
  }
  if (slowest_.rank >= 0)
    std::fprintf(out, "mpipool:   slowest chunk: task '%s' from item %llu, %.3f s on rank %d (%s)\n",
                 task_of(slowest_.job).c_str(), static_cast<unsigned long long>(slowest_.first),
                 seconds(static_cast<std::int64_t>(slowest_.run_ns)), slowest_.rank, slowest_host.c_str());
  std::fprintf(out, "mpipool:   master: busy %.1f%%\n", share(master_busy_ns_, end_ns));
  std::fflush(out);
}

}  // namespace mpipool::detail
