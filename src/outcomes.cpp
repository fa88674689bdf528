#include "mpipool/detail/outcomes.hpp"

#include <cstring>
#include <string>

namespace mpipool::detail {

void check_decoded_size(std::size_t start, std::size_t size, std::size_t end) {
  if (end != start + size)
    throw std::runtime_error("mpipool: a value of " + std::to_string(size) + " bytes was read as " +
                             std::to_string(end - start) + " bytes; do all ranks run the same program?");
}

void outcome_writer::success() {
  out_.push_back(static_cast<char>(outcome_status::success));
  size_slot(out_).fill();
}

void outcome_writer::failure(const item_error& error) {
  out_.push_back(static_cast<char>(outcome_status::failure));
  size_slot size(out_);
  const auto type_size = static_cast<std::uint32_t>(error.type_name.size());
  const char* type_size_bytes = reinterpret_cast<const char*>(&type_size);
  out_.insert(out_.end(), type_size_bytes, type_size_bytes + sizeof type_size);
  const char* code_bytes = reinterpret_cast<const char*>(&error.code);
  out_.insert(out_.end(), code_bytes, code_bytes + sizeof error.code);
  out_.insert(out_.end(), error.type_name.begin(), error.type_name.end());
  out_.insert(out_.end(), error.message.begin(), error.message.end());
  size.fill();
}

namespace {
// In place: each value moves down by two bytes per value before it, never past its own start,
// so reading it whole before writing it is enough.
template <std::size_t Size>
char* move_values_down(const char* start, const char* end, char* to) {
  for (const char* from = start + 2; from < end; from += Size + 2, to += Size) {
    char value[Size];
    std::memcpy(value, from, Size);
    std::memcpy(to, value, Size);
  }
  return to;
}
}  // namespace

void compact_fixed_outcomes(byte_buffer& message) {
  const results_view results = read_results(message);
  const std::uint32_t count = results.header.items.count;
  if (count < 2) return;  // nothing to gain
  char* const start = message.data() + (results.outcomes.data() - message.data());
  const char* const end = start + results.outcomes.size();
  const auto fixed = static_cast<char>(outcome_status::fixed_success);
  const char size = start[1];
  if (start[0] != fixed || size == 0) return;
  const auto step = static_cast<std::size_t>(static_cast<std::uint8_t>(size)) + 2;
  if (results.outcomes.size() != count * step) return;
  for (const char* at = start; at < end; at += step)
    if (at[0] != fixed || at[1] != size) return;
  start[0] = static_cast<char>(outcome_status::fixed_run);
  const std::size_t value_size = step - 2;
  char* to = start + 2;
  switch (value_size) {  // the common sizes with a size known to the compiler: a load and a store each
    case 4: to = move_values_down<4>(start, end, to); break;
    case 8: to = move_values_down<8>(start, end, to); break;
    default:
      for (const char* from = start + 2; from < end; from += step, to += value_size) std::memmove(to, from, value_size);
  }
  message.resize(static_cast<std::size_t>(to - message.data()));
}

void outcome_reader::unknown_status(std::uint8_t status) {
  throw std::runtime_error("mpipool: protocol error: unknown outcome status " + std::to_string(status));
}

item_error outcome_reader::failure() const {
  frame_cursor payload(payload_);
  const auto type_size = payload.take<std::uint32_t>();
  const auto code = payload.take<std::int64_t>();
  const auto type = payload.take_bytes(type_size);
  const auto message = payload_.subspan(payload.position());
  return {std::string(type.begin(), type.end()), std::string(message.begin(), message.end()), code};
}

}  // namespace mpipool::detail
