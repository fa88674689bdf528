#pragma once
// How items are framed inside a chunk message (arguments) and a results message (outcomes),
// so that one item that cannot be (de)serialized fails alone: its reader skips to the next.
//
//   argument: size (u64) | the argument tuple, written by the chunk's archive
//   outcome:  status (u8) | size (u64) | payload
//
// Sizes are 64-bit: one value may be larger than 4 GiB, as messages may be.
//
// A success's payload is the value, written by the chunk's archive (nothing for a task that
// returns nothing); a failure's is the exception's type name and message, written raw. One
// archive serves many items, as before framing: it writes a class's version only the first
// time it meets the class. So when a value fails to serialize, its bytes are dropped along with
// the archive that may have noted that class as written, and the next value starts a fresh
// archive, flagged so that the reader starts one there too.

#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "mpipool/detail/archive.hpp"
#include "mpipool/detail/protocol.hpp"

namespace mpipool::detail {

enum class outcome_status : std::uint8_t {
  success = 0,
  success_in_fresh_archive = 1,  // the value is the first that a new archive wrote
  failure = 2,
};

// Reserves a u64 size at the end of `out` and fills it in once the item after it is written.
class size_slot {
 public:
  explicit size_slot(byte_buffer& out) : out_(out), at_(out.size()) { out.resize(at_ + sizeof(std::uint64_t)); }
  void fill() {
    const std::uint64_t size = out_.size() - at_ - sizeof(std::uint64_t);
    std::memcpy(out_.data() + at_, &size, sizeof size);
  }

 private:
  byte_buffer& out_;
  std::size_t at_;
};

// The master's side of a chunk's items.
class argument_writer {
 public:
  explicit argument_writer(byte_buffer& out) : out_(out), archive_(out) {}
  template <class Args>
  void add(const Args& args) {
    size_slot size(out_);
    archive_ << args;
    size.fill();
  }

 private:
  byte_buffer& out_;
  writer archive_;
};

// Throws when a value was decoded from more or fewer bytes than were written for it: the
// reader misread it.
void check_decoded_size(std::size_t start, std::size_t size, std::size_t end);

// A worker's side of a chunk's items.
class argument_reader {
 public:
  explicit argument_reader(std::span<const char> items) : frames_(items), archive_(items) {}
  // Reads the next item's arguments into `args`. When they fail to deserialize, returns why
  // and moves on to the next item.
  template <class Args>
  std::optional<item_error> next(Args& args) {
    const auto size = frames_.take<std::uint64_t>();
    const std::size_t start = frames_.position();
    frames_.take_bytes(size);
    try {
      archive_.seek(start);
      archive_ >> args;
      check_decoded_size(start, size, archive_.position());
    } catch (...) {
      return describe(std::current_exception());
    }
    return std::nullopt;
  }

 private:
  frame_cursor frames_;
  reader archive_;
};

// A worker's side of a results message's outcomes.
class outcome_writer {
 public:
  explicit outcome_writer(byte_buffer& out) : out_(out) {}

  template <class R>
  void success(const R& value) {
    const std::size_t start = out_.size();
    try {
      out_.push_back(static_cast<char>(archive_ ? outcome_status::success : outcome_status::success_in_fresh_archive));
      size_slot size(out_);
      if (!archive_) archive_.emplace(out_);
      *archive_ << value;
      size.fill();
    } catch (...) {
      archive_.reset();
      out_.resize(start);
      failure(describe(std::current_exception()));
    }
  }
  // A task that returns nothing.
  void success();
  void failure(const item_error& error);

 private:
  byte_buffer& out_;
  std::optional<writer> archive_;
};

// The master's side of a results message's outcomes.
class outcome_reader {
 public:
  explicit outcome_reader(std::span<const char> outcomes) : outcomes_(outcomes), frames_(outcomes) {}

  // Moves to the next outcome. Throws on a malformed message.
  void next();
  bool succeeded() const { return status_ != outcome_status::failure; }
  // The current failure's error.
  item_error failure() const;
  // The current success's value; throws what deserializing it throws.
  template <class T>
  T value() {
    if (!archive_) throw std::runtime_error("mpipool: protocol error: a value outside any archive");
    archive_->seek(payload_start_);
    T v = archive_->read<T>();
    check_decoded_size(payload_start_, payload_.size(), archive_->position());
    return v;
  }

 private:
  std::span<const char> outcomes_;
  frame_cursor frames_;
  std::optional<reader> archive_;
  outcome_status status_ = outcome_status::failure;
  std::size_t payload_start_ = 0;
  std::span<const char> payload_;
};

// Decodes `count` outcomes: `on_value(i, value)` (`on_value(i)` when Value is void) for each
// success, and `on_failure(i, item_error)` for each failure, a value that fails to deserialize
// here included. The one decoder of every job's results.
template <class Value, class OnValue, class OnFailure>
void decode_outcomes(std::span<const char> outcomes, std::uint32_t count, OnValue&& on_value,
                     OnFailure&& on_failure) {
  outcome_reader in(outcomes);
  for (std::uint32_t i = 0; i < count; ++i) {
    in.next();
    if (!in.succeeded()) {
      on_failure(i, in.failure());
    } else if constexpr (std::is_void_v<Value>) {
      on_value(i);
    } else {
      std::optional<Value> value;
      try {
        value.emplace(in.template value<Value>());
      } catch (...) {
        on_failure(i, describe(std::current_exception()));
        continue;
      }
      on_value(i, std::move(*value));
    }
  }
}

}  // namespace mpipool::detail
