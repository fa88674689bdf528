#pragma once
// A job is one call of a pool method as the master's progress thread sees it: a source of
// chunks, and a sink for the outcomes that come back. Every method builds one.

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "mpipool/async_result.hpp"
#include "mpipool/detail/archive.hpp"
#include "mpipool/detail/job_items.hpp"
#include "mpipool/detail/journal_file.hpp"
#include "mpipool/detail/outcomes.hpp"
#include "mpipool/detail/protocol.hpp"
#include "mpipool/detail/scheduler.hpp"
#include "mpipool/detail/task_model.hpp"
#include "mpipool/errors.hpp"
#include "mpipool/options.hpp"

namespace mpipool::detail {

struct worker_identity {
  int rank = -1;
  std::string host;
};

class job {
 public:
  explicit job(task_definition task) : task_(std::move(task)) {}
  virtual ~job() = default;
  job(const job&) = delete;
  job& operator=(const job&) = delete;

  const task_definition& task() const { return task_; }
  // The pool method that made it ("map", "imap", ...), for what a stop says on stderr.
  const char* method() const { return method_; }
  void set_method(const char* name) { method_ = name; }

  // How far the call came: items whose outcome is back, of how many (none: a lazy input of
  // unknown length, still being read).
  struct progress_report {
    std::uint64_t done = 0;
    std::optional<std::uint64_t> total;
  };
  virtual progress_report progress() const = 0;

  // Source. exhausted(): it will never give another chunk. has_chunks(): it can give one now
  // (a stream holds back while its window is full, unless the pool is closing: then, as in
  // Python, join() waits for all submitted work, read or not). next_chunk() appends the next chunk's
  // items to `out`; it may find no items after all (a lazy input that ended or failed).
  virtual bool exhausted() const = 0;
  virtual bool has_chunks(bool closing) = 0;
  virtual item_range next_chunk(byte_buffer& out) = 0;
  // The bytes of one item on the wire when every item's arguments take the same (they travel as
  // their bytes alone, argument_writer), else 0: a stocking sub-master can then cut a chunk of
  // such items by count (chunk_header::pieces).
  virtual std::size_t fixed_argument_bytes() const { return 0; }
  // Whether the job goes to the back of the queue after each chunk (streams, which may be
  // unbounded) rather than keeping its place until its input is used up.
  virtual bool takes_turns() const { return false; }
  // How many chunks it has left, counted up to `up_to`; a job that cannot tell (a lazy input)
  // says `up_to` until its input is over.
  virtual std::size_t chunks_left(std::size_t up_to) const = 0;

  // Sink: the outcomes of `items`, as sent by `from`.
  virtual void accept(item_range items, std::span<const char> outcomes, const worker_identity& from) = 0;
  virtual bool finished() const = 0;
  // Runs the callbacks, then makes the result ready. Called once, when finished().
  virtual void publish() = 0;
  // Fails the result with `why`, an mpipool::error (the pool is terminating, or something
  // failed on the master). Without `run_callbacks`, no callback of the call runs: the body that
  // made them has returned.
  virtual void abandon(const std::exception_ptr& why, bool run_callbacks) = 0;

  // A journaled job that was abandoned or dropped while chunks of it were in flight still
  // journals what they bring back (a stop must not lose results that came back), then syncs and
  // closes its journal, all in the background. keeps_journal(): it has a journal that takes
  // records still. journal_late(): the outcomes of `items`, which came back after the job was
  // abandoned: the values go to the journal only. close_journal(): no chunk of it is in flight
  // any more. journal_closed(): the journal is synced and closed (or failed), so that the job
  // goes without waiting for its journal thread.
  virtual bool keeps_journal() const { return false; }
  virtual void journal_late(item_range /*items*/, std::span<const char> /*outcomes*/) {}
  virtual void close_journal() {}
  virtual bool journal_closed() const { return true; }

 private:
  task_definition task_;
  const char* method_ = "map";
};

// The error of item `index` of a call to `task`, as a worker reported it: a remote_error, or
// the subclass that the reported type names (worker_crashed, task_timeout), so that callers
// catch it by its own type. The one place where a reported failure becomes an exception.
std::exception_ptr item_failure(const std::string& task, std::uint64_t index, item_error failure,
                                const worker_identity& from);

// Runs a user callback on the progress thread; one that throws is reported and ignored.
void run_guarded(const char* which, const std::function<void()>& callback);

// What a call that collects every item returns: apply one value, map a vector in input order
// (nothing at all when the task returns nothing).
template <class Value, bool Single>
using collected_t = std::conditional_t<Single || std::is_void_v<Value>, Value, std::vector<Value>>;

// job::fixed_argument_bytes() of a job whose items are `Args`.
template <class Args>
constexpr std::size_t fixed_argument_bytes_of() {
  if constexpr (is_fixed_bitwise_v<Args>) return fixed_wire_size<Args>();
  else return 0;
}

// A job whose result is complete only when every item is: apply (Single) and map/starmap.
// The first error by index wins, once all items are back. `Items`: how it holds its items
// (job_items.hpp).
template <class Model, bool Single, class Items = owned_items<typename Model::args_type>>
class collect_job final : public job {
  using value_type = typename Model::result_type;
  using args_type = typename Model::args_type;
  using Result = collected_t<value_type, Single>;

