#pragma once
// The job behind imap, imap_unordered and istarmap: reads its input lazily, on the progress
// thread, only while the window has room; delivers outcomes to a stream as they arrive.

#include <algorithm>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <ranges>
#include <span>
#include <unordered_map>
#include <utility>
#include <variant>

#include "mpipool/detail/job.hpp"
#include "mpipool/detail/stream_state.hpp"

namespace mpipool::detail {

// Model: the task model; Input: a view over the caller's input; MakeArgs: turns one input
// element into the task's argument tuple.
template <class Model, class Input, class MakeArgs>
class stream_job final : public job {
  using result_type = typename Model::result_type;
  using value_type = stored_t<result_type>;  // std::monostate for a task that returns nothing
  using args_type = typename Model::args_type;
  using entry = typename stream_state<value_type>::entry;

 public:
  // With a journal, the items it holds are delivered from it as the input reaches them, once
  // the journal's thread has read it; until then the job has no chunk to give.
  stream_job(task_definition task, Input input, std::size_t chunksize, std::size_t window,
             std::shared_ptr<stream_state<value_type>> state, std::unique_ptr<journal_call> journal = nullptr)
      : job(std::move(task)),
        input_(std::move(input)),
        chunksize_(chunksize),
        window_(std::max(window, chunksize)),
        state_(std::move(state)),
        journal_(std::move(journal)) {
    if (journal_) journal_->start();
  }
  ~stream_job() override { journal_.reset(); }

  bool exhausted() const override { return input_done_ || (ready() && journal_failed()); }
  bool takes_turns() const override { return true; }
  std::size_t chunks_left(std::size_t up_to) const override { return input_done_ ? 0 : up_to; }
  std::size_t fixed_argument_bytes() const override { return fixed_argument_bytes_of<args_type>(); }

  bool has_chunks(bool closing) override {
    if (input_done_ || !ready() || journal_failed()) return false;
    if (closing) return true;
    // Items handed out and not yet read by the consumer, in flight or waiting in the stream.
    const std::uint64_t outstanding = read_ - state_->consumed();
    if (outstanding + chunksize_ <= window_) return true;
    state_->mark_stalled();
    // The consumer may have read in between: look again, so that no poke is lost.
    return read_ - state_->consumed() + chunksize_ <= window_;
  }

  item_range next_chunk(byte_buffer& out) override {
    const std::uint64_t start = read_;
    std::uint64_t first = read_;  // of the items sent: after those taken from the journal
    argument_writer items(out);
    try {
      if (!position_) position_.emplace(std::ranges::begin(input_));
      auto& it = *position_;
      while (read_ - start < chunksize_ && it != std::ranges::end(input_)) {
        if (!journal_) {
          items.add(MakeArgs{}(*it));
        } else if (const journal_call::saved* saved = journal_->find(read_)) {
          if (read_ != first) break;  // a chunk's items are consecutive: this one waits for the next
          journal_->check_argument(*saved, argument_crc(MakeArgs{}(*it)));
          restore(read_, *saved);
          first = read_ + 1;
        } else {
          const args_type args = MakeArgs{}(*it);
          sent_crcs_.emplace(read_, argument_crc(args));
          items.add(args);
        }
        ++read_;
        ++it;
      }
      if (it == std::ranges::end(input_)) end_input(nullptr);
    } catch (...) {
      end_input(std::current_exception());  // raised at its position, after the items before it
    }
    if (journal_) close_when_done();
    return {first, static_cast<std::uint32_t>(read_ - first)};
  }

  void accept(item_range items, std::span<const char> outcomes, const worker_identity& from) override {
    auto failed = [&](std::uint32_t i, item_error failure) {
      const std::uint64_t index = items.first + i;
      if (journal_) sent_crcs_.erase(index);
      state_->deliver(index, {std::nullopt, item_failure(task().name, index, std::move(failure), from)});
    };
    if constexpr (std::is_void_v<result_type>) {
      decode_outcomes<void>(
          outcomes, items.count,
          [&](std::uint32_t i) {
            if (journal_) journal_->add(items.first + i, take_crc(items.first + i), [](byte_buffer&) {});
            state_->deliver(items.first + i, {std::monostate{}, nullptr});
          },
          failed);
    } else {
      decode_outcomes<result_type>(
          outcomes, items.count,
          [&](std::uint32_t i, result_type&& value) {
            const std::uint64_t index = items.first + i;
            if (journal_) journal_->add(index, take_crc(index), [&](byte_buffer& out) { encode_alone(out, value); });
            state_->deliver(index, {std::move(value), nullptr});
          },
          failed);
    }
    received_ += items.count;
    if (journal_) {
      journal_->write_added();  // throws the journal's failure, for the master to fail the call with
      close_when_done();
    }
  }

