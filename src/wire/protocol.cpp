#include "mpipool/detail/protocol.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <stdexcept>
#include <typeinfo>

#include <cxxabi.h>

#include <boost/core/demangle.hpp>

namespace mpipool::detail {

namespace {

template <class T>
void append_raw(byte_buffer& out, const T* data, std::size_t count) {
  const std::size_t bytes = count * sizeof(T);
  if (bytes == 0) return;
  const std::size_t at = out.size();
  out.resize(at + bytes);
  std::memcpy(out.data() + at, data, bytes);
}

std::string_view as_string_view(std::span<const char> bytes) { return {bytes.data(), bytes.size()}; }

}  // namespace

void frame_cursor::truncated() { throw std::runtime_error("mpipool: truncated protocol message"); }

void begin_chunk(byte_buffer& out, const chunk_header& header, std::string_view key,
                 std::span<const char> state, std::span<const std::uint64_t> forget,
                 std::span<const int> group) {
  out.clear();
  append_chunk(out, header, key, state, forget, group);
}

void append_chunk(byte_buffer& out, const chunk_header& header, std::string_view key,
                  std::span<const char> state, std::span<const std::uint64_t> forget,
                  std::span<const int> group) {
  append_raw(out, &header, 1);
  append_raw(out, key.data(), key.size());
  append_raw(out, state.data(), state.size());
  append_raw(out, forget.data(), forget.size());
  append_raw(out, group.data(), group.size());
}

void set_chunk_items(byte_buffer& message, item_range items, std::size_t at) {
  chunk_header header;
  std::memcpy(&header, message.data() + at, sizeof header);
  header.items = items;
  std::memcpy(message.data() + at, &header, sizeof header);
}

void end_node_chunk(byte_buffer& message, std::size_t at, std::span<const std::uint32_t> piece_counts) {
  chunk_header header;
  std::memcpy(&header, message.data() + at, sizeof header);
  if (piece_counts.size() > most_node_chunk_pieces)
    throw std::logic_error("mpipool: a node-chunk of more pieces than its header can say");
  header.pieces = static_cast<std::uint16_t>(piece_counts.size());
  std::memcpy(message.data() + at, &header, sizeof header);
  append_raw(message, piece_counts.data(), piece_counts.size());
}

void set_chunks_per_worker(byte_buffer& message, std::uint32_t chunks) {
  chunk_header header;
  std::memcpy(&header, message.data(), sizeof header);
  header.chunks_per_worker = static_cast<std::uint16_t>(std::min<std::uint32_t>(chunks, 0xffff));
  std::memcpy(message.data(), &header, sizeof header);
}

chunk_view read_chunk(std::span<const char> message) {
  frame_cursor in(message);
  chunk_view view;
  view.header = in.take<chunk_header>();
  view.key = as_string_view(in.take_bytes(view.header.key_size));
  view.state = in.take_bytes(view.header.state_size);
  view.forget.reserve(view.header.forget_count);
  for (std::uint32_t i = 0; i < view.header.forget_count; ++i) view.forget.push_back(in.take<std::uint64_t>());
  view.group.reserve(view.header.group_size);
  for (std::uint32_t i = 0; i < view.header.group_size; ++i) view.group.push_back(in.take<int>());
  view.items = in.rest();
  if (view.header.pieces > 0) {
    const std::size_t list = std::size_t{view.header.pieces} * sizeof(std::uint32_t);
    if (list > view.items.size()) throw std::runtime_error("mpipool: truncated protocol message");
    view.piece_counts = view.items.last(list);
    view.items = view.items.first(view.items.size() - list);
  }
  return view;
}

void begin_results(byte_buffer& out, const results_header& header, std::string_view host) {
  out.clear();
  append_raw(out, &header, 1);
  append_raw(out, host.data(), host.size());
}

void set_results_count(byte_buffer& message, std::uint32_t count) {
  results_header header;
  std::memcpy(&header, message.data(), sizeof header);
  header.items.count = count;
  std::memcpy(message.data(), &header, sizeof header);
}

void set_results_run_time(byte_buffer& message, std::uint64_t run_ns) {
  results_header header;
  std::memcpy(&header, message.data(), sizeof header);
  header.run_ns = run_ns;
  std::memcpy(message.data(), &header, sizeof header);
}

void set_results_group_follower(byte_buffer& message) {
  results_header header;
  std::memcpy(&header, message.data(), sizeof header);
  header.group_follower = 1;
  std::memcpy(message.data(), &header, sizeof header);
}

void set_results_worker(std::span<char> message, std::size_t at, int worker_rank, bool more_parts) {
  results_header header;
  if (message.size() < at + sizeof header) throw std::runtime_error("mpipool: protocol error: a results section is cut short");
  std::memcpy(&header, message.data() + at, sizeof header);
  header.worker_rank = worker_rank;
  header.more_parts = more_parts ? 1 : 0;
  std::memcpy(message.data() + at, &header, sizeof header);
}

results_view read_results(std::span<const char> message) {
  frame_cursor in(message);
  results_view view;
  view.header = in.take<results_header>();
  view.host = as_string_view(in.take_bytes(view.header.host_size));
  view.outcomes = in.rest();
  return view;
}

void wrap_routed(byte_buffer& out, route_header route, std::span<const char> message) {
  out.clear();
  out.reserve(sizeof route + message.size());
  append_raw(out, &route, 1);
  append_raw(out, message.data(), message.size());
}

std::pair<route_header, std::span<const char>> unwrap_routed(std::span<const char> wrapped) {
  frame_cursor in(wrapped);
  const auto route = in.take<route_header>();
  return {route, in.rest()};
}

item_error describe(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const described_failure& e) {
    return e.failure();
  } catch (const std::exception& e) {
    return {boost::core::demangle(typeid(e).name()), e.what()};
  } catch (...) {
    const std::type_info* type = abi::__cxa_current_exception_type();
    return {type ? boost::core::demangle(type->name()) : "unknown exception", ""};
  }
}

}  // namespace mpipool::detail