 public:
  // With a journal, the journal's thread reads it, takes the results it holds and replaces
  // `plan` with one of the items it lacks (cut as `resume` says); until then the job has no
  // chunk to give.
  collect_job(task_definition task, Items items, run_plan plan,
              callbacks<Result> cb, std::shared_ptr<result_state<Result>> state,
              std::unique_ptr<journal_call> journal = nullptr, resume_settings resume = {})
      : job(std::move(task)),
        items_(std::move(items)),
        item_count_(items_.size()),
        plan_(std::move(plan)),
        callbacks_(std::move(cb)),
        state_(std::move(state)),
        journal_(std::move(journal)) {
    if constexpr (!std::is_void_v<value_type>) values_.resize(items_.size());
    if (journal_) journal_->start([this, resume] { restore_journaled(resume); });
  }
  // The journal's thread may be at work on the members: it goes first.
  ~collect_job() override { journal_.reset(); }

  bool exhausted() const override { return ready() && (journal_failed() || plan_.exhausted()); }
  bool has_chunks(bool) override { return ready() && !journal_failed() && !plan_.exhausted(); }
  std::size_t chunks_left(std::size_t up_to) const override { return ready() ? plan_.chunks_left(up_to) : 0; }
  std::size_t fixed_argument_bytes() const override { return fixed_argument_bytes_of<args_type>(); }

  item_range next_chunk(byte_buffer& out) override {
    auto [first, count] = plan_.take();
    argument_writer w(out);
    if (journal_) {
      for (std::size_t i = first; i < first + count; ++i) argument_crcs_[i] = argument_crc(items_[i]);
    }
    items_.write(w, first, count);
    items_.release(first, count);
    return {first, static_cast<std::uint32_t>(count)};
  }

  void accept(item_range items, std::span<const char> outcomes, const worker_identity& from) override {
    auto failed = [&](std::uint32_t i, item_error failure) {
      const std::uint64_t index = items.first + i;
      if (!first_error_ || first_error_index_ > index) {
        first_error_ = item_failure(task().name, index, std::move(failure), from);
        first_error_index_ = index;
      }
    };
    if constexpr (std::is_void_v<value_type>) {
      decode_outcomes<void>(
          outcomes, items.count,
          [&](std::uint32_t i) {
            if (journal_) journal_->add(items.first + i, argument_crcs_[items.first + i], [](byte_buffer&) {});
          },
          failed);
    } else {
      if constexpr (stored_in_place && std::is_arithmetic_v<value_type> && !std::is_same_v<value_type, bool> &&
                    fixed_wire_size<value_type>() == sizeof(value_type)) {
        // A chunk of numbers that all came back: one copy into the result, in input order.
        if (!journal_) {
          if (const auto values = whole_fixed_run(outcomes, items.count, sizeof(value_type))) {
            std::memcpy(values_.data() + items.first, values->data(), values->size());
            received_ += items.count;
            return;
          }
        }
      }
      decode_outcomes<value_type>(
          outcomes, items.count,
          [&](std::uint32_t i, value_type&& value) {
            const std::size_t index = items.first + i;
            if (journal_) journal_->add(index, argument_crcs_[index], [&](byte_buffer& out) { encode_alone(out, value); });
            store(index, std::move(value));
          },
          failed);
    }
    received_ += items.count;
    if (journal_) {
      journal_->write_added();  // throws the journal's failure, for the master to fail the call with
      if (received_ == item_count_) journal_->request_sync(true);
    }
  }

  // With a journal: once it is read, and, when every item is back, once it is synced (or as
  // soon as it fails).
  bool finished() const override {
    if (!journal_) return received_ == item_count_;
    return ready() && (journal_failed() || (received_ == item_count_ && journal_->synced()));
  }
  progress_report progress() const override { return {ready() ? received_ : 0, item_count_}; }

