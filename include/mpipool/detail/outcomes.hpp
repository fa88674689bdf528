#pragma once
// How items are framed inside a chunk message (arguments) and a results message (outcomes),
// so that one item that cannot be (de)serialized fails alone: its reader skips to the next.
//
//   argument: size (u64) | the argument tuple
//             or, for a fixed-size tuple (is_fixed_bitwise_v), its bytes alone: the worker's
//             typed reader knows their size
//   outcome:  status (u8) | size (u64) | payload
//             or, for a fixed-size result of at most 255 bytes: fixed_success (u8) | size (u8) | value
//   or, in place of all of a chunk's outcomes when each is a fixed_success of one size (the
//   worker compacts them once the chunk is done, compact_fixed_outcomes):
//             fixed_run (u8) | size (u8) | the values, back to back, to the end of the message
//
// Sizes are 64-bit: one value may be larger than 4 GiB, as messages may be.
//
// A value of a bitwise type (mpipool/bitwise.hpp) is written as its raw bytes, with no archive.
// Any other value is written by the chunk's archive, made when the first such value comes, on
// both sides alike. A success's payload is the value (nothing for a task that returns nothing);
// a failure's is the exception's type name, a number (what a crash or a timeout adds)
// and the message, written raw. One archive serves many
// items, as before framing: it writes a class's version only the first time it meets the
// class. So when a value fails to serialize, its bytes are dropped along with the archive that
// may have noted that class as written, and the next archived value starts a fresh archive,
// flagged so that the reader starts one there too.

#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "mpipool/detail/archive.hpp"
#include "mpipool/detail/bitwise.hpp"
#include "mpipool/detail/protocol.hpp"

namespace mpipool::detail {

enum class outcome_status : std::uint8_t {
  success = 0,
  success_in_fresh_archive = 1,  // the value is the first that a new archive wrote
  failure = 2,
  // A fixed-size value of at most 255 bytes (most results: numbers, and small arrays, pairs and
  // tuples of them), after a one-byte size instead of an eight-byte one.
  fixed_success = 3,
  // Every outcome of the chunk is a fixed_success of one size: the values follow, back to back.
  fixed_run = 4,
};

// Rewrites the outcomes of a finished results message as one fixed_run when each is a
// fixed_success of one size (most chunks of numbers): two bytes less per item on the wire, and
// the master reads a chunk of numbers with one copy. Otherwise leaves them as they are.
void compact_fixed_outcomes(byte_buffer& message);

// The values of `outcomes` if they are one fixed_run of `count` values of `size` bytes each.
inline std::optional<std::span<const char>> whole_fixed_run(std::span<const char> outcomes, std::uint32_t count,
                                                            std::size_t size) {
  if (outcomes.size() != 2 + std::size_t{count} * size ||
      static_cast<std::uint8_t>(outcomes[0]) != static_cast<std::uint8_t>(outcome_status::fixed_run) ||
      static_cast<std::uint8_t>(outcomes[1]) != size)
    return std::nullopt;
  return outcomes.subspan(2);
}

// Whether a result of type R travels as a fixed_success.
template <class R>
constexpr bool travels_as_fixed_success() {
  if constexpr (is_fixed_bitwise_v<R>) return fixed_wire_size<R>() <= 255;  // not asked of void
  else return false;
}
template <class R>
inline constexpr bool is_small_fixed_v = travels_as_fixed_success<R>();

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

// Appends `value`'s size (u64) and raw bytes to `out`, after `prefix` bytes of room (for a
// status); returns where the room starts.
template <class T>
std::size_t append_bitwise_frame(byte_buffer& out, const T& value, std::size_t prefix = 0) {
  const std::size_t start = out.size();
  const std::uint64_t size = bitwise_wire_size(value);
  out.resize(start + prefix + sizeof size + size);
  std::memcpy(out.data() + start + prefix, &size, sizeof size);
  write_bitwise(out.data() + start + prefix + sizeof size, value);
  return start;
}

// Throws when a value was decoded from more or fewer bytes than were written for it: the
// reader misread it.
void check_decoded_size(std::size_t start, std::size_t size, std::size_t end);

// Reads a bitwise value from exactly the bytes of its frame.
template <class T>
void read_bitwise_frame(std::span<const char> frame, T& value) {
  bitwise_source source(frame);
  source.read(value);
  check_decoded_size(0, frame.size(), frame.size() - source.left());
}

// The master's side of a chunk's items.
class argument_writer {
 public:
  explicit argument_writer(byte_buffer& out) : out_(out) {}
  // A run of arguments. Fixed-size ones (is_fixed_bitwise_v) are their bytes alone, with no
  // size: the worker knows their size from their type, as both ends run the same task_model,
  // and nothing but that typed reader walks a chunk's items. (Outcomes keep a one-byte size,
  // fixed_success: a helper's outcomes are counted without their type.) They grow the buffer
  // once and are then copied in: grown one at a time, every item would store the vector's new
  // end, which the compiler must reload after each write through a char pointer (perf: most of
  // the master's time per item).
  template <class Args>
  void add_all(std::span<const Args> run) {
    if constexpr (is_fixed_bitwise_v<Args>) {
      const std::size_t start = out_.size();
      out_.resize(start + run.size() * fixed_wire_size<Args>());
      char* at = out_.data() + start;
      for (const Args& args : run) at = write_bitwise(at, args);
    } else {
      for (const Args& args : run) add(args);
    }
  }
  template <class Args>
  void add(const Args& args) {
    if constexpr (is_fixed_bitwise_v<Args>) {
      add_all(std::span<const Args>(&args, 1));
    } else if constexpr (is_bitwise_v<Args>) {
      append_bitwise_frame(out_, args);
    } else {
      size_slot size(out_);
      if (!archive_) archive_.emplace(out_);
      *archive_ << args;
      size.fill();
    }
  }

