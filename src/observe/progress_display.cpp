#include "observe/progress_display.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string_view>

namespace mpipool::detail {

namespace {

// 3.1k, 12M: a rate at a glance.
std::string short_number(double value) {
  char text[32];
  if (value >= 1e9) std::snprintf(text, sizeof text, "%.1fG", value / 1e9);
  else if (value >= 1e6) std::snprintf(text, sizeof text, "%.1fM", value / 1e6);
  else if (value >= 1e3) std::snprintf(text, sizeof text, "%.1fk", value / 1e3);
  else if (value >= 10) std::snprintf(text, sizeof text, "%.0f", value);
  else std::snprintf(text, sizeof text, "%.1f", value);
  return text;
}

std::string duration_text(double seconds) {
  char text[32];
  const auto whole = static_cast<long long>(std::llround(seconds));
  if (seconds < 10) std::snprintf(text, sizeof text, "%.1f s", seconds);
  else if (whole < 120) std::snprintf(text, sizeof text, "%lld s", whole);
  else if (whole < 7200) std::snprintf(text, sizeof text, "%lld min %02lld s", whole / 60, whole % 60);
  else std::snprintf(text, sizeof text, "%lld h %02lld min", whole / 3600, whole / 60 % 60);
  return text;
}

constexpr int bar_width = 24;

}  // namespace

progress_display::progress_display(std::FILE* out, bool terminal, clock::duration interval)
    : out_(out),
      terminal_(terminal),
      interval_(terminal ? clock::duration(redraw_every) : interval),
      // A plain line comes after the first interval: a call shorter than that says nothing.
      last_shown_(terminal ? clock::time_point{} : clock::now()) {}

std::unique_ptr<progress_display> progress_display::from_settings(bool asked) {
  const char* env = std::getenv("MPIPOOL_PROGRESS");
  const bool on = asked || (env && *env && std::string_view(env) != "0");
  if (!on) return nullptr;
  double interval_s = 30;
  if (const char* interval = std::getenv("MPIPOOL_PROGRESS_INTERVAL"); interval && *interval) {
    char* end = nullptr;
    const double parsed = std::strtod(interval, &end);
    if (end != interval && parsed >= 0) interval_s = parsed;
  }
  const auto interval = std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(interval_s));
  // mpirun hands its ranks' stderr over through a pipe, even when it writes to a terminal
  // itself: MPIPOOL_PROGRESS=bar asks for the bars all the same, =lines for plain lines.
  const std::string_view mode = env ? env : "";
  const bool terminal = mode == "bar" || (mode != "lines" && isatty(STDERR_FILENO) == 1);
  return std::make_unique<progress_display>(stderr, terminal, interval);
}

void progress_display::job_started(std::uint64_t id, const job&, clock::time_point now) {
  shown_.emplace(id, shown_job{now});
}

void progress_display::job_finished(std::uint64_t id, const job& work, clock::time_point now) {
  const auto it = shown_.find(id);
  if (it == shown_.end()) return;
  const bool every_change = !terminal_ && interval_ == clock::duration::zero();
  if (!every_change && it->second.last_done == unshown) {  // too short to have been shown: quiet
    shown_.erase(it);
    return;
  }
  // A finished call's last line stays: on a terminal it is written above the bars, which are
  // drawn again at the next turn.
  erase_bars();
  if (terminal_) last_shown_ = {};
  std::fprintf(out_, "%s\n", line(work, work.progress(), it->second, now, true).c_str());
  std::fflush(out_);
  shown_.erase(it);
}

void progress_display::show(const std::unordered_map<std::uint64_t, std::unique_ptr<job>>& jobs,
                            clock::time_point now, const std::function<items_by_job()>& items_in_flight) {
  const bool every_change = !terminal_ && interval_ == clock::duration::zero();
  if (!every_change && now - last_shown_ < interval_) return;
  last_shown_ = now;
  std::erase_if(shown_, [&](const auto& entry) { return !jobs.contains(entry.first); });
  if (shown_.empty() && bars_drawn_ == 0) return;
  const items_by_job running = items_in_flight();
  std::string text;
  int bars = 0;
  for (auto& [id, shown] : shown_) {
    const job& work = *jobs.at(id);
    job::progress_report done = work.progress();
    // Items done within chunks count too: a long chunk would leave the count behind for long.
    if (const auto it = running.find(id); it != running.end())
      done.done = done.total ? std::min(done.done + it->second, *done.total) : done.done + it->second;
    if (every_change && done.done == shown.last_done) continue;
    shown.last_done = done.done;
    text += line(work, done, shown, now, false);
    text += terminal_ ? "\x1b[K\n" : "\n";
    ++bars;
  }
  if (text.empty() && bars_drawn_ == 0) return;
  if (terminal_) {
    // Back to the first bar, draw over, and clear what a shorter list left below.
    if (bars_drawn_ > 0) std::fprintf(out_, "\x1b[%dF", bars_drawn_);
    text += "\x1b[J";
    bars_drawn_ = bars;
  }
  std::fputs(text.c_str(), out_);
  std::fflush(out_);
}

void progress_display::erase_bars() {
  if (!terminal_ || bars_drawn_ == 0) return;
  std::fprintf(out_, "\x1b[%dF\x1b[J", bars_drawn_);
  bars_drawn_ = 0;
}

void progress_display::finish() {
  erase_bars();
  std::fflush(out_);
}

std::string progress_display::line(const job& work, const job::progress_report& done, const shown_job& shown,
                                   clock::time_point now, bool finished) const {
  const double elapsed = std::chrono::duration<double>(now - shown.began).count();
  const double rate = elapsed > 0 ? static_cast<double>(done.done) / elapsed : 0.0;
  std::string text = "mpipool: rank 0: ";
  text += work.method();
  text += " '";
  text += work.task().name;
  text += "': ";
  char part[160];
  if (done.total) {
    const std::uint64_t total = *done.total;
    const double fraction = total > 0 ? static_cast<double>(done.done) / static_cast<double>(total) : 1.0;
    if (terminal_) {
      const int filled = std::clamp(static_cast<int>(fraction * bar_width), 0, bar_width);
      text += '[';
      text.append(static_cast<std::size_t>(filled), '#');
      text.append(static_cast<std::size_t>(bar_width - filled), '.');
      text += "] ";
    }
    std::snprintf(part, sizeof part, "%llu/%llu items (%.1f%%)", static_cast<unsigned long long>(done.done),
                  static_cast<unsigned long long>(total), 100.0 * fraction);
  } else {
    std::snprintf(part, sizeof part, "%llu items done so far", static_cast<unsigned long long>(done.done));
  }
  text += part;
  text += ", " + short_number(rate) + " items/s";
  if (finished) {
    text += ", all done in " + duration_text(elapsed);
  } else if (done.total && rate > 0) {
    text += ", " + duration_text(static_cast<double>(*done.total - done.done) / rate) + " left";
  }
  return text;
}

}  // namespace mpipool::detail
