#include "mpipool/detail/outcomes.hpp"

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