 private:
  byte_buffer& out_;
  std::optional<writer> archive_;  // made for the first archived item
};

// A worker's side of a chunk's items.
class argument_reader {
 public:
  explicit argument_reader(std::span<const char> items) : items_(items), frames_(items) {}
  // Reads the next item's arguments into `args`. When they fail to deserialize, returns why
  // and moves on to the next item.
  template <class Args>
  std::optional<item_error> next(Args& args) {
    if constexpr (is_fixed_bitwise_v<Args>) {  // exactly its bytes: nothing can be misread
      bitwise_source(frames_.take_bytes(fixed_wire_size<Args>())).read(args);
      return std::nullopt;
    }
    const auto size = frames_.take<std::uint64_t>();
    const std::size_t start = frames_.position();
    const std::span<const char> frame = frames_.take_bytes(size);
    try {
      if constexpr (is_bitwise_v<Args>) {
        read_bitwise_frame(frame, args);
      } else {
        if (!archive_) archive_.emplace(items_);  // where the writer made its own
        archive_->seek(start);
        *archive_ >> args;
        check_decoded_size(start, size, archive_->position());
      }
    } catch (...) {
      return describe(std::current_exception());
    }
    return std::nullopt;
  }
  // Moves on to the next item without decoding this one.
  template <class Args>
  void pass() {
    if constexpr (is_fixed_bitwise_v<Args>) frames_.take_bytes(fixed_wire_size<Args>());
    else frames_.take_bytes(frames_.take<std::uint64_t>());
  }

 private:
  std::span<const char> items_;
  frame_cursor frames_;
  std::optional<reader> archive_;
};

// A worker's side of a results message's outcomes.
class outcome_writer {
 public:
  explicit outcome_writer(byte_buffer& out) : out_(out) {}