  void publish() override {
    if (journal_) {
      if (std::exception_ptr failure = journal_->failure_for_call()) {
        try {
          std::rethrow_exception(failure);
        } catch (const error& e) {
          fail(failure, e);
        }
        return;
      }
    }
    if (first_error_) {
      try {
        std::rethrow_exception(first_error_);
      } catch (const error& e) {
        fail(first_error_, e);
      }
      return;
    }
    stored_t<Result> result = collect();
    if (callbacks_.on_result) {
      run_guarded("result callback", [&] {
        if constexpr (std::is_void_v<Result>) callbacks_.on_result();
        else callbacks_.on_result(result);
      });
    }
    state_->set_value(std::move(result));
  }

  void abandon(const std::exception_ptr& why, bool run_callbacks) override {
    if (journal_) journal_->request_sync(false);  // SIGTERM's stop comes here: what arrived goes to disk
    if (!run_callbacks) {
      state_->set_exception(why, false);
      return;
    }
    try {
      std::rethrow_exception(why);
    } catch (const error& e) {
      fail(why, e);
    }
  }

 private:
  // map's values go straight into the vector it returns, when they can be made before they
  // arrive; otherwise (and for apply's one value) each waits in an optional until the end.
  static constexpr bool stored_in_place = !Single && std::is_default_constructible_v<stored_t<value_type>>;
  using value_slots = std::conditional_t<stored_in_place, std::vector<stored_t<value_type>>,
                                         std::vector<std::optional<stored_t<value_type>>>>;

  template <class V>
  void store(std::size_t index, V&& value) {
    if constexpr (stored_in_place) values_[index] = std::forward<V>(value);
    else values_[index].emplace(std::forward<V>(value));
  }

  bool ready() const { return !journal_ || journal_->loaded(); }
  bool journal_failed() const { return journal_ && journal_->failure() != nullptr; }

  bool keeps_journal() const override { return journal_ && ready() && !journal_failed() && !journal_->closing(); }
  void journal_late(item_range items, std::span<const char> outcomes) override {
    if (!keeps_journal()) return;
    try {
      if constexpr (std::is_void_v<value_type>) {
        decode_outcomes<void>(
            outcomes, items.count,
            [&](std::uint32_t i) { journal_->add(items.first + i, argument_crcs_[items.first + i], [](byte_buffer&) {}); },
            [](std::uint32_t, item_error) {});
      } else {
        decode_outcomes<value_type>(
            outcomes, items.count,
            [&](std::uint32_t i, value_type&& value) {
              const std::size_t index = items.first + i;
              journal_->add(index, argument_crcs_[index], [&](byte_buffer& out) { encode_alone(out, value); });
            },
            [](std::uint32_t, item_error) {});
      }
      journal_->write_added();
    } catch (...) {  // the call failed already: a journal that failed says so on stderr as it goes
    }
  }
  void close_journal() override {
    if (journal_) journal_->request_sync(true);
  }
  bool journal_closed() const override { return !journal_ || (journal_->closing() && journal_->synced()); }

  // On the journal's thread, once it has read the file: takes the journaled results, each
  // checked against its item's arguments, and plans the chunks of the others.
  void restore_journaled(const resume_settings& resume) {
    for (const journal_call::saved& saved : journal_->all_saved()) {
      journal_->check_argument(saved, argument_crc(items_[saved.index]));
      if constexpr (!std::is_void_v<value_type>) store(saved.index, journal_->restore<value_type>(saved.index, saved));
      items_.release(saved.index, 1);  // not sent: its result is in the journal
    }
    received_ = journal_->all_saved().size();
    journal_->count_restored(received_);
    plan_ = resume_plan(*journal_, item_count_, resume.chunksize, resume.workers);
    journal_->release_saved();
    argument_crcs_.resize(item_count_);
    if (received_ == item_count_) journal_->request_sync(true);
  }

  stored_t<Result> collect() {
    if constexpr (std::is_void_v<Result>) {
      return {};
    } else if constexpr (Single) {
      return std::move(*values_.front());
    } else if constexpr (stored_in_place) {
      return std::move(values_);
    } else {
      Result result;
      result.reserve(values_.size());
      for (auto& v : values_) result.push_back(std::move(*v));
      return result;
    }
  }

  void fail(const std::exception_ptr& why, const error& e) {
    if (callbacks_.on_error) run_guarded("error callback", [&] { callbacks_.on_error(e); });
    state_->set_exception(why);
  }

  Items items_;
  const std::size_t item_count_;
  run_plan plan_;
  callbacks<Result> callbacks_;
  std::shared_ptr<result_state<Result>> state_;
  std::unique_ptr<journal_call> journal_;
  std::vector<std::uint32_t> argument_crcs_;  // journaled calls: of the items sent, for their records
  value_slots values_;
  std::exception_ptr first_error_;  // a remote_error, or a subclass of it
  std::uint64_t first_error_index_ = 0;
  std::size_t received_ = 0;
};

}  // namespace mpipool::detail