  // With a journal: once every item is back and the journal synced, or as soon as it fails.
  bool finished() const override {
    if (!journal_) return input_done_ && received_ == read_;
    return ready() && (journal_failed() || (input_done_ && received_ == read_ && journal_->synced()));
  }
  progress_report progress() const override {
    if (input_done_) return {received_, read_};
    if constexpr (std::ranges::sized_range<const Input>)
      return {received_, static_cast<std::uint64_t>(std::ranges::size(input_))};
    else
      return {received_, std::nullopt};
  }
  // Every outcome was delivered as it came. A journaled stream ends here, once its journal is
  // synced, so that the journal's failure reaches its reader.
  void publish() override {
    if (!journal_) return;
    if (std::exception_ptr failure = journal_->failure_for_call()) state_->fail(failure);
    else state_->end_input(read_, input_error_);
  }
  void abandon(const std::exception_ptr& why, bool) override {
    if (journal_) journal_->request_sync(false);  // SIGTERM's stop comes here: what arrived goes to disk
    state_->fail(why);
  }

  bool keeps_journal() const override { return journal_ && ready() && !journal_failed() && !journal_->closing(); }
  void journal_late(item_range items, std::span<const char> outcomes) override {
    if (!keeps_journal()) return;
    try {
      if constexpr (std::is_void_v<result_type>) {
        decode_outcomes<void>(
            outcomes, items.count,
            [&](std::uint32_t i) { journal_->add(items.first + i, take_crc(items.first + i), [](byte_buffer&) {}); },
            [&](std::uint32_t i, item_error) { sent_crcs_.erase(items.first + i); });
      } else {
        decode_outcomes<result_type>(
            outcomes, items.count,
            [&](std::uint32_t i, result_type&& value) {
              const std::uint64_t index = items.first + i;
              journal_->add(index, take_crc(index), [&](byte_buffer& out) { encode_alone(out, value); });
            },
            [&](std::uint32_t i, item_error) { sent_crcs_.erase(items.first + i); });
      }
      journal_->write_added();
    } catch (...) {  // the call failed already: a journal that failed says so on stderr as it goes
    }
  }
  void close_journal() override {
    if (journal_) journal_->request_sync(true);
  }
  bool journal_closed() const override { return !journal_ || (journal_->closing() && journal_->synced()); }

 private:
  bool ready() const { return !journal_ || journal_->loaded(); }
  bool journal_failed() const { return journal_ && journal_->failure() != nullptr; }
  void close_when_done() {
    if (input_done_ && received_ == read_) journal_->request_sync(true);
  }

  void restore(std::uint64_t index, const journal_call::saved& saved) {
    if constexpr (std::is_void_v<result_type>) state_->deliver(index, {std::monostate{}, nullptr});
    else state_->deliver(index, {journal_->template restore<result_type>(index, saved), nullptr});
    ++received_;
    journal_->count_restored(1);
  }
  std::uint32_t take_crc(std::uint64_t index) {
    auto node = sent_crcs_.extract(index);
    return node ? node.mapped() : 0;
  }

  // A journaled stream tells its reader in publish(), once its journal is synced.
  void end_input(std::exception_ptr error) {
    input_done_ = true;
    if (journal_) input_error_ = std::move(error);
    else state_->end_input(read_, std::move(error));
  }

  Input input_;
  std::optional<std::ranges::iterator_t<Input>> position_;
  const std::size_t chunksize_;
  const std::size_t window_;
  std::shared_ptr<stream_state<value_type>> state_;
  std::uint64_t read_ = 0;
  std::uint64_t received_ = 0;
  bool input_done_ = false;
  std::exception_ptr input_error_;  // journaled: the input's own exception, until publish()
  std::unique_ptr<journal_call> journal_;
  std::unordered_map<std::uint64_t, std::uint32_t> sent_crcs_;  // journaled calls: of the items in flight
};

}  // namespace mpipool::detail