  template <class R>
  void success(const R& value) {
    const std::size_t start = out_.size();
    try {
      if constexpr (is_small_fixed_v<R>) {
        // Grown once, then written through a pointer: each growth stores the vector's end anew.
        out_.resize(start + 2 + fixed_wire_size<R>());
        char* at = out_.data() + start;
        at[0] = static_cast<char>(outcome_status::fixed_success);
        at[1] = static_cast<char>(fixed_wire_size<R>());
        write_bitwise(at + 2, value);
      } else if constexpr (is_bitwise_v<R>) {
        out_[append_bitwise_frame(out_, value, 1)] = static_cast<char>(outcome_status::success);
      } else {
        out_.push_back(static_cast<char>(archive_ ? outcome_status::success : outcome_status::success_in_fresh_archive));
        size_slot size(out_);
        if (!archive_) archive_.emplace(out_);
        *archive_ << value;
        size.fill();
      }
    } catch (...) {
      if constexpr (!is_bitwise_v<R>) archive_.reset();
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

  // Moves to the next outcome. Throws on a malformed message. Inline: once per item.
  void next() {
    if (run_size_ == 0) {
      const auto status = frames_.take<std::uint8_t>();
      if (status > static_cast<std::uint8_t>(outcome_status::fixed_run)) unknown_status(status);
      status_ = static_cast<outcome_status>(status);
      if (status_ == outcome_status::fixed_run) {  // the rest are values of this size
        run_size_ = frames_.take<std::uint8_t>();
        if (run_size_ == 0) unknown_status(status);
        status_ = outcome_status::fixed_success;
      }
    }
    if (run_size_ != 0) {
      payload_start_ = frames_.position();
      payload_ = frames_.take_bytes(run_size_);
      return;
    }
    if (status_ == outcome_status::fixed_success) {  // a one-byte size
      const auto size = frames_.take<std::uint8_t>();
      payload_start_ = frames_.position();
      payload_ = frames_.take_bytes(size);
      return;
    }
    const auto size = frames_.take<std::uint64_t>();
    payload_start_ = frames_.position();
    payload_ = frames_.take_bytes(size);
    if (status_ == outcome_status::success_in_fresh_archive) archive_.emplace(outcomes_);
  }
  // When the next outcome is a fixed_success of a T, reads it into `value` and moves past it;
  // otherwise leaves it for next(). Most chunks come back as nothing else: one check each.
  template <class T>
  bool take_fixed_success(T& value) {
    constexpr std::size_t size = fixed_wire_size<T>();
    if (run_size_ == size) {
      bitwise_source(frames_.take_bytes(size)).read(value);
      return true;
    }
    const std::span<const char> rest = frames_.rest();
    if (run_size_ != 0 || rest.size() < 2 + size || static_cast<std::uint8_t>(rest[1]) != size) return false;
    const auto status = static_cast<std::uint8_t>(rest[0]);
    if (status == static_cast<std::uint8_t>(outcome_status::fixed_run)) {
      frames_.take_bytes(2);
      run_size_ = size;
      status_ = outcome_status::fixed_success;
    } else if (status == static_cast<std::uint8_t>(outcome_status::fixed_success)) {
      frames_.take_bytes(2);
    } else {
      return false;
    }
    bitwise_source(frames_.take_bytes(size)).read(value);
    return true;
  }
  bool succeeded() const { return status_ != outcome_status::failure; }
  // The current failure's error.
  item_error failure() const;
  // The current success's value; throws what deserializing it throws.
  template <class T>
  T value() {
    T v{};
    if constexpr (is_fixed_bitwise_v<T>) {
      // Inline, with no check after: once its size is right, nothing in it can be misread.
      if (payload_.size() != fixed_wire_size<T>()) check_decoded_size(0, payload_.size(), fixed_wire_size<T>());
      bitwise_source(payload_).read(v);
    } else if constexpr (is_bitwise_v<T>) {
      read_bitwise_frame(payload_, v);
    } else {
      if (!archive_) throw std::runtime_error("mpipool: protocol error: a value outside any archive");
      archive_->seek(payload_start_);
      *archive_ >> v;
      check_decoded_size(payload_start_, payload_.size(), archive_->position());
    }
    return v;
  }

 private:
  [[noreturn]] static void unknown_status(std::uint8_t status);

  std::span<const char> outcomes_;
  frame_cursor frames_;
  std::optional<reader> archive_;
  outcome_status status_ = outcome_status::failure;
  std::size_t run_size_ = 0;  // inside a fixed_run: the size of each of its values
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
    if constexpr (is_small_fixed_v<Value>) {
      Value value{};
      if (in.take_fixed_success(value)) {
        on_value(i, std::move(value));
        continue;
      }
    }
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
