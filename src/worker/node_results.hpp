#pragma once
// A stocking sub-master's books of the node-chunks it cut (chunk_header::pieces), and their
// pieces' results on their way up. A worker's results of consecutive pieces of one node-chunk,
// each a run of fixed-size values of one size, go up put together as one section; any other
// piece's (a failure, a piece cut short, values of another kind) as they are. Each section says
// how many pieces it holds (results_header::more_parts), and the one that holds a node-chunk's
// last piece says 0, which closes the node-chunk on the master. So the master handles a section
// per handout of a worker, not per chunk.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <utility>

#include "mpipool/detail/protocol.hpp"

namespace mpipool::detail {

class node_results {
 public:
  // A section put together grows to at most this many bytes, as a bundle does
  // (dispatch_policy::bundle_bytes_most). Measured at 64 ranks on 2 cores in groups of 8,
  // chunks of 256 and 1024 ints: unbounded (a worker's 16 pieces, 16 and 64 KiB) the map ran at
  // 0.6-0.7x the chunks/s of pieces sent up apart, and at 1.0-1.1x bounded at 4 or 16 KiB. Why
  // larger sections cost so much there is not pinned down; smaller chunks, where putting
  // together pays, fit either way.
  static constexpr std::size_t most_bytes_together = eager_message_bytes;

  // `up`: appends one results section to what goes to the master.
  explicit node_results(std::function<void(std::span<const char>)> up) : up_(std::move(up)) {}

  // The node-chunk of `job` holding `items` was cut into `pieces` pieces.
  void cut(std::uint64_t job, item_range items, std::uint32_t pieces);
  // One chunk's results, stamped with the worker that ran it: taken (true) if of a piece of a
  // node-chunk, else left to the caller.
  bool take(std::span<const char> section);
  // Sends up the section being put together, if any: once a turn, so that none waits for the
  // next worker's results.
  void flush();

 private:
  using key = std::pair<std::uint64_t, std::uint64_t>;  // a node-chunk's job and first item
  struct node_chunk {
    std::uint32_t count = 0;        // its items
    std::uint32_t pieces_left = 0;  // whose results have not gone up yet
  };
  // The section being put together: consecutive pieces of one node-chunk that one worker ran,
  // or one piece's as it is.
  struct part {
    key node;
    std::uint32_t pieces = 0;  // 0: none
    std::int32_t worker = 0;
    int value_size = -1;  // of its values; -1: a section as it is
    item_range items;
    std::uint64_t run_ns = 0;     // the pieces' sum
    std::size_t outcomes_at = 0;  // where its outcomes start in `bytes`
    byte_buffer bytes;            // the section so far: header, host, the run's two bytes and values
  };

  // The node-chunk that holds item `first` of `job`, if any.
  std::map<key, node_chunk>::iterator node_of(std::uint64_t job, std::uint64_t first);

  std::function<void(std::span<const char>)> up_;
  std::map<key, node_chunk> nodes_;  // their pieces in stock, running, or being put together
  part part_;
};

}  // namespace mpipool::detail
